package authz

import (
	"context"
	"sync"
	"time"

	"github.com/telehub/telehub/smart"
)

// RevocationChecker answers whether a verified token was revoked since;
// *smart.Server implements it with one record lookup, much cheaper than
// verifying the token's signature again.
type RevocationChecker interface {
	Revoked(ctx context.Context, jti string) (bool, error)
}

// CachingVerifier remembers the tokens its Verifier accepted, so that the
// requests of one token pay the signature check once. A cached token is
// still checked for revocation at most every Recheck: through its
// Verifier's Revoked when it has one (one record lookup), or by verifying
// it again. Rejections are never cached.
type CachingVerifier struct {
	Verifier TokenVerifier
	// Recheck bounds how long a revocation may go unnoticed (2 s when zero).
	Recheck time.Duration
	// MaxEntries bounds the cache (10,000 when zero); when full, expired
	// entries go first, then arbitrary ones.
	MaxEntries int

	mu sync.Mutex
	// entries are keyed by the token itself: the map's hash of it costs
	// a tenth of a SHA-256 on every request, and the keys (under a kilobyte
	// each, at most MaxEntries) stay in memory only as long as the tokens
	// are cached.
	entries map[string]*cachedToken
}

type cachedToken struct {
	at      *smart.AccessToken
	checked time.Time
}

// VerifyAccessToken implements TokenVerifier.
func (v *CachingVerifier) VerifyAccessToken(ctx context.Context, token string) (*smart.AccessToken, error) {
	now := time.Now()
	recheck := v.Recheck
	if recheck <= 0 {
		recheck = 2 * time.Second
	}
	v.mu.Lock()
	e := v.entries[token]
	var checked time.Time
	if e != nil {
		checked = e.checked
	}
	v.mu.Unlock()
	if e != nil && now.Before(e.at.Expires) {
		if now.Sub(checked) < recheck {
			return e.at, nil
		}
		if rc, ok := v.Verifier.(RevocationChecker); ok {
			revoked, err := rc.Revoked(ctx, e.at.ID)
			if err != nil {
				return nil, err
			}
			if revoked {
				v.forget(token)
				return nil, smart.ErrInvalidToken
			}
			v.mu.Lock()
			e.checked = now
			v.mu.Unlock()
			return e.at, nil
		}
	}
	at, err := v.Verifier.VerifyAccessToken(ctx, token)
	if err != nil {
		v.forget(token)
		return nil, err
	}
	v.remember(token, &cachedToken{at: at, checked: now})
	return at, nil
}

func (v *CachingVerifier) forget(key string) {
	v.mu.Lock()
	delete(v.entries, key)
	v.mu.Unlock()
}

func (v *CachingVerifier) remember(key string, e *cachedToken) {
	max := v.MaxEntries
	if max <= 0 {
		max = 10000
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil {
		v.entries = map[string]*cachedToken{}
	}
	if len(v.entries) >= max {
		now := time.Now()
		for k, old := range v.entries {
			if !now.Before(old.at.Expires) {
				delete(v.entries, k)
			}
		}
		// Still full: drop arbitrary entries (map order) down to 90 %.
		for k := range v.entries {
			if len(v.entries) < max*9/10 {
				break
			}
			delete(v.entries, k)
		}
	}
	v.entries[key] = e
}

// Len is the number of tokens cached.
func (v *CachingVerifier) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.entries)
}

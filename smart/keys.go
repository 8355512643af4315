package smart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/telehub/telehub/store"
)

// signingAlgs are the algorithms TeleHub signs with: RS256 for id_tokens
// (OpenID Connect's mandatory algorithm), ES256, RS384 and ES384 for
// access tokens.
var signingAlgs = []jwa.SignatureAlgorithm{jwa.RS256, jwa.ES256, jwa.RS384, jwa.ES384}

// storedKey is a signing key as persisted.
type storedKey struct {
	Alg     string          `json:"alg"`
	Created time.Time       `json:"created"`
	JWK     json.RawMessage `json:"jwk"` // the private key
}

// KeyRing holds the server's signing keys. They are generated at first start
// and persisted as records, so that every node signs with and publishes the
// same keys; Rotate adds new keys while the old ones stay published until
// the tokens they signed have expired.
type KeyRing struct {
	recs records
	// retainFor is how long a rotated-out key stays published: the longest
	// lifetime of a token it signed.
	retainFor time.Duration

	mu          sync.Mutex
	loaded      time.Time
	keys        []loadedKey // newest first
	reloadEvery time.Duration
}

type loadedKey struct {
	kid     string
	alg     jwa.SignatureAlgorithm
	created time.Time
	private jwk.Key
	public  jwk.Key
}

// newKeyRing returns a key ring over rs; keys are loaded (and made) on
// first use.
func newKeyRing(rs store.Records, retainFor time.Duration) *KeyRing {
	return &KeyRing{recs: records{rs}, retainFor: retainFor, reloadEvery: time.Minute}
}

// signer returns the newest key for alg, making one if there is none.
func (k *KeyRing) signer(ctx context.Context, alg jwa.SignatureAlgorithm) (loadedKey, error) {
	keys, err := k.current(ctx, false)
	if err != nil {
		return loadedKey{}, err
	}
	for _, key := range keys {
		if key.alg == alg {
			return key, nil
		}
	}
	return loadedKey{}, fmt.Errorf("smart: no %s signing key", alg)
}

// publicKey returns the published key kid, reloading once when it is unknown
// (another node may have rotated).
func (k *KeyRing) publicKey(ctx context.Context, kid string) (loadedKey, error) {
	for _, reload := range []bool{false, true} {
		keys, err := k.current(ctx, reload)
		if err != nil {
			return loadedKey{}, err
		}
		if i := slices.IndexFunc(keys, func(l loadedKey) bool { return l.kid == kid }); i >= 0 {
			return keys[i], nil
		}
	}
	return loadedKey{}, fmt.Errorf("smart: unknown signing key %q", kid)
}

// PublicSet returns the JWKS: the public half of every published key.
func (k *KeyRing) PublicSet(ctx context.Context) (jwk.Set, error) {
	keys, err := k.current(ctx, false)
	if err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	for _, key := range keys {
		if err := set.AddKey(key.public); err != nil {
			return nil, fmt.Errorf("smart: jwks: %w", err)
		}
	}
	return set, nil
}

// Rotate makes a new key for every algorithm; the previous keys stop signing
// at once and stay published for the lifetime of their tokens.
func (k *KeyRing) Rotate(ctx context.Context) error {
	old, err := k.current(ctx, true)
	if err != nil {
		return err
	}
	for _, alg := range signingAlgs {
		if err := k.generate(ctx, alg); err != nil {
			return err
		}
	}
	retireAt := time.Now().Add(k.retainFor)
	for _, key := range old {
		if err := k.retire(ctx, key.kid, retireAt); err != nil {
			return err
		}
	}
	_, err = k.current(ctx, true)
	return err
}

// retire sets the expiry of key kid, after which it is no longer published.
func (k *KeyRing) retire(ctx context.Context, kid string, at time.Time) error {
	for {
		var sk storedKey
		rec, err := k.recs.get(ctx, kindKey, kid, &sk)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("smart: retire key %s: %w", kid, err)
		}
		if !rec.Expires.IsZero() && rec.Expires.Before(at) {
			return nil // already retiring sooner
		}
		err = k.recs.put(ctx, kindKey, kid, rec.Version+1, sk, at)
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return fmt.Errorf("smart: retire key %s: %w", kid, err)
			}
			return nil
		}
	}
}

// current returns the published keys, newest first, loading them from the
// store when the cache is stale (or reload is set), and making a key for
// every algorithm that has none.
func (k *KeyRing) current(ctx context.Context, reload bool) ([]loadedKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !reload && k.keys != nil && time.Since(k.loaded) < k.reloadEvery {
		return k.keys, nil
	}
	keys, err := k.load(ctx)
	if err != nil {
		return nil, err
	}
	made := false
	for _, alg := range signingAlgs {
		if !slices.ContainsFunc(keys, func(l loadedKey) bool { return l.alg == alg }) {
			if err := k.generate(ctx, alg); err != nil {
				return nil, err
			}
			made = true
		}
	}
	if made {
		if keys, err = k.load(ctx); err != nil {
			return nil, err
		}
	}
	k.keys, k.loaded = keys, time.Now()
	return keys, nil
}

func (k *KeyRing) load(ctx context.Context) ([]loadedKey, error) {
	var keys []loadedKey
	after := ""
	for {
		page, err := k.recs.rs.ListRecords(ctx, kindKey, after, 100)
		if err != nil {
			return nil, fmt.Errorf("smart: load keys: %w", err)
		}
		for _, rec := range page {
			key, err := decodeKey(rec)
			if err != nil {
				return nil, err
			}
			keys = append(keys, key)
		}
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].Key
	}
	slices.SortFunc(keys, func(a, b loadedKey) int { return b.created.Compare(a.created) })
	return keys, nil
}

func decodeKey(rec store.Record) (loadedKey, error) {
	var sk storedKey
	if err := json.Unmarshal(rec.Value, &sk); err != nil {
		return loadedKey{}, fmt.Errorf("smart: decode key %s: %w", rec.Key, err)
	}
	private, err := jwk.ParseKey(sk.JWK)
	if err != nil {
		return loadedKey{}, fmt.Errorf("smart: parse key %s: %w", rec.Key, err)
	}
	public, err := private.PublicKey()
	if err != nil {
		return loadedKey{}, fmt.Errorf("smart: public key %s: %w", rec.Key, err)
	}
	var alg jwa.SignatureAlgorithm
	if err := alg.Accept(sk.Alg); err != nil {
		return loadedKey{}, fmt.Errorf("smart: key %s: %w", rec.Key, err)
	}
	return loadedKey{kid: rec.Key, alg: alg, created: sk.Created, private: private, public: public}, nil
}

// generate makes and persists a new key for alg.
func (k *KeyRing) generate(ctx context.Context, alg jwa.SignatureAlgorithm) error {
	var raw any
	var err error
	switch alg {
	case jwa.ES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.ES384:
		raw, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return fmt.Errorf("smart: generate %s key: %w", alg, err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return fmt.Errorf("smart: generate %s key: %w", alg, err)
	}
	kid := randomToken(12)
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(name, v); err != nil {
			return fmt.Errorf("smart: generate %s key: %w", alg, err)
		}
	}
	b, err := json.Marshal(key)
	if err != nil {
		return fmt.Errorf("smart: encode %s key: %w", alg, err)
	}
	sk := storedKey{Alg: alg.String(), Created: time.Now().UTC(), JWK: b}
	if err := k.recs.put(ctx, kindKey, kid, 1, sk, time.Time{}); err != nil {
		return fmt.Errorf("smart: store %s key: %w", alg, err)
	}
	return nil
}

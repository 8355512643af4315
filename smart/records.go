package smart

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/telehub/telehub/store"
)

// Kinds of the records the authorization server keeps in store.Records.
const (
	kindKey     = "smart.key"     // signing keys, by kid
	kindClient  = "smart.client"  // OAuth clients, by client_id
	kindUser    = "smart.user"    // user accounts, by username
	kindAuthReq = "smart.authreq" // authorization requests in progress, by id
	kindCode    = "smart.code"    // authorization codes, by hash
	kindRefresh = "smart.refresh" // refresh tokens, by hash
	kindFamily  = "smart.family"  // refresh token families (one per grant), by id
	kindLaunch  = "smart.launch"  // EHR launch contexts, by launch id
	kindJTI     = "smart.jti"     // client assertion ids seen, by client and jti
	kindOTP     = "smart.otp"     // TOTP codes used, by user and code
	kindRevoked = "smart.revoked" // revoked access tokens, by jti
)

// records is a typed JSON view over store.Records.
type records struct{ rs store.Records }

// get decodes kind/key into v and returns the record (for its version and
// expiry).
func (r records) get(ctx context.Context, kind, key string, v any) (*store.Record, error) {
	rec, err := r.rs.GetRecord(ctx, kind, key)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return nil, fmt.Errorf("smart: decode %s record: %w", kind, err)
	}
	return rec, nil
}

// put writes v as version of kind/key (compare-and-set, see store.Records).
func (r records) put(ctx context.Context, kind, key string, version int64, v any, expires time.Time) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("smart: encode %s record: %w", kind, err)
	}
	return r.rs.PutRecord(ctx, store.Record{Kind: kind, Key: key, Version: version, Value: b, Expires: expires})
}

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics if the system cannot supply)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is the key a secret token is stored under: a leaked store does
// not leak live tokens, and tokens are long enough random strings that a
// plain hash is enough.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

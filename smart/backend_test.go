package smart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// backendKey is a backend service's key pair.
type backendKey struct {
	alg     jwa.SignatureAlgorithm
	private jwk.Key
}

func newBackendKey(t *testing.T, alg jwa.SignatureAlgorithm, kid string) backendKey {
	t.Helper()
	var raw any
	var err error
	if alg == jwa.ES384 {
		raw, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	} else {
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	key.Set(jwk.KeyIDKey, kid)
	key.Set(jwk.AlgorithmKey, alg)
	return backendKey{alg: alg, private: key}
}

func (k backendKey) publicSet(t *testing.T) []byte {
	t.Helper()
	pub, err := k.private.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	set.AddKey(pub)
	b, _ := json.Marshal(set)
	return b
}

// assertion builds a client assertion; change alters its claims.
func (k backendKey) assertion(t *testing.T, clientID, aud string, change func(*jwt.Builder) *jwt.Builder) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(clientID).Subject(clientID).Audience([]string{aud}).
		Expiration(time.Now().Add(4 * time.Minute)).JwtID(randomToken(12))
	if change != nil {
		b = change(b)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(k.alg, k.private))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// unsignedAssertion is an alg none token with valid claims.
func unsignedAssertion(clientID, aud string) string {
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": time.Now().Add(time.Minute).Unix(), "jti": randomToken(8)})
	return hdr + "." + enc.EncodeToString(claims) + "."
}

// TestBackendServices checks client_credentials with private_key_jwt:
// RS384 and ES384 assertions with keys by value and by URL, and every way an
// assertion must be refused.
func TestBackendServices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rsKey := newBackendKey(t, jwa.RS384, "rs-1")
	esKey := newBackendKey(t, jwa.ES384, "es-1")
	// The ES384 client publishes its keys at a URL.
	jwksServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(esKey.publicSet(t))
	}))
	defer jwksServer.Close()
	for _, nc := range []NewClient{
		{ID: "rs-backend", JWKS: rsKey.publicSet(t)},
		{ID: "es-backend", JWKSURI: jwksServer.URL + "/jwks.json"},
	} {
		nc.AuthMethod, nc.GrantTypes, nc.Scopes = AuthPrivateKeyJWT, []string{GrantClientCredentials}, []string{"system/*.rs", "system/Observation.cruds"}
		if _, _, err := e.srv.AddClient(ctx, nc); err != nil {
			t.Fatal(err)
		}
	}
	tokenURL := e.srv.TokenURL()
	request := func(assertion, scope string) (int, map[string]any) {
		return e.post("/auth/token", url.Values{
			"grant_type": {"client_credentials"}, "scope": {scope},
			"client_assertion_type": {assertionType}, "client_assertion": {assertion},
		}, "", "")
	}
	for _, c := range []struct {
		client string
		key    backendKey
	}{{"rs-backend", rsKey}, {"es-backend", esKey}} {
		t.Run(c.client, func(t *testing.T) {
			e.t = t
			status, tok := request(c.key.assertion(t, c.client, tokenURL, nil), "system/Patient.rs system/Observation.c")
			if status != http.StatusOK || tok["scope"] != "system/Patient.rs system/Observation.c" {
				t.Fatalf("token: %d %v", status, tok)
			}
			at, err := e.srv.VerifyAccessToken(ctx, tok["access_token"].(string))
			if err != nil || at.Subject != c.client || at.ClientID != c.client {
				t.Fatalf("access token %+v, %v", at, err)
			}
			if d := at.Grants().Allow(Create, "Observation", nil); !d.Unrestricted {
				t.Errorf("grants: %+v, want unrestricted create of Observation", d)
			}
			if _, ok := tok["refresh_token"]; ok {
				t.Errorf("client_credentials issued a refresh token")
			}

			replayed := c.key.assertion(t, c.client, tokenURL, nil)
			if status, _ := request(replayed, "system/Patient.rs"); status != http.StatusOK {
				t.Fatalf("first use: %d", status)
			}
			other := newBackendKey(t, c.key.alg, c.key.private.KeyID()) // same kid, another key
			hs := backendKey{alg: jwa.HS256}
			hs.private, _ = jwk.FromRaw([]byte("a shared secret of thirty-two bytes!"))
			refused := []struct {
				name      string
				assertion string
				scope     string
				want      string
			}{
				{"replayed jti", replayed, "system/Patient.rs", "invalid_client"},
				{"wrong aud", c.key.assertion(t, c.client, e.base+"/fhir", nil), "system/Patient.rs", "invalid_client"},
				{"expired", c.key.assertion(t, c.client, tokenURL, func(b *jwt.Builder) *jwt.Builder {
					return b.Expiration(time.Now().Add(-2 * time.Minute))
				}), "system/Patient.rs", "invalid_client"},
				{"exp more than 5 minutes ahead", c.key.assertion(t, c.client, tokenURL, func(b *jwt.Builder) *jwt.Builder {
					return b.Expiration(time.Now().Add(time.Hour))
				}), "system/Patient.rs", "invalid_client"},
				{"no jti", c.key.assertion(t, c.client, tokenURL, func(b *jwt.Builder) *jwt.Builder { return b.JwtID("") }), "system/Patient.rs", "invalid_client"},
				{"sub is not the client", c.key.assertion(t, c.client, tokenURL, func(b *jwt.Builder) *jwt.Builder { return b.Subject("someone") }), "system/Patient.rs", "invalid_client"},
				{"alg none", unsignedAssertion(c.client, tokenURL), "system/Patient.rs", "invalid_client"},
				{"bad signature", other.assertion(t, c.client, tokenURL, nil), "system/Patient.rs", "invalid_client"},
				{"tampered payload", tamper(c.key.assertion(t, c.client, tokenURL, nil)), "system/Patient.rs", "invalid_client"},
				{"HS256", hs.assertion(t, c.client, tokenURL, nil), "system/Patient.rs", "invalid_client"},
				{"unknown client", c.key.assertion(t, "nobody", tokenURL, nil), "system/Patient.rs", "invalid_client"},
				{"scope beyond the client's", c.key.assertion(t, c.client, tokenURL, nil), "system/Patient.cruds", "invalid_scope"},
				{"user scope", c.key.assertion(t, c.client, tokenURL, nil), "user/Patient.rs", "invalid_scope"},
			}
			for _, r := range refused {
				status, out := request(r.assertion, r.scope)
				wantStatus := http.StatusUnauthorized
				if r.want == "invalid_scope" {
					wantStatus = http.StatusBadRequest
				}
				if status != wantStatus || out["error"] != r.want {
					t.Errorf("%s: %d %v, want %d %s", r.name, status, out, wantStatus, r.want)
				}
			}
		})
	}

	t.Run("RS256 assertion refused", func(t *testing.T) {
		e.t = t
		k := newBackendKey(t, jwa.RS256, "rs256")
		if _, _, err := e.srv.AddClient(ctx, NewClient{ID: "rs256-backend", AuthMethod: AuthPrivateKeyJWT, JWKS: k.publicSet(t),
			GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"system/*.rs"}}); err != nil {
			t.Fatal(err)
		}
		if status, out := request(k.assertion(t, "rs256-backend", tokenURL, nil), "system/Patient.rs"); status != http.StatusUnauthorized {
			t.Errorf("RS256: %d %v, want 401", status, out)
		}
	})

	t.Run("secret client cannot send an assertion", func(t *testing.T) {
		e.t = t
		if _, _, err := e.srv.AddClient(ctx, NewClient{ID: "secret-backend", AuthMethod: AuthSecretBasic,
			GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"system/*.rs"}}); err != nil {
			t.Fatal(err)
		}
		if status, out := request(rsKey.assertion(t, "secret-backend", tokenURL, nil), "system/Patient.rs"); status != http.StatusUnauthorized {
			t.Errorf("assertion for a secret client: %d %v, want 401", status, out)
		}
	})
}

// tamper changes the payload of a signed JWT, keeping its signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	claims["jti"] = "changed"
	payload, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

package smart

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/telehub/telehub/store/sqlite"
)

func BenchmarkParseScopes(b *testing.B) {
	const list = "launch/patient openid fhirUser offline_access patient/Observation.rs?category=laboratory patient/Condition.read user/*.cruds"
	for b.Loop() {
		if _, err := ParseScopes(list); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGrantsAllow(b *testing.B) {
	scopes, err := ParseScopes("patient/Observation.rs?category=laboratory patient/Condition.rs patient/Patient.r user/Practitioner.rs")
	if err != nil {
		b.Fatal(err)
	}
	g := Grants{Scopes: scopes, Patient: "123"}
	params := url.Values{"code": {"1234-5"}}
	for b.Loop() {
		if d := g.Allow(Search, "Observation", params); !d.Allowed {
			b.Fatal("denied")
		}
	}
}

// BenchmarkVerifyAccessToken is the cost the FHIR layer pays per request:
// signature, claims, and the revocation lookup in the store.
func BenchmarkVerifyAccessToken(b *testing.B) {
	for _, alg := range []string{"ES256", "ES384", "RS384"} {
		b.Run(alg, func(b *testing.B) {
			e := newEnvB(b, func(c *Config) { c.AccessTokenAlg = alg })
			tok, _, err := e.srv.signAccessToken(context.Background(), grant{ClientID: "c", Scope: "system/*.rs"})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := e.srv.VerifyAccessToken(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignAccessToken(b *testing.B) {
	for _, alg := range []string{"ES256", "ES384", "RS384"} {
		b.Run(alg, func(b *testing.B) {
			e := newEnvB(b, func(c *Config) { c.AccessTokenAlg = alg })
			g := grant{ClientID: "c", Scope: "system/*.rs"}
			for b.Loop() {
				if _, _, err := e.srv.signAccessToken(context.Background(), g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPasswordHash(b *testing.B) {
	h := hashPassword("correct horse battery")
	for b.Loop() {
		if !checkPassword(h, "correct horse battery") {
			b.Fatal("mismatch")
		}
	}
}

// benchEnv is a Server on a real SQLite store, without HTTP.
type benchEnv struct{ srv *Server }

func newEnvB(b *testing.B, mutate func(*Config)) benchEnv {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "telehub.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := Config{BaseURL: "https://telehub.example", Records: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mutate(&cfg)
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return benchEnv{srv: srv}
}

package security

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir"
)

// BenchmarkRead reads one Observation over HTTP with a backend token
// (unrestricted: the token check alone, cached after the first request)
// and with Alice's patient token (plus the compartment check, one more
// store search), without and with the audit trail (one chained AuditEvent
// committed per read, before the answer).
func BenchmarkRead(b *testing.B) {
	b.Run("open", func(b *testing.B) {
		// The same store served with no Auth: the baseline.
		f := newFixtureWith(b, false)
		api, err := fhir.New(fhir.Options{Store: f.st, BaseURL: f.url + "/fhir"})
		if err != nil {
			b.Fatal(err)
		}
		e := echo.New()
		api.Mount(e)
		srv := httptest.NewServer(e)
		defer srv.Close()
		for b.Loop() {
			res, err := srv.Client().Get(srv.URL + "/fhir/Observation/alice-lab")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("read: %d", res.StatusCode)
			}
		}
	})
	for _, audited := range []bool{false, true} {
		f := newFixtureWith(b, audited)
		tokens := map[string]string{
			"system":  "Bearer " + f.backendToken("system/*.rs"),
			"patient": "Bearer " + f.aliceTokens("openid fhirUser launch/patient patient/*.rs")["access_token"].(string),
		}
		suffix := ""
		if audited {
			suffix = "-audited"
		}
		for _, name := range []string{"system", "patient"} {
			b.Run(name+suffix, func(b *testing.B) {
				for b.Loop() {
					if a := f.do(http.MethodGet, "/Observation/alice-lab", tokens[name], "", nil); a.status != http.StatusOK {
						b.Fatalf("read: %d %s", a.status, a.body)
					}
				}
			})
		}
	}
}

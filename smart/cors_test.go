package smart

import (
	"net/http"
	"testing"
)

// TestCORS: the endpoints a browser app fetches answer cross-origin
// requests and preflights; the login and consent pages do not.
func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{http.MethodGet, "/fhir/.well-known/smart-configuration", true},
		{http.MethodGet, "/.well-known/openid-configuration", true},
		{http.MethodGet, "/.well-known/jwks.json", true},
		{http.MethodOptions, "/auth/token", true},
		{http.MethodPost, "/auth/token", true},
		{http.MethodOptions, "/auth/userinfo", true},
		{http.MethodGet, "/auth/userinfo", true},
		{http.MethodOptions, "/auth/revoke", true},
		{http.MethodOptions, "/auth/introspect", true},
		{http.MethodGet, "/auth/authorize", false},
	} {
		req, _ := http.NewRequest(tc.method, e.base+tc.path, nil)
		req.Header.Set("Origin", "http://app.example")
		if tc.method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin") == "*"
		if got != tc.want {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q, want CORS %v", tc.method, tc.path, resp.Header.Get("Access-Control-Allow-Origin"), tc.want)
		}
		if tc.method == http.MethodOptions && (resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Headers") == "") {
			t.Errorf("preflight %s: %s, headers %v", tc.path, resp.Status, resp.Header)
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s %s allows credentials", tc.method, tc.path)
		}
	}
}

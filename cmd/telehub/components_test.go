package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestServeWiresEveryComponent checks that `telehub serve` serves the
// DICOMweb endpoint, the signaling relay, the Subscriptions websocket and
// the web app, all behind the same tokens, and advertises them.
func TestServeWiresEveryComponent(t *testing.T) {
	t.Parallel()
	p := startWithBootstrap(t,
		"--data", t.TempDir(), "--demo=false", "--turn", "turn:turn.example:3478", "--turn-secret", "coturn-secret")
	root := serverURL(p.srv.baseURL)
	get := func(path, bearer string) (int, string, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, root+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		req.Header.Set("Accept", "application/dicom+json, application/json, text/html")
		res, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), body
	}

	for _, path := range []string{"/dicom-web/studies", "/signaling/turn"} {
		if status, _, _ := get(path, ""); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, status)
		}
	}
	bearer := p.backendToken("system/ImagingStudy.rs system/Encounter.rs")
	if status, ctype, body := get("/dicom-web/studies", bearer); status != http.StatusOK && status != http.StatusNoContent {
		t.Errorf("QIDO with a token: %d %s %s", status, ctype, body)
	}

	if status, ctype, body := get("/app/", ""); status != http.StatusOK || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(string(body), "<html") {
		t.Errorf("web app: %d %s", status, ctype)
	}
	// The web app can sign in: its client is registered with its own page as redirect.
	if status, _, body := get("/auth/authorize?"+url.Values{
		"response_type": {"code"}, "client_id": {"telehub-web"}, "redirect_uri": {root + "/app/"},
		"scope": {"openid fhirUser"}, "state": {"s"}, "aud": {p.srv.baseURL},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}.Encode(), ""); status != http.StatusOK || !strings.Contains(string(body), `name="username"`) {
		t.Errorf("web app's authorization request: %d, no login page", status)
	}

	_, _, body := get("/fhir/metadata", "")
	var cs struct {
		Rest []struct {
			Extension []struct{ URL, ValueURI string }
			Security  *struct{ Extension []struct{ URL string } }
		}
	}
	if err := json.Unmarshal(body, &cs); err != nil || len(cs.Rest) != 1 {
		t.Fatalf("metadata: %v %s", err, body)
	}
	if rest := cs.Rest[0]; rest.Security == nil || len(rest.Extension) != 1 ||
		!strings.HasSuffix(rest.Extension[0].ValueURI, "/subscriptions/websocket") || !strings.HasPrefix(rest.Extension[0].ValueURI, "ws://") {
		t.Errorf("CapabilityStatement lacks the security section or the websocket URL: %+v", rest)
	}
}

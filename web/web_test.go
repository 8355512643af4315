package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestServesTheApp(t *testing.T) {
	e := echo.New()
	Mount(e)
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, wantType, wantBody string
		status                   int
	}{
		{"/app/", "text/html", `<script type="module" src="js/main.js">`, http.StatusOK},
		{"/app/app.css", "text/css", "@media", http.StatusOK},
		{"/app/js/main.js", "javascript", "enterRoom", http.StatusOK},
		{"/app/js/auth.js", "javascript", "code_challenge_method: 'S256'", http.StatusOK},
		{"/app/js/room.js", "javascript", "RTCPeerConnection", http.StatusOK},
		{"/app/js/nope.js", "", "", http.StatusNotFound},
		{"/app", "", "", http.StatusMovedPermanently},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, err := client.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body := new(strings.Builder)
			_, _ = io.Copy(body, res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, tc.wantType) {
				t.Errorf("Content-Type %q, want %s", ct, tc.wantType)
			}
			if !strings.Contains(body.String(), tc.wantBody) {
				t.Errorf("body lacks %q", tc.wantBody)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

// TestScopesMatchTheApp: the scopes to register are those the app asks for.
func TestScopesMatchTheApp(t *testing.T) {
	src, err := static.ReadFile("static/js/auth.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Scopes {
		if !strings.Contains(string(src), " "+s) && !strings.Contains(string(src), "'"+s) {
			t.Errorf("scope %q is registered but the app never asks for it", s)
		}
	}
}

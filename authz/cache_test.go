package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store/sqlite"
)

const (
	clientID = "backend"
	secret   = "backend-secret-0123456789"
)

// authServer is a real authorization server on a loopback port, with a
// backend client.
func authServer(tb testing.TB) (*smart.Server, string) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "auth.db"))
	if err != nil {
		tb.Fatal(err)
	}
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	tb.Cleanup(func() { srv.Close(); st.Close() })
	auth, err := smart.New(smart.Config{BaseURL: srv.URL, Records: st})
	if err != nil {
		tb.Fatal(err)
	}
	e := echo.New()
	auth.Mount(e)
	handler = e
	if err := auth.EnsureBootstrapClient(context.Background(), clientID+":"+secret); err != nil {
		tb.Fatal(err)
	}
	return auth, srv.URL
}

// post sends a form to the authorization server as the backend client.
func post(tb testing.TB, root, path string, form url.Values) map[string]any {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, root+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("POST %s: %d %v", path, res.StatusCode, out)
	}
	return out
}

func TestCachingVerifierHonoursRevocation(t *testing.T) {
	auth, root := authServer(t)
	token := post(t, root, "/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}})["access_token"].(string)
	v := &authz.CachingVerifier{Verifier: auth, Recheck: 50 * time.Millisecond}
	ctx := context.Background()
	first, err := v.VerifyAccessToken(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.VerifyAccessToken(ctx, token)
	if err != nil || again != first {
		t.Fatalf("second verification: %v, %p vs %p (want the cached token)", err, again, first)
	}
	if _, err := v.VerifyAccessToken(ctx, token+"x"); !errors.Is(err, smart.ErrInvalidToken) {
		t.Errorf("an altered token: %v, want ErrInvalidToken", err)
	}
	post(t, root, "/auth/revoke", url.Values{"token": {token}})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.VerifyAccessToken(ctx, token)
		if errors.Is(err, smart.ErrInvalidToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token is still accepted: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCachingVerifierBounded(t *testing.T) {
	auth, root := authServer(t)
	v := &authz.CachingVerifier{Verifier: auth, MaxEntries: 3}
	var tokens []string
	for range 5 {
		tokens = append(tokens, post(t, root, "/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}})["access_token"].(string))
	}
	for _, tok := range tokens {
		if _, err := v.VerifyAccessToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.Len(); n > 3 {
		t.Errorf("%d entries cached, bound 3", n)
	}
}

// BenchmarkVerify compares a full verification (signature, claims,
// revocation record) with a cached one.
func BenchmarkVerify(b *testing.B) {
	auth, root := authServer(b)
	token := post(b, root, "/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}})["access_token"].(string)
	ctx := context.Background()
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			if _, err := auth.VerifyAccessToken(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		v := &authz.CachingVerifier{Verifier: auth}
		for b.Loop() {
			if _, err := v.VerifyAccessToken(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

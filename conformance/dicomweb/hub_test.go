package dicomweb

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/dicomweb"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

// hub is a TeleHub serving DICOMweb, FHIR and its authorization server on
// a loopback port, over SQLite files and an audit trail in a temporary
// folder, with real tokens: the DICOMweb API refuses requests without one.
type hub struct {
	base     string // http://127.0.0.1:PORT
	dicomweb string // base + "/dicom-web"
	api      *fhir.Server
	token    string // a system/*.cruds access token of a backend client
	e        *echo.Echo
}

// startHub starts a hub; mount adds routes of the test's own (a page for
// the browser) before it serves.
func startHub(t testing.TB, mount ...func(*echo.Echo)) *hub {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := sqlite.Open(ctx, filepath.Join(dir, "dicom.db"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hub{base: "http://" + l.Addr().String()}
	h.dicomweb = h.base + "/dicom-web"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Tokens outlive a full benchmark run.
	auth, err := smart.New(smart.Config{BaseURL: h.base, Records: st, Logger: logger, AccessTokenTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	authn := &authz.Authenticator{Verifier: auth, Realm: "telehub", Logger: logger}
	// Audited as telehub serve audits: into a trail beside the store, its
	// syncs deferred as the server defers them.
	trail, err := audit.OpenTrail(filepath.Join(dir, "audit-trail"), audit.TrailOptions{SyncInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	data, err := audit.WithTrail(ctx, st, trail)
	if err != nil {
		t.Fatal(err)
	}
	data = store.WithPieces(data, idx)
	rec, err := audit.NewRecorder(data, audit.Options{Trail: trail, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if h.api, err = fhir.New(fhir.Options{Store: data, BaseURL: h.base + "/fhir", Logger: logger, Auth: authn, Audit: rec}); err != nil {
		t.Fatal(err)
	}
	blobs, err := dicomweb.NewDirBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	dw, err := dicomweb.New(dicomweb.Options{Index: idx, Blobs: blobs, FHIR: h.api, BaseURL: h.dicomweb,
		Auth: authn, Audit: rec, TempDir: dir, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	h.e = echo.New()
	h.e.HideBanner, h.e.HidePort = true, true
	h.api.Mount(h.e)
	auth.Mount(h.e)
	dw.Mount(h.e)
	for _, m := range mount {
		m(h.e)
	}
	srv := &http.Server{Handler: h.e, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		rec.Close()
		trail.Close()
		idx.Close()
		data.Close()
	})
	const secret = "a long secret of the PACS peer client"
	if _, _, err := auth.AddClient(ctx, smart.NewClient{ID: "pacs", Name: "PACS peer", AuthMethod: smart.AuthSecretBasic,
		Secret: secret, Scopes: []string{"system/*.cruds"}, GrantTypes: []string{smart.GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	h.token = h.clientToken(t, "pacs", secret, "system/*.cruds")
	return h
}

// clientToken gets an access token with the client_credentials grant.
func (h *hub) clientToken(t testing.TB, id, secret, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, h.base+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %s: %s (%v)", resp.Status, b, err)
	}
	return tok.AccessToken
}

// get sends a DICOMweb GET to the hub with its token and returns the body.
func (h *hub) get(t testing.TB, path, accept string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.dicomweb+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// qido runs a search on the hub and returns the matches' attributes.
func (h *hub) qido(t testing.TB, path string) []map[string]dicomAttr {
	t.Helper()
	status, _, b := h.get(t, path, "application/dicom+json")
	if status == http.StatusNoContent {
		return nil
	}
	if status != http.StatusOK {
		t.Fatalf("QIDO %s: %d %s", path, status, b)
	}
	var out []map[string]dicomAttr
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("QIDO %s: %v: %s", path, err, b)
	}
	return out
}

package fhir

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/telehub/telehub/store/sqlite"
)

func newLocalServer(t *testing.T) *Server {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fhir.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := New(Options{Store: st, BaseURL: testBase, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestLocalAPI(t *testing.T) {
	ctx := context.Background()
	srv := newLocalServer(t)
	patient := []byte(`{"resourceType":"Patient","identifier":[{"system":"urn:x","value":"1"}],"active":true}`)

	res, created, err := srv.Create(ctx, "Patient", patient, "identifier=urn:x|1")
	if err != nil || !created || res.VersionID != 1 {
		t.Fatalf("create: %v created=%v res=%+v", err, created, res)
	}
	again, created, err := srv.Create(ctx, "Patient", patient, "identifier=urn:x|1")
	if err != nil || created || again.ID != res.ID {
		t.Fatalf("conditional create: %v created=%v id=%s want %s", err, created, again.ID, res.ID)
	}

	updated, err := srv.Update(ctx, "Patient", res.ID, []byte(`{"resourceType":"Patient","id":"`+res.ID+`","active":false}`), 1)
	if err != nil || updated.VersionID != 2 {
		t.Fatalf("update: %v %+v", err, updated)
	}
	if _, err := srv.Update(ctx, "Patient", res.ID, []byte(`{"resourceType":"Patient","id":"`+res.ID+`"}`), 1); StatusOf(err) != http.StatusPreconditionFailed {
		t.Fatalf("stale update: status %d (%v), want 412", StatusOf(err), err)
	}
	patched, err := srv.Patch(ctx, "Patient", res.ID, []byte(`[{"op":"replace","path":"/active","value":true}]`), 0)
	if err != nil || patched.VersionID != 3 {
		t.Fatalf("patch: %v %+v", err, patched)
	}
	if _, _, err := srv.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","bogus":1}`), ""); StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("invalid create: status %d (%v), want 400", StatusOf(err), err)
	}

	read, err := srv.Read(ctx, "Patient", res.ID)
	if err != nil || read.VersionID != 3 {
		t.Fatalf("read: %v %+v", err, read)
	}
	if _, err := srv.Read(ctx, "Patient", "nope"); StatusOf(err) != http.StatusNotFound {
		t.Fatalf("read absent: status %d, want 404", StatusOf(err))
	}
	found, err := srv.Find(ctx, "Patient", url.Values{"active": {"true"}}, 10)
	if err != nil || len(found) != 1 || found[0].ID != res.ID {
		t.Fatalf("find: %v %d", err, len(found))
	}
	if _, err := srv.Find(ctx, "Patient", url.Values{"no-such-param": {"x"}}, 10); StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("find with unknown parameter: status %d, want 400", StatusOf(err))
	}
}

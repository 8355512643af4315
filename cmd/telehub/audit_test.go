package main

import (
	"context"
	binaryenc "encoding/binary"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store/sqlite"
)

// TestAuditChainOnTheServer records a server's audit trail through its API,
// verifies it with $verify-audit, then tampers with an AuditEvent directly
// in the trail's files, beside the API, and sees the operation report it.
func TestAuditChainOnTheServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startWithBootstrap(t, "--data", dir, "--demo=false")
	bearer := p.backendToken("system/*.cruds")
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		return p.fhir(bearer, method, path, body)
	}
	for range 5 {
		if status, out := call(http.MethodPost, "/Patient", `{"resourceType":"Patient","active":true}`); status != http.StatusCreated {
			t.Fatalf("create: %d %v", status, out)
		}
	}
	call(http.MethodGet, "/Patient?active=true", "")

	intact := func() (bool, map[string]any) {
		t.Helper()
		status, out := call(http.MethodGet, "/$verify-audit", "")
		if status != http.StatusOK {
			t.Fatalf("$verify-audit: %d %v", status, out)
		}
		for _, prm := range out["parameter"].([]any) {
			if m := prm.(map[string]any); m["name"] == "intact" {
				return m["valueBoolean"] == true, out
			}
		}
		t.Fatalf("$verify-audit without intact: %v", out)
		return false, nil
	}
	if ok, out := intact(); !ok {
		t.Fatalf("a fresh audit trail is not intact: %v", out)
	}

	// The API refuses to change an AuditEvent; the trail's files do not.
	id := audit.EventID(2)
	if status, _ := call(http.MethodDelete, "/AuditEvent/"+id, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE of an AuditEvent: %d, want 405", status)
	}
	forgeInTrail(t, filepath.Join(dir, "audit-trail"), id)
	ok, out := intact()
	if ok {
		t.Fatalf("$verify-audit missed the forged %s: %v", id, out)
	}
	var brk map[string]any
	for _, prm := range out["parameter"].([]any) {
		if m := prm.(map[string]any); m["name"] == "break" {
			brk = m
		}
	}
	if brk == nil {
		t.Fatalf("no break reported: %v", out)
	}
	for _, part := range brk["part"].([]any) {
		m := part.(map[string]any)
		if m["name"] == "event" && m["valueReference"].(map[string]any)["reference"] != "AuditEvent/"+id {
			t.Errorf("break names %v, want AuditEvent/%s", m["valueReference"], id)
		}
	}
}

// forgeInTrail changes event id in place in the trail's log, as someone
// with access to the disk could: the log's frames (a length, a CRC, then
// the content's length and the content) hold the events' records (a
// version byte, the sequence, …, the hash in the last 32 bytes), and one
// bit of the record before its hash is flipped.
func forgeInTrail(t *testing.T, trailDir, id string) {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(trailDir, "*.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("trail logs %v (%v), want one", logs, err)
	}
	data, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	seq, err := strconv.ParseUint(strings.TrimPrefix(id, "audit-"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	at := -1
	for off := 0; off+8 < len(data) && at < 0; off += 8 + int(binaryenc.LittleEndian.Uint32(data[off:])) {
		length, n := binaryenc.Uvarint(data[off+8:])
		content := data[off+8+n : off+8+n+int(length)]
		if got, _ := binaryenc.Uvarint(content[1:]); content[0] == 1 && got == seq {
			at = off + 8 + n + len(content) - 33
		}
	}
	if at < 0 {
		t.Fatalf("%s not in the trail's log", id)
	}
	// In place: the server goes on appending to the file.
	f, err := os.OpenFile(logs[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{data[at] ^ 1}, int64(at)); err != nil {
		t.Fatal(err)
	}
}

// TestAuditTrailFromAnEarlierVersion starts a server on a data directory
// an earlier version left: AuditEvents in the SQLite store and more in its
// journal, not yet indexed. The server indexes the journal, copies every
// event into the trail, removes the journal, and the chain goes on intact.
func TestAuditTrailFromAnEarlierVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	direct, err := audit.NewRecorder(st, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	journaled, err := audit.NewRecorder(st, audit.Options{JournalDir: filepath.Join(dir, "audit-journal")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		rec := direct
		if i >= 3 {
			rec = journaled // its events may still be in the journal when it closes
		}
		event := audit.Read(audit.Agent{Client: "old"}, audit.Target{Type: "Patient", ID: "p1"}, "Patient/p1", audit.Success)
		if err := rec.Record(ctx, event); err != nil {
			t.Fatal(err)
		}
	}
	direct.Close()
	journaled.Close()
	st.Close()

	p := startWithBootstrap(t, "--data", dir, "--demo=false")
	bearer := p.backendToken("system/*.cruds")
	status, out := p.fhir(bearer, http.MethodGet, "/AuditEvent?agent:identifier=old&_summary=count", "")
	if status != http.StatusOK || out["total"] != float64(6) {
		t.Errorf("the earlier version's events: %d %v, want a total of 6", status, out["total"])
	}
	status, out = p.fhir(bearer, http.MethodGet, "/$verify-audit", "")
	if status != http.StatusOK {
		t.Fatalf("$verify-audit: %d %v", status, out)
	}
	for _, prm := range out["parameter"].([]any) {
		if m := prm.(map[string]any); m["name"] == "intact" && m["valueBoolean"] != true {
			t.Errorf("the chain is not intact after the copy: %v", out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "audit-journal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the earlier journal is still there: %v", err)
	}
}

package conformance

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Seeded resources the bad requests aim at. Patient/bad-seed has two
// versions, so W/"1" is a stale ETag; the two bad-dup patients share an
// identifier; Patient/bad-deleted is deleted (its version 2).
const (
	seedSystem = "urn:telehub:conformance"
	seedID     = "bad-seed"
	deletedID  = "bad-deleted"
)

var seededPaths = []string{"Patient/" + seedID, "Patient/bad-dup-1", "Patient/bad-dup-2", "Patient/" + deletedID}

func seedPatient(id, identifier, family string) map[string]any {
	return map[string]any{
		"resourceType": "Patient",
		"id":           id,
		"identifier":   []any{map[string]any{"system": seedSystem, "value": identifier}},
		"name":         []any{map[string]any{"family": family}},
		"birthDate":    "1970-01-01",
	}
}

func seedBadInput(t *testing.T, srv *server) {
	t.Helper()
	srv.put(t, "Patient/"+seedID, seedPatient(seedID, "seed", "Seed"))
	srv.put(t, "Patient/"+seedID, seedPatient(seedID, "seed", "Seeded"))
	srv.put(t, "Patient/bad-dup-1", seedPatient("bad-dup-1", "dup", "Twin"))
	srv.put(t, "Patient/bad-dup-2", seedPatient("bad-dup-2", "dup", "Twin"))
	srv.put(t, "Patient/"+deletedID, seedPatient(deletedID, "deleted", "Gone"))
	if resp := srv.do(t, request{method: http.MethodDelete, path: "Patient/" + deletedID}); resp.status != http.StatusOK && resp.status != http.StatusNoContent {
		t.Fatalf("seed: delete: %v", resp)
	}
}

// snapshot is what a refused request must leave as it was: the number of
// versions stored and the answer to a read of each seeded resource.
type snapshot struct {
	versions int64
	reads    []string
}

func takeSnapshot(t *testing.T, srv *server) snapshot {
	t.Helper()
	s := snapshot{versions: systemHistoryTotal(t, srv)}
	for _, p := range seededPaths {
		r := srv.get(t, p)
		s.reads = append(s.reads, fmt.Sprintf("%s %d %s %s", p, r.status, r.header.Get("ETag"), r.body))
	}
	return s
}

// badCase is one request the server must refuse.
type badCase struct {
	name string
	req  request
	// want lists the statuses the specification allows for this error.
	want []int
	// transaction marks a transaction Bundle: on a backend without
	// transactions it must be refused (checkTransactionRefusal) whatever it holds.
	transaction bool
	// newVersions is how many versions the request may store (a batch whose
	// other entries succeed); zero for a refused request.
	newVersions int64
	// check, when set, replaces the OperationOutcome check of the body.
	check func(t *testing.T, resp response)
}

func patientJSON(fields string) []byte {
	return []byte(`{"resourceType":"Patient","id":"` + seedID + `"` + fields + `}`)
}

func newPatientJSON(fields string) []byte {
	return []byte(`{"resourceType":"Patient"` + fields + `}`)
}

func jsonPatch(ops string) request {
	return request{
		method:  http.MethodPatch,
		path:    "Patient/" + seedID,
		body:    []byte(ops),
		headers: map[string]string{"Content-Type": "application/json-patch+json"},
	}
}

func bundle(typ string, entries ...string) []byte {
	return []byte(`{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`)
}

func postEntry(fullURL, resource string) string {
	return `{"fullUrl":"` + fullURL + `","resource":` + resource + `,"request":{"method":"POST","url":"Patient"}}`
}

func badCases(maxBody int64) []badCase {
	seed := "Patient/" + seedID
	validNew := `{"resourceType":"Patient","identifier":[{"system":"` + seedSystem + `","value":"new"}]}`
	invalidNew := `{"resourceType":"Patient","birthDate":"1970-13-01"}`
	huge := newPatientJSON(`,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` +
		strings.Repeat("a", int(maxBody)+1024) + `</div>"}`)
	bad := []int{http.StatusBadRequest}
	return []badCase{
		// Bodies that are not a resource.
		{name: "malformed JSON", req: request{method: http.MethodPost, path: "Patient", body: []byte(`{"resourceType":"Patient",`)}, want: bad},
		{name: "empty body", req: request{method: http.MethodPost, path: "Patient", body: []byte{}}, want: bad},
		{name: "JSON array body", req: request{method: http.MethodPost, path: "Patient", body: []byte(`[{"resourceType":"Patient"}]`)}, want: bad},
		{name: "JSON number body", req: request{method: http.MethodPost, path: "Patient", body: []byte(`42`)}, want: bad},
		{name: "trailing garbage after the resource", req: request{method: http.MethodPost, path: "Patient", body: []byte(validNew + `}`)}, want: bad},
		{name: "no resourceType", req: request{method: http.MethodPost, path: "Patient", body: []byte(`{"active":true}`)}, want: bad},
		// Types and ids.
		{name: "unknown resource type in URL (create)", req: request{method: http.MethodPost, path: "Unicorn", body: []byte(`{"resourceType":"Unicorn"}`)}, want: []int{http.StatusNotFound}},
		{name: "unknown resource type in URL (read)", req: request{method: http.MethodGet, path: "Unicorn/1"}, want: []int{http.StatusNotFound}},
		{name: "unknown resource type in body", req: request{method: http.MethodPost, path: "Patient", body: []byte(`{"resourceType":"Unicorn"}`)}, want: bad},
		{name: "type in body contradicts the URL", req: request{method: http.MethodPost, path: "Patient", body: []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`)}, want: bad},
		{name: "type in body contradicts the URL (update)", req: request{method: http.MethodPut, path: seed, body: []byte(`{"resourceType":"Observation","id":"` + seedID + `","status":"final","code":{"text":"x"}}`)}, want: bad},
		{name: "id in body contradicts the URL", req: request{method: http.MethodPut, path: seed, body: []byte(`{"resourceType":"Patient","id":"someone-else"}`)}, want: bad},
		{name: "missing id on PUT", req: request{method: http.MethodPut, path: seed, body: newPatientJSON(`,"active":true`)}, want: bad},
		{name: "id too long", req: request{method: http.MethodPut, path: "Patient/" + strings.Repeat("x", 65), body: []byte(`{"resourceType":"Patient","id":"` + strings.Repeat("x", 65) + `"}`)}, want: bad},
		{name: "id with bad characters", req: request{method: http.MethodPut, path: "Patient/bad_id!", body: []byte(`{"resourceType":"Patient","id":"bad_id!"}`)}, want: bad},
		// Content the model refuses.
		{name: "unknown element", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"favouriteColour":"blue"`)}, want: bad},
		{name: "invalid date", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"birthDate":"1970-13-01"`)}, want: bad},
		{name: "string where a boolean belongs", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"active":"yes"`)}, want: bad},
		{name: "invalid code", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"gender":"robot"`)}, want: bad},
		// Media types and size.
		{name: "Content-Type text/plain", req: request{method: http.MethodPut, path: seed, body: patientJSON(``), headers: map[string]string{"Content-Type": "text/plain"}}, want: []int{http.StatusUnsupportedMediaType}},
		{name: "Content-Type application/xml", req: request{method: http.MethodPost, path: "Patient", body: []byte(`<Patient xmlns="http://hl7.org/fhir"/>`), headers: map[string]string{"Content-Type": "application/xml"}}, want: []int{http.StatusUnsupportedMediaType}},
		{name: "Accept XML only", req: request{method: http.MethodGet, path: seed, headers: map[string]string{"Accept": "application/fhir+xml"}}, want: []int{http.StatusNotAcceptable}},
		{name: "_format xml", req: request{method: http.MethodGet, path: seed + "?_format=xml"}, want: []int{http.StatusNotAcceptable}},
		{name: "body over the limit", req: request{method: http.MethodPost, path: "Patient", body: huge}, want: []int{http.StatusRequestEntityTooLarge}},
		// Versions.
		{name: "stale If-Match", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"active":true`), headers: map[string]string{"If-Match": `W/"1"`}}, want: []int{http.StatusPreconditionFailed}},
		{name: "If-Match on a future version", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"active":true`), headers: map[string]string{"If-Match": `W/"99"`}}, want: []int{http.StatusPreconditionFailed}},
		{name: "If-Match that is not an ETag", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"active":true`), headers: map[string]string{"If-Match": `banana`}}, want: []int{http.StatusBadRequest, http.StatusPreconditionFailed}},
		{name: "malformed If-Match", req: request{method: http.MethodPut, path: seed, body: patientJSON(`,"active":true`), headers: map[string]string{"If-Match": `W/2`}}, want: []int{http.StatusBadRequest, http.StatusPreconditionFailed}},
		{name: "read of a deleted resource", req: request{method: http.MethodGet, path: "Patient/" + deletedID}, want: []int{http.StatusGone}},
		{name: "vread of the deletion", req: request{method: http.MethodGet, path: "Patient/" + deletedID + "/_history/2"}, want: []int{http.StatusGone}},
		{name: "vread of an unknown version", req: request{method: http.MethodGet, path: seed + "/_history/99"}, want: []int{http.StatusNotFound}},
		{name: "read of an unknown id", req: request{method: http.MethodGet, path: "Patient/never-stored"}, want: []int{http.StatusNotFound}},
		// Interactions the server does not have.
		{name: "POST on an instance", req: request{method: http.MethodPost, path: seed, body: patientJSON(``)}, want: []int{http.StatusMethodNotAllowed}},
		{name: "PUT on the type", req: request{method: http.MethodPut, path: "Patient", body: patientJSON(``)}, want: []int{http.StatusMethodNotAllowed}},
		{name: "DELETE of a version", req: request{method: http.MethodDelete, path: seed + "/_history/1"}, want: []int{http.StatusMethodNotAllowed}},
		// PATCH.
		{name: "PATCH with broken JSON", req: jsonPatch(`[{"op":"replace",`), want: bad},
		{name: "PATCH that is not a JSON Patch", req: jsonPatch(`{"op":"replace","path":"/active","value":true}`), want: bad},
		{name: "PATCH with an unknown op", req: jsonPatch(`[{"op":"frobnicate","path":"/active","value":true}]`), want: bad},
		{name: "PATCH producing an invalid resource", req: jsonPatch(`[{"op":"replace","path":"/birthDate","value":"not-a-date"}]`), want: []int{http.StatusBadRequest, http.StatusUnprocessableEntity}},
		{name: "PATCH changing the id", req: jsonPatch(`[{"op":"replace","path":"/id","value":"other"}]`), want: []int{http.StatusBadRequest, http.StatusUnprocessableEntity}},
		{name: "PATCH test op failure", req: jsonPatch(`[{"op":"test","path":"/birthDate","value":"2000-01-01"},{"op":"replace","path":"/active","value":true}]`), want: []int{http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity}},
		{name: "PATCH with Content-Type text/plain", req: request{method: http.MethodPatch, path: seed, body: []byte(`[]`), headers: map[string]string{"Content-Type": "text/plain"}}, want: []int{http.StatusUnsupportedMediaType}},
		{name: "PATCH of an unknown resource", req: request{method: http.MethodPatch, path: "Patient/never-stored", body: []byte(`[]`), headers: map[string]string{"Content-Type": "application/json-patch+json"}}, want: []int{http.StatusNotFound}},
		// Conditional interactions that match several resources.
		{name: "conditional create matching several", req: request{method: http.MethodPost, path: "Patient", body: []byte(validNew), headers: map[string]string{"If-None-Exist": "identifier=" + seedSystem + "|dup"}}, want: []int{http.StatusPreconditionFailed}},
		{name: "conditional update matching several", req: request{method: http.MethodPut, path: "Patient?identifier=" + seedSystem + "|dup", body: []byte(validNew)}, want: []int{http.StatusPreconditionFailed}},
		{name: "conditional delete matching more than allowed", req: request{method: http.MethodDelete, path: "Patient?identifier=" + seedSystem + "|dup"}, want: []int{http.StatusPreconditionFailed}},
		// Bundles.
		{name: "non-Bundle POSTed to the root", req: request{method: http.MethodPost, path: "", body: []byte(validNew)}, want: bad},
		{name: "collection Bundle POSTed to the root", req: request{method: http.MethodPost, path: "", body: bundle("collection", `{"resource":`+validNew+`}`)}, want: []int{http.StatusBadRequest, http.StatusUnprocessableEntity}},
		{
			name:        "transaction with a broken entry rolls back",
			req:         request{method: http.MethodPost, path: "", body: bundle("transaction", postEntry("urn:uuid:6b1bb5a2-0d1e-4d4f-9a51-2b1f0b7a0001", validNew), postEntry("urn:uuid:6b1bb5a2-0d1e-4d4f-9a51-2b1f0b7a0002", invalidNew))},
			want:        []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
			transaction: true,
		},
		{
			name: "transaction with a conditional reference matching nothing",
			req: request{method: http.MethodPost, path: "", body: bundle("transaction",
				postEntry("urn:uuid:6b1bb5a2-0d1e-4d4f-9a51-2b1f0b7a0003", validNew),
				`{"fullUrl":"urn:uuid:6b1bb5a2-0d1e-4d4f-9a51-2b1f0b7a0004","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=`+seedSystem+`|nobody"}},"request":{"method":"POST","url":"Observation"}}`)},
			want:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
			transaction: true,
		},
		{
			name: "batch entry with a bad request, the others succeed",
			req: request{method: http.MethodPost, path: "", body: bundle("batch",
				`{"request":{"method":"GET","url":"`+seed+`"}}`,
				postEntry("urn:uuid:6b1bb5a2-0d1e-4d4f-9a51-2b1f0b7a0005", invalidNew),
				postEntry("urn:uuid:6b1bb5a2-0d1e-4d4f-9a51-2b1f0b7a0006", validNew))},
			want:        []int{http.StatusOK},
			newVersions: 1,
			check:       checkBatchWithBadEntry,
		},
		// Search and history parameters.
		{name: "_count not a number", req: request{method: http.MethodGet, path: "Patient?_count=lots"}, want: bad},
		{name: "negative _count", req: request{method: http.MethodGet, path: "Patient?_count=-1"}, want: bad},
		{name: "unknown search parameter, strict handling", req: request{method: http.MethodGet, path: "Patient?favourite-colour=blue", headers: map[string]string{"Prefer": "handling=strict"}}, want: bad},
		// Malformed values are ignored and reported by default (the search
		// issue fixes that choice); strict handling refuses them.
		{name: "invalid _lastUpdated value, strict handling", req: request{method: http.MethodGet, path: "Patient?_lastUpdated=yesterday", headers: map[string]string{"Prefer": "handling=strict"}}, want: bad},
		{name: "history with a bad _since", req: request{method: http.MethodGet, path: "_history?_since=yesterday"}, want: bad},
		{name: "instance history with a bad _since", req: request{method: http.MethodGet, path: seed + "/_history?_since=2020-13-45"}, want: bad},
	}
}

// checkBatchWithBadEntry: the batch answers 200 with one response per entry;
// the bad entry failed alone, with an OperationOutcome.
func checkBatchWithBadEntry(t *testing.T, resp response) {
	doc := resp.object(t)
	if str(doc, "type") != "batch-response" {
		t.Errorf("Bundle type %q, want batch-response", str(doc, "type"))
	}
	entries, _ := doc["entry"].([]any)
	if len(entries) != 3 {
		t.Fatalf("%d response entries, want 3: %v", len(entries), resp)
	}
	wantPrefix := []string{"200", "4", "201"}
	for i, e := range entries {
		if status := str(e, "response", "status"); !strings.HasPrefix(status, wantPrefix[i]) {
			t.Errorf("entry %d: status %q, want %s…", i, status, wantPrefix[i])
		}
	}
	outcome, _ := field(entries[1], "response", "outcome").(map[string]any)
	if outcome == nil || outcomeProblem(outcome) != "" {
		t.Errorf("the failed entry has no valid OperationOutcome: %s", short(field(entries[1], "response")))
	}
}

func TestBadInput(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			opts := defaultServerOptions
			opts.maxBodyBytes = 64 << 10
			srv := startServer(t, b, opts)
			seedBadInput(t, srv)
			cases := badCases(opts.maxBodyBytes)
			if len(cases) < 30 {
				t.Fatalf("only %d cases", len(cases))
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { runBadCase(t, srv, c) })
			}
		})
	}
}

func runBadCase(t *testing.T, srv *server, c badCase) {
	before := takeSnapshot(t, srv)
	resp := srv.do(t, c.req)
	switch {
	case c.transaction && !srv.backend.transactions:
		checkTransactionRefusal(t, srv, resp, false)
	case !slices.Contains(c.want, resp.status):
		t.Errorf("status %d, want one of %v: %v", resp.status, c.want, resp)
	}
	if c.check != nil && resp.status < 400 {
		c.check(t, resp)
	} else {
		resp.requireOutcome(t)
	}
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("Content-Type %q, want application/fhir+json", ct)
	}
	t.Logf("%s /%s → %d", c.req.method, c.req.path, resp.status)
	after := takeSnapshot(t, srv)
	newVersions := c.newVersions
	if resp.status >= 400 {
		newVersions = 0
	}
	if after.versions != before.versions+newVersions {
		t.Errorf("store holds %d versions after the request, want %d", after.versions, before.versions+newVersions)
	}
	for i := range before.reads {
		if before.reads[i] != after.reads[i] {
			t.Errorf("seeded resource changed:\nbefore %s\nafter  %s", clip(before.reads[i]), clip(after.reads[i]))
		}
	}
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

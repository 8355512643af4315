package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTwoNodesShareSearchParameters runs two nodes on one store and one NATS
// server: a SearchParameter written on one becomes searchable on the other
// without a restart, through the change event.
func TestTwoNodesShareSearchParameters(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TELEHUB_BOOTSTRAP_CLIENT": "backend:" + bootstrapSecret}
	first := t.TempDir()
	a := startInProcess(t, env, "--data", first, "--demo=false")
	b := startInProcess(t, env, "--data", t.TempDir(), "--demo=false",
		"--store", "sqlite:"+filepath.Join(first, "telehub.db"), "--nats", a.srv.bus.ClientURL())

	tokA, tokB := a.backendToken("system/*.cruds"), b.backendToken("system/*.cruds")
	if status, out := a.fhir(tokA, http.MethodPut, "/SearchParameter/patient-nickname", `{"resourceType":"SearchParameter",
		"id":"patient-nickname","url":"https://telehub.example/SearchParameter/patient-nickname","name":"nickname",
		"status":"active","description":"A patient's nickname","code":"nickname","base":["Patient"],"type":"string",
		"expression":"Patient.name.where(use='nickname').given"}`); status != http.StatusCreated {
		t.Fatalf("SearchParameter on node A: %d %v", status, out)
	}
	// Node B learns of it from the change event; until then it reports the
	// parameter as unknown.
	known := func() bool {
		_, out := b.fhir(tokB, http.MethodGet, "/Patient?nickname=zaza&_count=1", "")
		entries, _ := out["entry"].([]any)
		for _, e := range entries {
			res, _ := e.(map[string]any)["resource"].(map[string]any)
			if body, _ := json.Marshal(res); res["resourceType"] == "OperationOutcome" && strings.Contains(string(body), "nickname") {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(20 * time.Second)
	for !known() {
		if time.Now().After(deadline) {
			t.Fatal("node B never learnt the SearchParameter written on node A")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, out := b.fhir(tokB, http.MethodPost, "/Patient", `{"resourceType":"Patient",
		"name":[{"use":"official","family":"Martin"},{"use":"nickname","given":["Zaza"]}]}`); status != http.StatusCreated {
		t.Fatalf("Patient on node B: %d %v", status, out)
	}
	for _, p := range []*inProcess{a, b} {
		tok := map[*inProcess]string{a: tokA, b: tokB}[p]
		_, out := p.fhir(tok, http.MethodGet, "/Patient?nickname=zaza", "")
		if out["total"] != float64(1) {
			t.Errorf("node %s: Patient?nickname=zaza total %v, want 1", p.srv.baseURL, out["total"])
		}
	}
}

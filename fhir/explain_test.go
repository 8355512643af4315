package fhir

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// _explain=true answers the store's plan, on both backends, without the
// results.
func TestExplain(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testExplain(t, newTestServer(t, Options{}), "SEARCH idx_text") })
	t.Run("mongo", func(t *testing.T) { testExplain(t, newMongoTestServer(t, "fhirexplain", Options{}), "MongoDB") })
}

func testExplain(t *testing.T, ts *testServer, backend string) {
	ts.do(http.MethodPost, "/fhir/Observation", `{"resourceType":"Observation","status":"final",`+
		`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"}}`)
	res := ts.do(http.MethodGet, "/fhir/Observation?code=http://loinc.org|8867-4&subject=Patient/p1&_explain=true", "")
	if res.Code != http.StatusOK {
		t.Fatalf("_explain: %d %s", res.Code, res.Body)
	}
	var oo struct {
		ResourceType string
		Issue        []struct{ Severity, Code, Diagnostics string }
	}
	if err := json.Unmarshal(res.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
		t.Fatalf("_explain answered %s", res.Body)
	}
	plan := oo.Issue[0].Diagnostics
	if oo.Issue[0].Severity != "information" || !strings.Contains(plan, backend) || !strings.Contains(plan, "Observation") {
		t.Errorf("plan does not show the %s plan of the search:\n%s", backend, plan)
	}
	if strings.Contains(res.Body.String(), `"resourceType":"Bundle"`) {
		t.Errorf("_explain ran the search: %s", res.Body)
	}
}

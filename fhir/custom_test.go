package fhir

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func searchParameter(id, code, kind, base, expression, status string) string {
	return fmt.Sprintf(`{"resourceType":"SearchParameter","id":%q,"url":"http://example.org/SearchParameter/%s","name":%q,"status":%q,"description":"test","code":%q,"base":[%q],"type":%q,"expression":%q}`,
		id, id, id, status, code, base, kind, expression)
}

// waitReindex polls a reindex job until it completes and returns its final status.
func waitReindex(t *testing.T, ts *testServer, location string) *response {
	t.Helper()
	for range 500 {
		r := ts.do(http.MethodGet, pathOf(t, location), "")
		switch r.Code {
		case http.StatusAccepted:
			time.Sleep(10 * time.Millisecond)
			continue
		case http.StatusOK:
			return r
		}
		t.Fatalf("reindex status %d: %s", r.Code, r.Body.String())
	}
	t.Fatal("reindex did not finish")
	return nil
}

// parameter returns the value of a Parameters resource's parameter.
func (r *response) parameter(name string) any {
	list, _ := r.get("parameter").([]any)
	for _, p := range list {
		m := p.(map[string]any)
		if m["name"] != name {
			continue
		}
		for k, v := range m {
			if k != "name" {
				return v
			}
		}
	}
	return nil
}

func TestCustomSearchParameter(t *testing.T) {
	t.Parallel()
	testCustomSearchParameter(t, newTestServer(t, Options{}))
}

func testCustomSearchParameter(t *testing.T, ts *testServer) {
	married := `{"resourceType":"Patient","id":"%s","maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"%s"}]},"name":[{"use":"nickname","given":["%s"]}]}`
	ts.put("Patient", "m1", fmt.Sprintf(married, "m1", "M", "Bobby"))
	ts.put("Patient", "s1", fmt.Sprintf(married, "s1", "S", "Zed"))
	ts.put("Observation", "o1", `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"issued":"2024-03-01T10:00:00Z"}`)
	pressure := `{"resourceType":"Observation","id":"%s","status":"final","code":{"text":"blood pressure"},"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},` +
		`"valueQuantity":{"value":%s,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`
	ts.put("Observation", "bp85", fmt.Sprintf(pressure, "bp85", "85"))
	ts.put("Observation", "bp95", fmt.Sprintf(pressure, "bp95", "95.0"))

	// Before the SearchParameter: unknown, ignored (400 when strict).
	ts.do(http.MethodGet, "/fhir/Patient?marital=M", "", "Prefer", "handling=strict").mustStatus(t, http.StatusBadRequest)

	ts.put("SearchParameter", "marital", searchParameter("marital", "marital", "token", "Patient", "Patient.maritalStatus", "active"))
	ts.put("SearchParameter", "nickname", searchParameter("nickname", "nickname", "string", "Patient", "Patient.name.where(use='nickname').given", "active"))
	ts.put("SearchParameter", "issued", searchParameter("issued", "issued", "date", "Observation", "Observation.issued", "active"))
	ts.put("SearchParameter", "combo", searchParameter("combo", "combo", "composite", "Patient", "Patient", "active"))
	ts.put("SearchParameter", "component-pressure", searchParameter("component-pressure", "component-pressure", "quantity", "Observation",
		"Observation.component.value.ofType(Quantity)", "active"))
	// A composite, pairing a component's code with its value, under a code
	// of its own (the specification has component-code-value-quantity).
	const spec = "http://hl7.org/fhir/SearchParameter/"
	ts.put("SearchParameter", "cpressure", strings.Replace(searchParameter("cpressure", "cpressure", "composite", "Observation", "Observation.component", "active"),
		`"expression":`, `"component":[{"definition":"`+spec+`Observation-component-code","expression":"code"},`+
			`{"definition":"`+spec+`Observation-component-value-quantity","expression":"value.as(Quantity)"}],"expression":`, 1))

	// Known now, but the resources written before are not indexed yet.
	r := ts.do(http.MethodGet, "/fhir/Patient?marital=M", "", "Prefer", "handling=strict").mustStatus(t, http.StatusOK)
	if n := len(r.ids("match")); n != 0 {
		t.Fatalf("%d matches before reindexing, want 0", n)
	}
	// Written after: indexed at once.
	ts.put("Patient", "m2", fmt.Sprintf(married, "m2", "M", "Robert"))

	r = ts.do(http.MethodPost, "/fhir/SearchParameter/marital/$reindex", "").mustStatus(t, http.StatusAccepted)
	loc := r.Header().Get("Content-Location")
	done := waitReindex(t, ts, loc)
	if done.parameter("status") != "completed" || done.parameter("processed") != float64(3) || done.parameter("total") != float64(3) {
		t.Errorf("reindex status %s, want completed 3 of 3", done.Body.String())
	}
	r = ts.do(http.MethodPost, "/fhir/$reindex", "").mustStatus(t, http.StatusAccepted)
	waitReindex(t, ts, r.Header().Get("Content-Location"))

	tests := []struct{ query, want string }{
		{"Patient?marital=M", "Patient/m1,Patient/m2"},
		{"Patient?marital=http://terminology.hl7.org/CodeSystem/v3-MaritalStatus|S", "Patient/s1"},
		{"Patient?marital=S,M", "Patient/m1,Patient/m2,Patient/s1"},
		{"Patient?nickname=bob", "Patient/m1"},
		{"Patient?nickname:exact=zed", "Patient/s1"},
		{"Patient?marital=M&nickname=rob", "Patient/m2"},
		{"Patient?marital:missing=true", ""},
		{"Observation?issued=2024-03", "Observation/o1"},
		{"Observation?issued=gt2024-04", ""},
		{"Observation?issued=lt2024-04", "Observation/o1"},
		{"Patient?_sort=family&marital=M", "Patient/m1,Patient/m2"},
		{"Observation?component-pressure=gt90", "Observation/bp95"},
		{"Observation?component-pressure=85|http://unitsofmeasure.org|mm[Hg]", "Observation/bp85"},
		{"Observation?component-pressure=le90||mm[Hg]", "Observation/bp85"},
		{"Observation?component-pressure=95|http://unitsofmeasure.org|mm[Hg]", "Observation/bp95"},
		{"Observation?component-pressure=ge80,lt10", "Observation/bp85,Observation/bp95"},
		{"Observation?component-pressure:missing=true", "Observation/o1"},
		{"Observation?cpressure=http://loinc.org|8462-4$gt90", "Observation/bp95"},
		{"Observation?cpressure=8462-4$85|http://unitsofmeasure.org|mm[Hg]", "Observation/bp85"},
		{"Observation?cpressure=8462-4$lt100", "Observation/bp85,Observation/bp95"},
		{"Observation?cpressure=9999-9$lt100,8462-4$le85", "Observation/bp85"},
		{"Observation?cpressure:missing=true", "Observation/o1"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/fhir/"+tt.query, "", "Prefer", "handling=strict").mustStatus(t, http.StatusOK)
			if got := sorted(r.ids("match")); got != tt.want {
				t.Errorf("matches %s, want %s", got, tt.want)
			}
		})
	}
	// Conditional interactions understand custom parameters too.
	r = ts.do(http.MethodPost, "/fhir/Patient", strings.Replace(fmt.Sprintf(married, "", "S", "Other"), `"id":"",`, "", 1), "If-None-Exist", "marital=S")
	if r.Code != http.StatusOK || r.str("id") != "s1" {
		t.Errorf("conditional create on a custom parameter: status %d, id %q; want 200 and the existing s1", r.Code, r.str("id"))
	}

	// A composite custom parameter without its two components is not
	// served, and cannot be reindexed.
	ts.do(http.MethodGet, "/fhir/Patient?combo=x", "", "Prefer", "handling=strict").mustStatus(t, http.StatusBadRequest)
	ts.do(http.MethodPost, "/fhir/SearchParameter/combo/$reindex", "").mustStatus(t, http.StatusBadRequest).isOutcome(t, codeNotSupported)
	ts.do(http.MethodPost, "/fhir/SearchParameter/nobody/$reindex", "").mustStatus(t, http.StatusNotFound)
	ts.do(http.MethodPost, "/fhir/Patient/m1/$reindex", "").mustStatus(t, http.StatusNotFound)
	ts.do(http.MethodGet, "/fhir/$reindex/nojob", "").mustStatus(t, http.StatusNotFound)

	// A second server on the same store loads the active parameters at start.
	srv, err := New(Options{Store: ts.store, BaseURL: testBase, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	srv.Mount(e)
	other := &testServer{t: t, e: e, store: ts.store}
	if got := sorted(other.do(http.MethodGet, "/fhir/Patient?marital=M", "", "Prefer", "handling=strict").mustStatus(t, http.StatusOK).ids("match")); got != "Patient/m1,Patient/m2" {
		t.Errorf("after a restart: matches %s", got)
	}

	// Retired: no longer searchable.
	ts.put("SearchParameter", "marital", searchParameter("marital", "marital", "token", "Patient", "Patient.maritalStatus", "retired"))
	ts.do(http.MethodGet, "/fhir/Patient?marital=M", "", "Prefer", "handling=strict").mustStatus(t, http.StatusBadRequest)
	ts.do(http.MethodDelete, "/fhir/SearchParameter/nickname", "").mustStatus(t, http.StatusOK)
	ts.do(http.MethodGet, "/fhir/Patient?nickname=bob", "", "Prefer", "handling=strict").mustStatus(t, http.StatusBadRequest)
}

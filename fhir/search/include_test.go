package search

import (
	"slices"
	"strings"
	"testing"

	"github.com/telehub/telehub/store"
)

func TestParseInclude(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, name, value string
		want             Include
		err              string // a part of the error, "" for none
	}{
		{"Observation", "_include", "Observation:subject", Include{SourceType: "Observation", Param: "subject"}, ""},
		{"Observation", "_include", "Observation:subject:Patient", Include{SourceType: "Observation", Param: "subject", TargetType: "Patient"}, ""},
		{"Observation", "_include", "*", Include{SourceType: "*", Param: "*"}, ""},
		{"Observation", "_include", "Observation:*", Include{SourceType: "Observation", Param: "*"}, ""},
		{"MedicationRequest", "_include:iterate", "Medication:manufacturer",
			Include{Iterate: true, SourceType: "Medication", Param: "manufacturer"}, ""},
		{"Patient", "_revinclude", "Provenance:target", Include{Reverse: true, SourceType: "Provenance", Param: "target"}, ""},
		{"Patient", "_revinclude", "Observation:subject", Include{Reverse: true, SourceType: "Observation", Param: "subject"}, ""},
		{"Observation", "_include", "Patient:organization", Include{}, "not the searched type"},
		{"Observation", "_include", "Observation:code", Include{}, "not a reference"},
		{"Observation", "_include", "Observation:nope", Include{}, `unknown search parameter "nope"`},
		{"Observation", "_include", "Observation:subject:Medication", Include{}, "cannot point to Medication"},
		{"Medication", "_revinclude", "Patient:organization", Include{}, "cannot point to Medication"},
		{"Observation", "_include", "subject", Include{}, "is not SourceType:parameter"},
		{"Observation", "_include:deep", "Observation:subject", Include{}, "unknown modifier"},
	}
	for _, tt := range tests {
		got, err := ParseInclude(tt.typ, tt.name, tt.value)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseInclude(%q, %q, %q): %v", tt.typ, tt.name, tt.value, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseInclude(%q, %q, %q) error = %v, want one containing %q", tt.typ, tt.name, tt.value, err, tt.err)
		case got != tt.want:
			t.Errorf("ParseInclude(%q, %q, %q) = %+v, want %+v", tt.typ, tt.name, tt.value, got, tt.want)
		}
	}
}

func TestRevIncludeQuery(t *testing.T) {
	t.Parallel()
	r := DefaultRegistry()
	has := func(q store.Query, param, text string) bool {
		return len(q.Clauses) == 1 && slices.Contains(q.Clauses[0].Any, store.Condition{Param: param, Op: store.OpExact, Text: text})
	}
	q := r.RevIncludeQuery(Include{Reverse: true, SourceType: "Observation", Param: "subject", TargetType: "Patient"},
		[]string{"Patient/1", "Group/2"})
	if !slices.Equal(q.Types, []string{"Observation"}) || len(q.Clauses[0].Any) != 1 || !has(q, "subject", "Patient/1") {
		t.Errorf("Observation:subject:Patient = %+v", q)
	}
	q = r.RevIncludeQuery(Include{Reverse: true, SourceType: "Observation", Param: "*"}, []string{"Patient/1"})
	if !has(q, "subject", "Patient/1") || !has(q, "performer", "Patient/1") || has(q, "code", "Patient/1") {
		t.Errorf("Observation:* = %+v", q)
	}
	q = r.RevIncludeQuery(Include{Reverse: true, SourceType: "*", Param: "*"}, []string{"Patient/1"})
	if q.Types != nil || !has(q, "subject", "Patient/1") || !has(q, "patient", "Patient/1") {
		t.Errorf("* = types %v, %d conditions", q.Types, len(q.Clauses[0].Any))
	}
	q = r.RevIncludeQuery(Include{Reverse: true, SourceType: "Observation", Param: "subject"}, nil)
	if !has(q, store.ParamID, "") {
		t.Errorf("no refs = %+v, want a query matching nothing", q)
	}
	if _, err := r.IncludeTargets(Include{Reverse: true, SourceType: "Observation", Param: "subject"}, nil); err == nil {
		t.Error("IncludeTargets accepted a _revinclude")
	}
}

package fhirpath

import (
	"reflect"
	"testing"
)

func TestSplitUnion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want []string
	}{
		{"Patient.name", []string{"Patient.name"}},
		{"Patient.name | Practitioner.name", []string{"Patient.name", "Practitioner.name"}},
		{"(A.x | A.y) | B.z", []string{"(A.x | A.y)", "B.z"}},
		{"A.where(code = 'a|b') | B.c", []string{"A.where(code = 'a|b')", "B.c"}},
		{"A.where(v = 'it\\'s|x') | B", []string{"A.where(v = 'it\\'s|x')", "B"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := SplitUnion(tt.expr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitUnion(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

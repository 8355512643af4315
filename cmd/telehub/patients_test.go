package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

// patientStore is a SQLite store holding the given Patients, indexed as
// the FHIR layer indexes them.
func patientStore(tb testing.TB, bodies map[string]string) store.Store {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "telehub.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	var writes []store.Write
	for id, body := range bodies {
		index, err := search.Extract("Patient", []byte(body))
		if err != nil {
			tb.Fatal(err)
		}
		writes = append(writes, store.Write{Type: "Patient", ID: id, Version: 1, LastUpdated: time.Now().UTC(),
			Method: "PUT", Body: []byte(body), Index: index})
	}
	if err := st.Commit(ctx, writes); err != nil {
		tb.Fatal(err)
	}
	return st
}

func TestPatientDirectory(t *testing.T) {
	t.Parallel()
	d := patientDirectory{patientStore(t, map[string]string{
		"p1": `{"resourceType":"Patient","id":"p1","name":[{"use":"maiden","family":"Durand"},{"use":"official","family":"Martin","given":["Hélène","Marie"]}],"gender":"female","birthDate":"1970-01-02"}`,
		"p2": `{"resourceType":"Patient","id":"p2","name":[{"text":"Jean Dupont"}]}`,
		"p3": `{"resourceType":"Patient","id":"p3","name":[{"family":"Martinez","given":["Paul"]}]}`,
		"p4": `{"resourceType":"Patient","id":"p4"}`,
	})}
	tests := []struct {
		text  string
		limit int
		want  []string
	}{
		{"martin", 10, []string{"p1", "p3"}},
		{"HELENE martin", 10, []string{"p1"}},
		{"Martin, Hélène", 10, []string{"p1"}},
		{"durand", 10, []string{"p1"}},
		{"jean", 10, []string{"p2"}},
		{"nobody", 10, nil},
		{"", 2, []string{"p1", "p2"}},
	}
	for _, tt := range tests {
		got, err := d.SearchPatients(context.Background(), tt.text, tt.limit)
		if err != nil {
			t.Fatalf("%q: %v", tt.text, err)
		}
		var ids []string
		for _, p := range got {
			ids = append(ids, p.ID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("SearchPatients(%q, %d) = %v, want %v", tt.text, tt.limit, ids, tt.want)
		}
	}
	got, _ := d.SearchPatients(context.Background(), "", 10)
	want := []smart.PatientSummary{
		{ID: "p1", Name: "Hélène Marie Martin", BirthDate: "1970-01-02", Gender: "female"},
		{ID: "p2", Name: "Jean Dupont"},
		{ID: "p3", Name: "Paul Martinez"},
		{ID: "p4"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("summaries:\n got %+v\nwant %+v", got, want)
	}
}

// BenchmarkPatientPicker measures one picker search among 10,000 Patients.
func BenchmarkPatientPicker(b *testing.B) {
	families := []string{"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"}
	bodies := map[string]string{}
	for i := range 10000 {
		id := fmt.Sprintf("p%05d", i)
		bodies[id] = fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"%s%d","given":["Given%d"]}],"birthDate":"1970-01-01"}`,
			id, families[i%len(families)], i/len(families), i)
	}
	d := patientDirectory{patientStore(b, bodies)}
	ctx := context.Background()
	for b.Loop() {
		got, err := d.SearchPatients(ctx, "dubois12", 20)
		if err != nil || len(got) == 0 {
			b.Fatalf("%d patients, %v", len(got), err)
		}
	}
}

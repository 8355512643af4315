package storetest

import (
	"context"
	"testing"

	"github.com/telehub/telehub/store"
)

// historyFixture stores, in this order (times in ms after base):
//
//	0     Patient/a v1 POST
//	1000  Patient/b v1 POST
//	2000  Patient/a v2 PUT
//	3000  Observation/x v1 POST
//	4000  Patient/a v3 DELETE
//	5000  Patient/b v2 PATCH
func historyFixture(t *testing.T, s store.Store) map[string]store.Write {
	writes := []store.Write{
		newWrite("Patient", "a", 1, at(0), "POST"),
		newWrite("Patient", "b", 1, at(1000), "POST"),
		newWrite("Patient", "a", 2, at(2000), "PUT"),
		newWrite("Observation", "x", 1, at(3000), "POST"),
		deletion("Patient", "a", 3, at(4000)),
		newWrite("Patient", "b", 2, at(5000), "PATCH"),
	}
	byRef := map[string]store.Write{}
	for _, w := range writes {
		commit(t, s, w)
		byRef[vref(store.Resource{Type: w.Type, ID: w.ID, VersionID: w.Version})] = w
	}
	return byRef
}

func testHistory(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	written := historyFixture(t, s)

	for _, tc := range []struct {
		name      string
		q         store.HistoryQuery
		want      []string
		wantTotal int
		wantMore  bool
	}{
		{"instance", store.HistoryQuery{Type: "Patient", ID: "a"},
			[]string{"Patient/a/3", "Patient/a/2", "Patient/a/1"}, 3, false},
		{"type", store.HistoryQuery{Type: "Patient"},
			[]string{"Patient/b/2", "Patient/a/3", "Patient/a/2", "Patient/b/1", "Patient/a/1"}, 5, false},
		{"system", store.HistoryQuery{},
			[]string{"Patient/b/2", "Patient/a/3", "Observation/x/1", "Patient/a/2", "Patient/b/1", "Patient/a/1"}, 6, false},
		{"type of nothing stored", store.HistoryQuery{Type: "Encounter"}, nil, 0, false},
		{"system since", store.HistoryQuery{Since: at(2000)},
			[]string{"Patient/b/2", "Patient/a/3", "Observation/x/1", "Patient/a/2"}, 4, false},
		{"instance since", store.HistoryQuery{Type: "Patient", ID: "a", Since: at(1999)},
			[]string{"Patient/a/3", "Patient/a/2"}, 2, false},
		{"since after everything", store.HistoryQuery{Since: at(5001)}, nil, 0, false},
		{"type at", store.HistoryQuery{Type: "Patient", At: at(2500)},
			[]string{"Patient/a/2", "Patient/b/1"}, 2, false},
		{"system at, deletion current", store.HistoryQuery{At: at(4500)},
			[]string{"Patient/a/3", "Observation/x/1", "Patient/b/1"}, 3, false},
		{"system at an exact write instant", store.HistoryQuery{At: at(3000)},
			[]string{"Observation/x/1", "Patient/a/2", "Patient/b/1"}, 3, false},
		{"instance at", store.HistoryQuery{Type: "Patient", ID: "a", At: at(1000)},
			[]string{"Patient/a/1"}, 1, false},
		{"at before everything", store.HistoryQuery{At: at(-1)}, nil, 0, false},
		{"at and since", store.HistoryQuery{At: at(4500), Since: at(2500)},
			[]string{"Patient/a/3", "Observation/x/1"}, 2, false},
		{"first page", store.HistoryQuery{Count: 2},
			[]string{"Patient/b/2", "Patient/a/3"}, 6, true},
		{"middle page", store.HistoryQuery{Count: 2, Offset: 2},
			[]string{"Observation/x/1", "Patient/a/2"}, 6, true},
		{"last full page", store.HistoryQuery{Count: 2, Offset: 4},
			[]string{"Patient/b/1", "Patient/a/1"}, 6, false},
		{"last partial page", store.HistoryQuery{Count: 4, Offset: 4},
			[]string{"Patient/b/1", "Patient/a/1"}, 6, false},
		{"past the end", store.HistoryQuery{Count: 2, Offset: 10}, nil, 6, false},
		{"instance page", store.HistoryQuery{Type: "Patient", ID: "a", Count: 1, Offset: 1},
			[]string{"Patient/a/2"}, 3, true},
		{"type since page", store.HistoryQuery{Type: "Patient", Since: at(1000), Count: 1},
			[]string{"Patient/b/2"}, 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := s.History(ctx, tc.q)
			if err != nil {
				t.Fatalf("history: %v", err)
			}
			if got := vrefs(h.Versions); !equalStrings(got, tc.want) {
				t.Errorf("versions = %v, want %v", got, tc.want)
			}
			if h.Total != tc.wantTotal {
				t.Errorf("Total = %d, want %d", h.Total, tc.wantTotal)
			}
			if h.More != tc.wantMore {
				t.Errorf("More = %v, want %v", h.More, tc.wantMore)
			}
			for _, v := range h.Versions {
				checkResource(t, &v, written[vref(v)])
			}
		})
	}
}

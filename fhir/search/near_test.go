package search

import (
	"net/url"
	"testing"

	"github.com/telehub/telehub/store"
)

// TestNearBox checks the bounding box near becomes: a degree of latitude is
// about 111.2 km, a degree of longitude that divided by cos(latitude).
func TestNearBox(t *testing.T) {
	t.Parallel()
	const km = 111.19508 // one degree on the mean Earth radius
	type span struct{ low, high float64 }
	tests := []struct {
		value     string
		lat       span
		longitude []span // nil: no clause on the longitude
	}{
		{"0|0|" + "111.19508|km", span{-1, 1}, []span{{-1, 1}}},
		{"0|10|111195.08|m", span{-1, 1}, []span{{9, 11}}},
		{"60|10|55.59754", span{59.5, 60.5}, []span{{10 - 1.0154, 10 + 1.0154}}},
		{"0|179.5|111.19508|km", span{-1, 1}, []span{{178.5, 180}, {-180, -179.5}}},
		{"89.5|0|111.19508|km", span{88.5, 90}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			plan := Parse("Location", url.Values{"near": {tt.value}})
			if len(plan.Ignored) > 0 {
				t.Fatalf("ignored: %v", plan.Ignored)
			}
			want := 1
			if tt.longitude != nil {
				want = 2
			}
			clauses := plan.Query.Clauses
			if len(clauses) != want {
				t.Fatalf("clauses = %+v, want %d", clauses, want)
			}
			check := func(c store.Condition, param string, s span) {
				t.Helper()
				if c.Param != param || c.Op != store.OpEq || !closeTo(c.Low, s.low) || !closeTo(c.High, s.high) {
					t.Errorf("condition = %+v, want %s in [%g, %g]", c, param, s.low, s.high)
				}
			}
			check(clauses[0].Any[0], "near:latitude", tt.lat)
			if tt.longitude == nil {
				return
			}
			if len(clauses[1].Any) != len(tt.longitude) {
				t.Fatalf("longitude = %+v, want %v", clauses[1].Any, tt.longitude)
			}
			for i, s := range tt.longitude {
				check(clauses[1].Any[i], "near:longitude", s)
			}
		})
	}
}

func closeTo(a, b float64) bool { return a-b < 1e-3 && b-a < 1e-3 }

func TestPositionEntries(t *testing.T) {
	t.Parallel()
	body := []byte(`{"resourceType":"Location","id":"x","position":{"latitude":42.25475478,"longitude":-83.6945691}}`)
	entries, err := Extract("Location", body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"near:latitude": 42.25475478, "near:longitude": -83.6945691}
	for _, e := range entries {
		if w, ok := want[e.Param]; ok {
			if e.Kind != store.KindNumber || e.Low != w || e.High != w {
				t.Errorf("entry = %+v, want %g", e, w)
			}
			delete(want, e.Param)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing entries %v in %+v", want, entries)
	}
}

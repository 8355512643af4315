package searchclient

import (
	"fmt"
	"strings"
	"testing"
)

// TestChecksReportBadAnswers makes sure the comparison bites: a correct
// answer passes, and each way a server could get paging, totals or includes
// wrong is reported. It needs no server.
func TestChecksReportBadAnswers(t *testing.T) {
	base := newModel()
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","subject":{"reference":"Patient/p%d"}}`, i, i%2)
		if err := base.add("Observation", fmt.Sprintf("o%d", i), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := base.add("Patient", fmt.Sprintf("p%d", i), []byte(fmt.Sprintf(`{"resourceType":"Patient","id":"p%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	full := base.clone()
	if err := full.add("Observation", "wrt-1", []byte(`{"resourceType":"Observation","id":"wrt-1"}`)); err != nil {
		t.Fatal(err)
	}
	q := query{Name: "all observations", expect: func(m *model) want {
		return want{matches: typeOrder(m.where("Observation", func(*resource) bool { return true })), ordered: true, pageSize: 2,
			includes: func(m *model, page []string) []string { return targets(m, page, "subject") }}
	}}
	total := func(n int) *int { return &n }
	pages := func(total *int, pgs ...[]string) result {
		r := result{Name: q.Name}
		for _, pg := range pgs {
			var matches, includes []string
			for _, ref := range pg {
				if strings.HasPrefix(ref, "Patient/") {
					includes = append(includes, ref)
				} else {
					matches = append(matches, ref)
				}
			}
			r.Pages = append(r.Pages, page{Total: total, Matches: matches, Includes: includes})
		}
		return r
	}
	good := [][]string{{"Observation/o1", "Observation/o2", "Patient/p1", "Patient/p0"}, {"Observation/o3", "Observation/o4", "Patient/p1", "Patient/p0"}, {"Observation/o5", "Patient/p1"}}
	withWriter := [][]string{{"Observation/o1", "Observation/o2", "Patient/p1", "Patient/p0"}, {"Observation/o3", "Observation/o4", "Patient/p1", "Patient/p0"}, {"Observation/o5", "Observation/wrt-1", "Patient/p1"}}

	cases := []struct {
		name string
		r    result
		want string // a fragment of the report; "" for none
	}{
		{"correct", pages(total(5), good...), ""},
		{"correct with a resource written while paging", pages(total(5), withWriter...), ""},
		{"a resource on two pages", pages(total(5), good[0], []string{"Observation/o2", "Observation/o3", "Patient/p0", "Patient/p1"}, []string{"Observation/o4", "Observation/o5", "Patient/p0", "Patient/p1"}), "again on page"},
		{"a gap between pages", pages(total(5), good[0], good[2]), "missing"},
		{"pages out of order", pages(total(5), good[1], good[0], good[2]), "order broken"},
		{"a wrong total", pages(total(4), good...), "total 4"},
		{"no total", pages(nil, good...), "no total"},
		{"an include missing", pages(total(5), good[0], []string{"Observation/o3", "Observation/o4", "Patient/p1"}, good[2]), "includes 1 resources, want 2"},
		{"a short page before the last", pages(total(5), good[0], []string{"Observation/o3", "Patient/p1"}, []string{"Observation/o4", "Observation/o5", "Patient/p0", "Patient/p1"}), "holds 1 matches"},
		{"an unknown resource", pages(total(5), good[0], good[1], []string{"Observation/o5", "Observation/o9", "Patient/p1"}), "unexpected resources"},
		{"a client error", result{Name: q.Name, Error: "HTTP 400"}, "request failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			checkResult(rec, q, c.r, base, full)
			report := strings.Join(rec.errors, "\n")
			switch {
			case c.want == "" && report != "":
				t.Errorf("a correct answer was reported:\n%s", report)
			case c.want != "" && !strings.Contains(report, c.want):
				t.Errorf("report %q does not say %q", report, c.want)
			}
		})
	}

	outcome := pages(total(5), good...)
	outcome.Pages[0].Outcomes = []string{"warning: unknown parameter foo"}
	rec := &recorder{}
	checkResult(rec, q, outcome, base, full)
	if len(rec.errors) == 0 {
		t.Error("an OperationOutcome entry in a page was not reported")
	}
}

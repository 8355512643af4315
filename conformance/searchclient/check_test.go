package searchclient

import (
	"fmt"
	"slices"
	"strings"
)

// reporter is the part of *testing.T the checks use, so that a test of the
// checks can record what they report.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// recorder is a reporter that keeps what the checks report: the checks of
// a query marked with a known server bug, and the test of the checks.
type recorder struct{ errors []string }

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}

// checkResult compares what the client saw with the answer computed over
// the population alone (base) and with everything the writer added (full).
// Resources that existed throughout must all be found, once each; the
// writer's may be found or not, depending on whether they landed before or
// after the page being read, but never out of order. A query the writer
// cannot affect has base equal to full, so the comparison is exact.
func checkResult(t reporter, q query, r result, base, full *model) {
	t.Helper()
	wb, wf := q.expect(base), q.expect(full)
	if r.Error != "" {
		t.Errorf("request failed: %s", r.Error)
		return
	}
	if len(r.Pages) == 0 {
		t.Errorf("no page")
		return
	}
	for i, pg := range r.Pages {
		if len(pg.Outcomes) > 0 {
			t.Errorf("page %d carries OperationOutcome issues (part of the search was not applied?): %s; self link %s",
				i+1, strings.Join(pg.Outcomes, " | "), deref(pg.Self))
		}
	}
	if wb.countOnly {
		checkCountOnly(t, r, wb, wf)
		return
	}
	if wb.everything != "" {
		checkEverything(t, r, wb, wf)
		return
	}

	var got []string
	where := map[string]int{} // page of each match, for messages
	for i, pg := range r.Pages {
		for _, ref := range pg.Matches {
			if first, dup := where[ref]; dup {
				t.Errorf("%s is on page %d and again on page %d", ref, first+1, i+1)
				continue
			}
			where[ref] = i
			got = append(got, ref)
		}
	}
	checkSets(t, got, wb.matches, wf.matches, wf.extra)
	if wb.ordered {
		checkOrder(t, got, wf.matches, where)
	}
	if wb.noTotal {
		for i, pg := range r.Pages {
			if pg.Total != nil {
				t.Errorf("page %d has total %d with _total=none", i+1, *pg.Total)
			}
		}
	} else {
		checkTotals(t, r, len(wb.matches), len(wf.matches))
	}
	if wb.pageSize > 0 {
		for i, pg := range r.Pages {
			last := i == len(r.Pages)-1
			if n := len(pg.Matches); n > wb.pageSize || (!last && n != wb.pageSize) || (last && n == 0 && i > 0) {
				t.Errorf("page %d of %d holds %d matches with _count=%d", i+1, len(r.Pages), n, wb.pageSize)
			}
		}
	}
	for i, pg := range r.Pages {
		if wf.includes == nil {
			if len(pg.Includes) > 0 {
				t.Errorf("page %d includes %v, but the search asked for none", i+1, pg.Includes)
			}
			continue
		}
		if dups := duplicates(pg.Includes); len(dups) > 0 {
			t.Errorf("page %d includes %v more than once", i+1, dups)
		}
		want := sortedUnique(slices.DeleteFunc(wf.includes(full, pg.Matches), func(ref string) bool {
			return slices.Contains(pg.Matches, ref)
		}))
		if gotInc := sortedUnique(pg.Includes); !slices.Equal(gotInc, want) {
			missing, extra := diff(want, gotInc), diff(gotInc, want)
			t.Errorf("page %d includes %d resources, want %d: missing %s, unexpected %s", i+1, len(gotInc), len(want), brief(missing), brief(extra))
		}
	}
	t.Logf("%d pages, %d matches (%d from the writer), %d included", len(r.Pages), len(got), countWriter(got), countIncludes(r))
}

// checkSets requires every resource of base in got, and nothing in got
// outside full (or admitted by extra).
func checkSets(t reporter, got, base, full []string, extra func(string) bool) {
	t.Helper()
	missing := diff(base, got)
	unexpected := slices.DeleteFunc(diff(got, full), func(ref string) bool { return extra != nil && extra(ref) })
	if len(missing) > 0 {
		t.Errorf("%d expected resources missing (of %d): %s", len(missing), len(base), brief(missing))
	}
	if len(unexpected) > 0 {
		t.Errorf("%d unexpected resources: %s", len(unexpected), brief(unexpected))
	}
}

// checkOrder requires got to follow the order of want (a subsequence of it).
func checkOrder(t reporter, got, want []string, page map[string]int) {
	t.Helper()
	pos := make(map[string]int, len(want))
	for i, ref := range want {
		pos[ref] = i
	}
	prev := ""
	for _, ref := range got {
		i, ok := pos[ref]
		if !ok {
			continue // reported as unexpected
		}
		if prev != "" && i < pos[prev] {
			t.Errorf("order broken: %s (page %d) comes after %s (page %d), want it before", ref, page[ref]+1, prev, page[prev]+1)
			return
		}
		prev = ref
	}
}

// checkTotals requires a total on the first page, and every total between
// the matches that existed throughout and all that could be counted.
func checkTotals(t reporter, r result, low, high int) {
	t.Helper()
	if r.Pages[0].Total == nil {
		t.Errorf("first page has no total")
	}
	for i, pg := range r.Pages {
		if pg.Total != nil && (*pg.Total < low || *pg.Total > high) {
			if low == high {
				t.Errorf("page %d: total %d, want %d", i+1, *pg.Total, low)
			} else {
				t.Errorf("page %d: total %d, want between %d and %d", i+1, *pg.Total, low, high)
			}
		}
	}
}

func checkCountOnly(t reporter, r result, wb, wf want) {
	t.Helper()
	if len(r.Pages) != 1 {
		t.Errorf("_summary=count answered %d pages, want 1", len(r.Pages))
	}
	pg := r.Pages[0]
	if len(pg.Matches)+len(pg.Includes) > 0 {
		t.Errorf("_summary=count answered %d entries, want none", len(pg.Matches)+len(pg.Includes))
	}
	checkTotals(t, r, len(wb.matches), len(wf.matches))
	t.Logf("total %d", deref(pg.Total))
}

// checkEverything: the Patient first, then its compartment, once each, in
// pages; resources the compartment refers to are admitted too.
func checkEverything(t reporter, r result, wb, wf want) {
	t.Helper()
	var got []string
	seen := map[string]int{}
	for i, pg := range r.Pages {
		for _, ref := range slices.Concat(pg.Matches, pg.Includes) {
			if first, dup := seen[ref]; dup {
				t.Errorf("%s is on page %d and again on page %d", ref, first+1, i+1)
				continue
			}
			seen[ref] = i
			got = append(got, ref)
		}
	}
	if len(got) == 0 || got[0] != wb.everything {
		t.Errorf("$everything starts with %v, want %s", slices.Collect(func(yield func(string) bool) {
			if len(got) > 0 {
				yield(got[0])
			}
		}), wb.everything)
	}
	checkSets(t, got, wb.matches, wf.matches, wf.extra)
	t.Logf("%d pages, %d resources (%d beyond the compartment)", len(r.Pages), len(got), len(diff(got, wf.matches)))
}

// diff returns the strings of a not in b, in a's order.
func diff(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

func duplicates(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if seen[s] {
			out = append(out, s)
		}
		seen[s] = true
	}
	return out
}

// brief prints at most ten references.
func brief(refs []string) string {
	if len(refs) > 10 {
		return fmt.Sprintf("%v … (%d more)", refs[:10], len(refs)-10)
	}
	return fmt.Sprint(refs)
}

func countWriter(refs []string) int {
	n := 0
	for _, ref := range refs {
		if strings.Contains(ref, "/wrt-") {
			n++
		}
	}
	return n
}

func countIncludes(r result) int {
	n := 0
	for _, pg := range r.Pages {
		n += len(pg.Includes)
	}
	return n
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

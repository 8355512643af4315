package fhir

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/telehub/telehub/store"
)

// put stores a resource under a chosen id.
func (ts *testServer) put(typ, id, body string) {
	ts.t.Helper()
	r := ts.do(http.MethodPut, "/fhir/"+typ+"/"+id, body)
	if r.Code != http.StatusCreated && r.Code != http.StatusOK {
		ts.t.Fatalf("put %s/%s: status %d: %s", typ, id, r.Code, r.Body.String())
	}
}

func observation(id, subject, code string) string {
	return fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":%q}]},"subject":{"reference":%q}}`, id, code, subject)
}

// ids returns "Type/id" of the entries with a search mode, in order.
func (r *response) ids(mode string) []string {
	var out []string
	for _, e := range r.entries() {
		if e["search"].(map[string]any)["mode"] != mode {
			continue
		}
		res := e["resource"].(map[string]any)
		out = append(out, res["resourceType"].(string)+"/"+res["id"].(string))
	}
	return out
}

func sorted(list []string) string {
	list = slices.Clone(list)
	slices.Sort(list)
	return strings.Join(list, ",")
}

// outcomeText returns the diagnostics of the outcome entry, "" without one.
func (r *response) outcomeText() string {
	var out []string
	for _, e := range r.entries() {
		if e["search"].(map[string]any)["mode"] != "outcome" {
			continue
		}
		for _, is := range e["resource"].(map[string]any)["issue"].([]any) {
			out = append(out, is.(map[string]any)["diagnostics"].(string))
		}
	}
	return strings.Join(out, "; ")
}

// clinic stores a small graph: Organization o1; Patients p1 and p2 managed
// by o1 (p3 by nobody); Practitioner dr; Observations a and b on p1 (b
// performed by dr), c on p2.
func clinic(ts *testServer) {
	ts.put("Organization", "o1", `{"resourceType":"Organization","id":"o1","name":"Acme Clinic"}`)
	ts.put("Practitioner", "dr", `{"resourceType":"Practitioner","id":"dr","name":[{"family":"House"}]}`)
	for _, p := range []struct{ id, family, org string }{{"p1", "Alpha", "o1"}, {"p2", "Bravo", "o1"}, {"p3", "Charlie", ""}} {
		org := ""
		if p.org != "" {
			org = `,"managingOrganization":{"reference":"Organization/` + p.org + `"}`
		}
		ts.put("Patient", p.id, `{"resourceType":"Patient","id":"`+p.id+`","name":[{"family":"`+p.family+`"}]`+org+`}`)
	}
	ts.put("Observation", "a", observation("a", "Patient/p1", "1234"))
	ts.put("Observation", "b", `{"resourceType":"Observation","id":"b","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"5678"}]},"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/dr"}]}`)
	ts.put("Observation", "c", observation("c", "Patient/p2", "1234"))
}

func TestSearchInclude(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	clinic(ts)
	testSearchInclude(t, ts)
}

func testSearchInclude(t *testing.T, ts *testServer) {
	tests := []struct {
		name, query      string
		matches, include string
		outcome          string // a part of the outcome's diagnostics, "" for none
	}{
		{"include", "Observation?_include=Observation:subject", "Observation/a,Observation/b,Observation/c", "Patient/p1,Patient/p2", ""},
		{"include typed", "Observation?_include=Observation:subject:Patient", "Observation/a,Observation/b,Observation/c", "Patient/p1,Patient/p2", ""},
		{"include other target type", "Observation?_include=Observation:subject:Group", "Observation/a,Observation/b,Observation/c", "", ""},
		{"no duplicates", "Observation?code=1234&_include=Observation:subject&_include=Observation:patient", "Observation/a,Observation/c", "Patient/p1,Patient/p2", ""},
		{"include iterate", "Observation?_id=a&_include=Observation:subject&_include:iterate=Patient:organization", "Observation/a", "Organization/o1,Patient/p1", ""},
		{"include without iterate stays one level", "Observation?_id=a&_include=Observation:subject&_include=Patient:organization", "Observation/a", "Patient/p1", "use _include:iterate"},
		{"include star", "Observation?_id=b&_include=*", "Observation/b", "Patient/p1,Practitioner/dr", ""},
		{"revinclude", "Patient?_revinclude=Observation:subject", "Patient/p1,Patient/p2,Patient/p3", "Observation/a,Observation/b,Observation/c", ""},
		{"revinclude of a page", "Patient?_id=p2&_revinclude=Observation:subject", "Patient/p2", "Observation/c", ""},
		{"revinclude source star", "Practitioner?_revinclude=Observation:*", "Practitioner/dr", "Observation/b", ""},
		{"revinclude iterate", "Organization?_revinclude=Patient:organization&_revinclude:iterate=Observation:subject", "Organization/o1", "Observation/a,Observation/b,Observation/c,Patient/p1,Patient/p2", ""},
		{"revinclude star", "Patient?_id=p2&_revinclude=*", "Patient/p2", "Observation/c", ""},
		{"bad include value", "Patient?_id=p3&_include=Patient", "Patient/p3", "", "SourceType:parameter"},
		{"matches are not included again", "Patient?_revinclude=Patient:link&_include=Patient:link", "Patient/p1,Patient/p2,Patient/p3", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/fhir/"+tt.query, "").mustStatus(t, http.StatusOK)
			if got := sorted(r.ids("match")); got != tt.matches {
				t.Errorf("matches %s, want %s", got, tt.matches)
			}
			if got := sorted(r.ids("include")); got != tt.include {
				t.Errorf("included %s, want %s", got, tt.include)
			}
			if got := r.outcomeText(); tt.outcome == "" && got != "" || !strings.Contains(got, tt.outcome) {
				t.Errorf("outcome %q, want one with %q", got, tt.outcome)
			}
			if tt.outcome == "" && !strings.Contains(r.link("self"), "_include") && !strings.Contains(r.link("self"), "_revinclude") {
				t.Errorf("self link %s does not show the includes", r.link("self"))
			}
			if tt.outcome != "" {
				ts.do(http.MethodGet, "/fhir/"+tt.query, "", "Prefer", "handling=strict").mustStatus(t, http.StatusBadRequest).isOutcome(t, codeNotSupported)
			}
		})
	}
}

// Included resources are bounded per page, and the page says so.
func TestSearchIncludeBound(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{MaxIncluded: 2})
	clinic(ts)
	r := ts.do(http.MethodGet, "/fhir/Patient?_id=p1,p2&_revinclude=Observation:subject", "").mustStatus(t, http.StatusOK)
	if n := len(r.ids("include")); n != 2 {
		t.Errorf("%d included, want the bound 2", n)
	}
	if !strings.Contains(r.outcomeText(), "cut at 2") {
		t.Errorf("no warning about the cut: %s", r.Body.String())
	}
	r = ts.do(http.MethodGet, "/fhir/Patient?_id=p2&_revinclude=Observation:subject", "").mustStatus(t, http.StatusOK)
	if n := len(r.ids("include")); n != 1 || r.outcomeText() != "" {
		t.Errorf("under the bound: %d included, outcome %q", n, r.outcomeText())
	}
}

func TestSearchTotalAndSummary(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	clinic(ts)
	testSearchTotalAndSummary(t, ts)
}

func testSearchTotalAndSummary(t *testing.T, ts *testServer) {
	tests := []struct {
		query   string
		total   any // float64, or nil for none
		entries int
	}{
		{"Patient", float64(3), 3},
		{"Patient?_total=none", nil, 3},
		{"Patient?_total=estimate", float64(3), 3},
		{"Patient?_total=accurate&_count=1", float64(3), 1},
		{"Patient?_summary=count", float64(3), 0},
		{"Patient?_summary=count&_total=none", float64(3), 0},
		{"Patient?_count=0", float64(3), 0},
		{"Patient?_count=0&_total=none", nil, 0},
		{"Observation?_summary=count&code=1234", float64(2), 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/fhir/"+tt.query, "").mustStatus(t, http.StatusOK)
			if got := r.get("total"); got != tt.total {
				t.Errorf("total %v, want %v", got, tt.total)
			}
			if n := len(r.entries()); n != tt.entries {
				t.Errorf("%d entries, want %d", n, tt.entries)
			}
			if r.link("next") != "" && tt.entries == 0 {
				t.Errorf("a count-only answer has a next link")
			}
		})
	}
	r := ts.do(http.MethodGet, "/fhir/Observation?_id=b&_include=Observation:subject&_elements=status", "").mustStatus(t, http.StatusOK)
	if len(r.entries()) != 2 {
		t.Fatalf("want the match and its include: %s", r.Body.String())
	}
	for _, e := range r.entries() {
		res := e["resource"].(map[string]any)
		if _, ok := res["subject"]; ok {
			t.Errorf("_elements not applied to %s entry: %v", e["search"], res)
		}
		if _, ok := res["name"]; ok {
			t.Errorf("_elements not applied to %s entry: %v", e["search"], res)
		}
	}
}

func TestSearchList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	clinic(ts)
	testSearchList(t, ts)
}

func testSearchList(t *testing.T, ts *testServer) {
	ts.put("List", "l1", `{"resourceType":"List","id":"l1","status":"current","mode":"working","entry":[{"item":{"reference":"Patient/p1"}},{"item":{"reference":"`+testBase+`/Observation/c"}},{"item":{"reference":"Patient/nope"}}]}`)
	tests := []struct{ query, want string }{
		{"/Patient?_list=l1", "Patient/p1"},
		{"/Observation?_list=l1", "Observation/c"},
		{"?_list=l1", "Observation/c,Patient/p1"},
		{"/Patient?_list=l1&name=bravo", ""},
		{"/Patient?_list=missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/fhir"+tt.query, "").mustStatus(t, http.StatusOK)
			if got := sorted(r.ids("match")); got != tt.want {
				t.Errorf("matches %s, want %s", got, tt.want)
			}
			if !strings.Contains(r.link("self"), "_list=") {
				t.Errorf("self link %s lost _list", r.link("self"))
			}
		})
	}
}

func TestSearchChainAndHas(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	clinic(ts)
	testSearchChainAndHas(t, ts)
}

func testSearchChainAndHas(t *testing.T, ts *testServer) {
	tests := []struct{ query, want string }{
		{"Observation?subject:Patient.name=alpha", "Observation/a,Observation/b"},
		{"Observation?subject.name=bravo", "Observation/c"},
		{"Observation?patient.organization.name=acme", "Observation/a,Observation/b,Observation/c"},
		{"Observation?patient.organization.name=nobody", ""},
		{"Observation?subject:Patient.name=alpha&code=5678", "Observation/b"},
		{"Patient?_has:Observation:subject:code=1234", "Patient/p1,Patient/p2"},
		{"Patient?_has:Observation:subject:code=5678", "Patient/p1"},
		{"Organization?_has:Patient:organization:_has:Observation:subject:code=5678", "Organization/o1"},
		{"Patient?_has:Observation:subject:performer.name=house", "Patient/p1"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/fhir/"+tt.query, "", "Prefer", "handling=strict").mustStatus(t, http.StatusOK)
			if got := sorted(r.ids("match")); got != tt.want {
				t.Errorf("matches %s, want %s", got, tt.want)
			}
		})
	}
	ts.do(http.MethodGet, "/fhir/Observation?subject.shoe=1", "", "Prefer", "handling=strict").mustStatus(t, http.StatusBadRequest)
	r := ts.do(http.MethodGet, "/fhir/Observation?subject.shoe=1", "").mustStatus(t, http.StatusOK)
	if r.outcomeText() == "" {
		t.Errorf("an unknown chained parameter is not reported")
	}
}

func TestCompartment(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	clinic(ts)
	testCompartment(t, ts)
}

func testCompartment(t *testing.T, ts *testServer) {
	tests := []struct {
		path, want string
		status     int
	}{
		{"Patient/p1/Observation", "Observation/a,Observation/b", http.StatusOK},
		{"Patient/p1/Observation?code=5678", "Observation/b", http.StatusOK},
		{"Patient/p2/Observation", "Observation/c", http.StatusOK},
		{"Patient/p1/*", "Observation/a,Observation/b", http.StatusOK},
		{"Patient/p1/*?_type=Observation", "Observation/a,Observation/b", http.StatusOK},
		{"Practitioner/dr/Observation", "Observation/b", http.StatusOK},
		{"Patient/p1/Organization", "", http.StatusNotFound},
		{"Organization/o1/Patient", "", http.StatusNotFound},
		{"Patient/p1/$everything", "Patient/p1,Observation/a,Observation/b", http.StatusOK},
		{"Patient/p1/$everything?_type=Observation", "Observation/a,Observation/b", http.StatusOK},
		{"Patient/p1/$everything?_since=3000-01-01", "", http.StatusOK},
		{"Patient/nobody/$everything", "", http.StatusNotFound},
		{"Observation/a/$everything", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/fhir/"+tt.path, "").mustStatus(t, tt.status)
			if tt.status != http.StatusOK {
				r.isOutcome(t, "")
				return
			}
			got := r.ids("match")
			if strings.Contains(tt.path, "$everything") {
				if strings.Join(got, ",") != tt.want && !(len(got) > 0 && got[0] == "Patient/p1" && sorted(got) == sorted(strings.Split(tt.want, ","))) {
					t.Errorf("matches %v, want %s with the Patient first", got, tt.want)
				}
				return
			}
			if sorted(got) != tt.want {
				t.Errorf("matches %s, want %s", sorted(got), tt.want)
			}
		})
	}

	if total := ts.do(http.MethodGet, "/fhir/Patient/p1/$everything", "").get("total"); total != float64(3) {
		t.Errorf("$everything total %v, want 3 (the Patient and 2 Observations)", total)
	}
	// Unknown parameters: ignored and reported, refused when strict.
	for _, path := range []string{"Patient/p1/Observation?shoe=1", "Patient/p1/$everything?shoe=1", "Patient/p1/*?shoe=1", "Patient?_list=bad!id", "Patient/$everything?shoe=1"} {
		r := ts.do(http.MethodGet, "/fhir/"+path, "").mustStatus(t, http.StatusOK)
		if r.outcomeText() == "" {
			t.Errorf("%s: the unknown parameter is not reported", path)
		}
		ts.do(http.MethodGet, "/fhir/"+path, "", "Prefer", "handling=strict").mustStatus(t, http.StatusBadRequest)
	}

	// $everything pages: the Patient once, on the first page.
	var all []string
	path := "/fhir/Patient/p1/$everything?_count=1"
	for path != "" {
		r := ts.do(http.MethodGet, path, "").mustStatus(t, http.StatusOK)
		all = append(all, r.ids("match")...)
		path = ""
		if next := r.link("next"); next != "" {
			path = pathOf(t, next)
		}
	}
	if sorted(all) != "Observation/a,Observation/b,Patient/p1" || len(all) != 3 {
		t.Errorf("paged $everything gave %v", all)
	}

	r := ts.do(http.MethodGet, "/fhir/Patient/$everything?_id=p1,p2", "").mustStatus(t, http.StatusOK)
	if got := sorted(r.ids("match")); got != "Patient/p1,Patient/p2" {
		t.Errorf("type $everything matches %s", got)
	}
	if got := sorted(r.ids("include")); got != "Observation/a,Observation/b,Observation/c" {
		t.Errorf("type $everything compartments %s", got)
	}
}

// Walking every page of a search while other clients create and update
// resources sees every resource that existed throughout exactly once.
func TestSearchPagingUnderWrites(t *testing.T) {
	t.Parallel()
	testPagingUnderWrites(t, func(t *testing.T) *testServer { return newTestServer(t, Options{}) })
}

func testPagingUnderWrites(t *testing.T, newServer func(t *testing.T) *testServer) {
	for _, sortBy := range []string{"", "family", "-_id"} {
		t.Run("sort="+sortBy, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t)
			const n = 40
			var ids []string
			for i := range n {
				ids = append(ids, ts.create(fmt.Sprintf("Stable%02d", i)))
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				// New resources match and may sort after the cursor, so a
				// writer faster than the pager (a slow machine, the race
				// detector) would keep the paging going: it stops at
				// maxNew, which leaves the paging well under its bound.
				const maxNew = 4 * n
				for i := 0; i < maxNew; i++ {
					select {
					case <-stop:
						return
					default:
					}
					// A new resource that matches, and an update of an old one.
					serve(ts, http.MethodPost, "/fhir/Patient", patient("", fmt.Sprintf("Stable%02d-new%d", i%n, i)))
					id := ids[i%n]
					serve(ts, http.MethodPut, "/fhir/Patient/"+id, patient(id, fmt.Sprintf("Stable%02d", i%n)))
				}
			}()
			seen := map[string]int{}
			q := url.Values{"family": {"stable"}, "_count": {"3"}}
			if sortBy != "" {
				q.Set("_sort", sortBy)
			}
			path := "/fhir/Patient?" + q.Encode()
			for pages := 0; path != ""; pages++ {
				if pages > 100 {
					t.Fatal("paging does not end")
				}
				r := ts.do(http.MethodGet, path, "").mustStatus(t, http.StatusOK)
				for _, id := range r.ids("match") {
					seen[id]++
				}
				path = ""
				if next := r.link("next"); next != "" {
					path = pathOf(t, next)
				}
			}
			close(stop)
			wg.Wait()
			for _, id := range ids {
				if c := seen["Patient/"+id]; c != 1 {
					t.Errorf("Patient/%s seen %d times, want once", id, c)
				}
			}
			for id, c := range seen {
				if c > 1 {
					t.Errorf("%s seen %d times", id, c)
				}
			}
		})
	}
}

// serve sends a request from another goroutine (no test helpers there).
func serve(ts *testServer, method, path, body string) int {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	rec := httptest.NewRecorder()
	ts.e.ServeHTTP(rec, req)
	return rec.Code
}

func TestSearchCursorErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	clinic(ts)
	r := ts.do(http.MethodGet, "/fhir/Patient?_count=1", "").mustStatus(t, http.StatusOK)
	next := r.link("next")
	u, err := url.Parse(next)
	if err != nil || u.Query().Get("_cursor") == "" {
		t.Fatalf("next link %q has no cursor", next)
	}
	cursor := u.Query().Get("_cursor")
	tests := []struct{ name, path string }{
		{"other criteria", "/fhir/Patient?name=alpha&_cursor=" + url.QueryEscape(cursor)},
		{"other type", "/fhir/Observation?_cursor=" + url.QueryEscape(cursor)},
		{"garbage", "/fhir/Patient?_cursor=garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.do(http.MethodGet, tt.path, "").mustStatus(t, http.StatusBadRequest).isOutcome(t, codeValue)
		})
	}
	ts.do(http.MethodGet, pathOf(t, next), "").mustStatus(t, http.StatusOK)

	// A cursor is bound to the chain's inner criteria too.
	r = ts.do(http.MethodGet, "/fhir/Observation?subject:Patient.name=alpha&_count=1", "").mustStatus(t, http.StatusOK)
	u, _ = url.Parse(r.link("next"))
	chained := u.Query().Get("_cursor")
	if chained == "" {
		t.Fatalf("no cursor in %s", r.link("next"))
	}
	ts.do(http.MethodGet, "/fhir/Observation?subject:Patient.name=bravo&_count=1&_cursor="+url.QueryEscape(chained), "").mustStatus(t, http.StatusBadRequest)
	ts.do(http.MethodGet, "/fhir/Observation?subject:Patient.name=alpha&_count=1&_cursor="+url.QueryEscape(chained), "").mustStatus(t, http.StatusOK)

	// Values beyond float range page like any other.
	r = ts.do(http.MethodGet, "/fhir/Observation?value-quantity=gt1e999&_count=1", "")
	if r.Code != http.StatusOK {
		t.Errorf("huge number: status %d: %s", r.Code, r.Body.String())
	}
}

func TestSearchFailed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int // 0: an internal error
	}{
		{"too costly", fmt.Errorf("mongo: chain: %w", store.ErrTooCostly), http.StatusBadRequest},
		{"other", errors.New("disk on fire"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := searchFailed("search", tt.err)
			var ae *apiError
			switch {
			case tt.status == 0 && errors.As(err, &ae):
				t.Errorf("internal error answered as %d: %v", ae.status, ae)
			case tt.status != 0 && (!errors.As(err, &ae) || ae.status != tt.status || ae.code != codeTooCostly):
				t.Errorf("got %v, want %d too-costly", err, tt.status)
			case !errors.Is(err, tt.err) && tt.status == 0:
				t.Errorf("internal error %v lost its cause", err)
			}
		})
	}
}

package fhir

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// pathOf turns an absolute link into the request path the test server takes.
func pathOf(t *testing.T, link string) string {
	t.Helper()
	if !strings.HasPrefix(link, testBase) {
		t.Fatalf("link %q is not under the base URL", link)
	}
	return "/fhir" + strings.TrimPrefix(link, testBase)
}

func TestSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Findme")
	ts.create("Other")
	ts.do(http.MethodPost, "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"identifier":[{"system":"`+mrn+`","value":"Findme"}]}`).mustStatus(t, http.StatusCreated)
	tests := []struct {
		name, path string
		headers    []string
		status     int
		total      float64
		outcome    bool // an outcome entry lists ignored parameters
	}{
		{"by identifier", "/fhir/Patient?identifier=" + mrn + "|Findme", nil, http.StatusOK, 1, false},
		{"by _id", "/fhir/Patient?_id=" + id, nil, http.StatusOK, 1, false},
		{"by family", "/fhir/Patient?family=findme", nil, http.StatusOK, 1, false},
		{"bad _include reported as ignored", "/fhir/Patient?_include=Patient:shoe", nil, http.StatusOK, 2, true},
		{"bad _include strict", "/fhir/Patient?_include=Patient:shoe", []string{"Prefer", "handling=strict"}, http.StatusBadRequest, 0, false},
		{"bad _total ignored", "/fhir/Patient?_total=maybe", nil, http.StatusOK, 2, true},
		{"bad _total strict", "/fhir/Patient?_total=maybe", []string{"Prefer", "handling=strict"}, http.StatusBadRequest, 0, false},
		{"unknown sort key ignored", "/fhir/Patient?_sort=shoe-size", nil, http.StatusOK, 2, true},
		{"all of a type", "/fhir/Patient", nil, http.StatusOK, 2, false},
		{"unknown parameter ignored", "/fhir/Patient?shoe-size=42", nil, http.StatusOK, 2, true},
		{"unknown parameter strict", "/fhir/Patient?shoe-size=42", []string{"Prefer", "handling=strict"}, http.StatusBadRequest, 0, false},
		{"GET _search", "/fhir/Patient/_search?_id=" + id, nil, http.StatusOK, 1, false},
		{"system search by type", "/fhir?_type=Patient,Observation&identifier=" + mrn + "|Findme", nil, http.StatusOK, 2, false},
		{"system search all", "/fhir", nil, http.StatusOK, 3, false},
		{"unknown _type", "/fhir?_type=Nope", nil, http.StatusBadRequest, 0, false},
		{"_summary=count", "/fhir/Patient?_summary=count", nil, http.StatusOK, 2, false},
		{"bad _count", "/fhir/Patient?_count=-1", nil, http.StatusBadRequest, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodGet, tt.path, "", tt.headers...).mustStatus(t, tt.status)
			if tt.status != http.StatusOK {
				r.isOutcome(t, "")
				return
			}
			if r.str("type") != "searchset" {
				t.Fatalf("not a searchset: %s", r.Body.String())
			}
			if got := r.get("total"); got != tt.total {
				t.Errorf("total %v, want %v", got, tt.total)
			}
			matches, outcomes := 0, 0
			for _, e := range r.entries() {
				mode := e["search"].(map[string]any)["mode"]
				switch mode {
				case "match":
					matches++
					res := e["resource"].(map[string]any)
					want := testBase + "/" + res["resourceType"].(string) + "/" + res["id"].(string)
					if e["fullUrl"] != want {
						t.Errorf("fullUrl %v, want %s", e["fullUrl"], want)
					}
				case "outcome":
					outcomes++
				}
			}
			if strings.Contains(tt.path, "_summary=count") {
				if matches != 0 {
					t.Errorf("_summary=count returned %d entries", matches)
				}
			} else if float64(matches) != tt.total {
				t.Errorf("%d match entries, want %v", matches, tt.total)
			}
			if (outcomes == 1) != tt.outcome {
				t.Errorf("%d outcome entries, want outcome=%v", outcomes, tt.outcome)
			}
			if r.link("self") == "" {
				t.Errorf("no self link")
			}
		})
	}
}

func TestSearchSort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	for _, family := range []string{"Bravo", "Alpha", "Charlie"} {
		ts.create(family)
	}
	tests := []struct{ sort, want string }{
		{"family", "Alpha,Bravo,Charlie"},
		{"-family", "Charlie,Bravo,Alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.sort, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/fhir/Patient?_sort="+tt.sort, "").mustStatus(t, http.StatusOK)
			var got []string
			for _, e := range r.entries() {
				got = append(got, e["resource"].(map[string]any)["name"].([]any)[0].(map[string]any)["family"].(string))
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("order %v, want %s", got, tt.want)
			}
			if !strings.Contains(r.link("self"), "_sort=") {
				t.Errorf("self link lost _sort: %s", r.link("self"))
			}
		})
	}
}

func TestSearchPost(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Posted")
	ts.create("Other")
	form := url.Values{"_id": {id}}.Encode()
	r := ts.do(http.MethodPost, "/fhir/Patient/_search", form, "Content-Type", "application/x-www-form-urlencoded").mustStatus(t, http.StatusOK)
	if got := r.get("total"); got != float64(1) {
		t.Errorf("total %v, want 1", got)
	}
	ts.do(http.MethodPost, "/fhir/Patient/_search", form, "Content-Type", "text/plain").mustStatus(t, http.StatusUnsupportedMediaType)
}

func TestSearchPaging(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{DefaultPageSize: 2, MaxPageSize: 3})
	for range 5 {
		ts.create("Paged")
	}
	seen := map[string]bool{}
	path := "/fhir/Patient?identifier=" + url.QueryEscape(mrn+"|Paged")
	pages := 0
	for path != "" {
		r := ts.do(http.MethodGet, path, "").mustStatus(t, http.StatusOK)
		pages++
		if strings.Contains(r.Body.String(), `\u0026`) {
			t.Errorf("links are HTML-escaped: %s", r.Body.String())
		}
		if got := r.get("total"); got != float64(5) {
			t.Fatalf("page %d: total %v, want 5", pages, got)
		}
		for _, e := range r.entries() {
			id := e["resource"].(map[string]any)["id"].(string)
			if seen[id] {
				t.Errorf("page %d repeats %s", pages, id)
			}
			seen[id] = true
		}
		if prev := r.link("previous"); prev != "" {
			t.Errorf("page %d, reached by cursor, has a previous link %s", pages, prev)
		}
		if next := r.link("next"); next != "" {
			if !strings.Contains(next, "identifier=") {
				t.Errorf("next link %q lost the criteria", next)
			}
			if !strings.Contains(next, "_cursor=") || strings.Contains(next, "_offset=") {
				t.Errorf("next link %q does not continue by cursor alone", next)
			}
			path = pathOf(t, next)
		} else {
			path = ""
		}
	}
	if pages != 3 || len(seen) != 5 {
		t.Errorf("%d pages, %d resources; want 3 pages of 5 resources", pages, len(seen))
	}
	r := ts.do(http.MethodGet, "/fhir/Patient?_count=100", "").mustStatus(t, http.StatusOK)
	if n := len(r.entries()); n != 3 {
		t.Errorf("_count over the maximum gave %d entries, want 3", n)
	}
	// Paging by _offset keeps previous links.
	r = ts.do(http.MethodGet, "/fhir/Patient?_count=2&_offset=2", "").mustStatus(t, http.StatusOK)
	if prev := r.link("previous"); !strings.Contains(prev, "_count=2") || strings.Contains(prev, "_offset") {
		t.Errorf("previous link of the second offset page %q, want the first page", prev)
	}
	if n := len(r.entries()); n != 2 {
		t.Errorf("offset page has %d entries, want 2", n)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("V1")
	ts.do(http.MethodPut, "/fhir/Patient/"+id, patient(id, "V2")).mustStatus(t, http.StatusOK)
	time.Sleep(5 * time.Millisecond) // lastUpdated is millisecond precision: keep _since apart
	since := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	ts.do(http.MethodDelete, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusOK)
	ts.do(http.MethodPost, "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`).mustStatus(t, http.StatusCreated)
	tests := []struct {
		name, path string
		total      float64
		methods    []string // entry.request.method, newest first
	}{
		{"instance", "/fhir/Patient/" + id + "/_history", 3, []string{"DELETE", "PUT", "POST"}},
		{"type", "/fhir/Patient/_history", 3, []string{"DELETE", "PUT", "POST"}},
		{"system", "/fhir/_history", 4, []string{"POST", "DELETE", "PUT", "POST"}},
		{"since", "/fhir/Patient/" + id + "/_history?_since=" + url.QueryEscape(since.Format(time.RFC3339Nano)), 1, []string{"DELETE"}},
		{"at", "/fhir/Patient/" + id + "/_history?_at=" + url.QueryEscape(since.Format(time.RFC3339Nano)), 1, []string{"PUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodGet, tt.path, "").mustStatus(t, http.StatusOK)
			if r.str("type") != "history" {
				t.Fatalf("not a history bundle: %s", r.Body.String())
			}
			if got := r.get("total"); got != tt.total {
				t.Errorf("total %v, want %v", got, tt.total)
			}
			entries := r.entries()
			if len(entries) != len(tt.methods) {
				t.Fatalf("%d entries, want %d", len(entries), len(tt.methods))
			}
			for i, e := range entries {
				req := e["request"].(map[string]any)
				if req["method"] != tt.methods[i] {
					t.Errorf("entry %d method %v, want %s", i, req["method"], tt.methods[i])
				}
				if _, hasResource := e["resource"]; hasResource == (tt.methods[i] == "DELETE") {
					t.Errorf("entry %d (%s): resource present=%v", i, tt.methods[i], hasResource)
				}
				if e["response"].(map[string]any)["etag"] == nil {
					t.Errorf("entry %d has no etag", i)
				}
			}
		})
	}
}

func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("V")
	for range 4 {
		ts.do(http.MethodPut, "/fhir/Patient/"+id, patient(id, "V")).mustStatus(t, http.StatusOK)
	}
	var versions []string
	path := "/fhir/Patient/" + id + "/_history?_count=2"
	for path != "" {
		r := ts.do(http.MethodGet, path, "").mustStatus(t, http.StatusOK)
		for _, e := range r.entries() {
			versions = append(versions, e["resource"].(map[string]any)["meta"].(map[string]any)["versionId"].(string))
		}
		path = ""
		if next := r.link("next"); next != "" {
			path = pathOf(t, next)
		}
	}
	if got := strings.Join(versions, ","); got != "5,4,3,2,1" {
		t.Errorf("versions through the pages %s, want 5,4,3,2,1", got)
	}
}

func TestSummaryElements(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	r := ts.do(http.MethodPost, "/fhir/Patient", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"name":[{"family":"Sum"}],"gender":"male","maritalStatus":{"text":"single"}}`).mustStatus(t, http.StatusCreated)
	id := r.str("id")
	tests := []struct {
		name, query string
		present     []string
		absent      []string
	}{
		{"full", "", []string{"text", "name", "maritalStatus"}, nil},
		{"summary true", "_summary=true", []string{"name", "gender"}, []string{"text", "maritalStatus"}},
		{"summary data", "_summary=data", []string{"name", "maritalStatus"}, []string{"text"}},
		{"summary text", "_summary=text", []string{"text"}, []string{"name"}},
		{"summary false", "_summary=false", []string{"text", "name"}, nil},
		{"elements", "_elements=gender", []string{"gender", "id"}, []string{"name", "text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/fhir/Patient/" + id + "?" + tt.query, "/fhir/Patient/" + id + "/_history/1?" + tt.query} {
				r := ts.do(http.MethodGet, path, "").mustStatus(t, http.StatusOK)
				checkElements(t, path, r.json, tt.present, tt.absent)
			}
			s := ts.do(http.MethodGet, "/fhir/Patient?_id="+id+"&"+tt.query, "").mustStatus(t, http.StatusOK)
			checkElements(t, "search", s.get("entry", 0, "resource").(map[string]any), tt.present, tt.absent)
			if tt.query != "" {
				if self := s.link("self"); !strings.Contains(self, tt.query) {
					t.Errorf("self link %q lost %s", self, tt.query)
				}
			}
		})
	}
}

func checkElements(t *testing.T, where string, res map[string]any, present, absent []string) {
	t.Helper()
	for _, p := range present {
		if _, ok := res[p]; !ok {
			t.Errorf("%s: %s missing", where, p)
		}
	}
	for _, a := range absent {
		if _, ok := res[a]; ok {
			t.Errorf("%s: %s present", where, a)
		}
	}
}

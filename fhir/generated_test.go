package fhir

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/store"
)

// generatedStudy is an ImagingStudy of three series (300, 5 and 1
// instances) as a component would generate it, with elements a client
// added (a note, a tag, an instance's title), its instances in parts of
// 100 for the index.
func generatedStudy(status string) Generated {
	return studyOf([]int{300, 5, 1}, status, "read by Dr House")
}

// studyOf is generatedStudy with counts[s] instances in series s+1, and a
// note.
func studyOf(counts []int, status, note string) Generated {
	series := func(withInstances bool) string {
		var b strings.Builder
		for s, n := range counts {
			if s > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"modality":{"code":"MR","system":"http://dicom.nema.org/resources/ontology/DCM"},"number":%d,"numberOfInstances":%d,"uid":"1.2.3.%d"`, s+1, n, s+1)
			if withInstances {
				b.WriteString(`,"instance":`)
				b.WriteString(instances(s, 0, n))
			}
			b.WriteByte('}')
		}
		return b.String()
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	resource := func(withInstances bool) []byte {
		return []byte(`{"resourceType":"ImagingStudy","id":"1.2.3","meta":{"tag":[{"code":"x","system":"urn:t"}]},` +
			`"note":[{"text":"` + note + `"}],"numberOfInstances":` + fmt.Sprint(total) + `,"numberOfSeries":` + fmt.Sprint(len(counts)) + `,"series":[` + series(withInstances) + `],` +
			`"status":"` + status + `","subject":{"reference":"Patient/p1"}}`)
	}
	return Generated{
		Outline: resource(false),
		Body:    resource(true),
		Bulk: func(yield func([]byte) bool) {
			for s, n := range counts {
				for start := 0; start < n; start += 100 {
					part := `{"resourceType":"ImagingStudy","series":[{"instance":` + instances(s, start, min(start+100, n)) + `}]}`
					if !yield([]byte(part)) {
						return
					}
				}
			}
		},
	}
}

// instances are the instance elements [from, to) of series s.
func instances(s, from, to int) string {
	items := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		title := ""
		if i == 7 {
			title = `,"title":"Axial T2 <fat sat>"`
		}
		items = append(items, fmt.Sprintf(`{"number":%d,"sopClass":{"code":"urn:oid:1.2.840.10008.5.1.4.1.1.%d","system":"urn:ietf:rfc:3986"}%s,"uid":"1.2.3.%d.%d"}`,
			i+1, 4+s, title, s+1, i+1))
	}
	return "[" + strings.Join(items, ",") + "]"
}

// TestUpdateGenerated: a generated resource is stored as the real model
// would have it (valid, canonical), indexed exactly as a parsed update of
// the whole body would be, with the versions and preconditions of Update.
func TestUpdateGenerated(t *testing.T) {
	ctx := context.Background()
	srv := newLocalServer(t)
	g := generatedStudy("available")

	res, err := srv.UpdateGenerated(ctx, "ImagingStudy", "1.2.3", g, 0)
	if err != nil || res.VersionID != 1 {
		t.Fatalf("update generated: %v %+v", err, res)
	}
	r, err := model.Parse(res.Body)
	if err != nil {
		t.Fatalf("the stored body is not valid R4: %v", err)
	}
	r.SetMeta(res.VersionID, res.LastUpdated)
	if canonical, _ := r.Marshal(); !bytes.Equal(canonical, res.Body) {
		t.Errorf("stored body is not canonical:\n%s\nwant\n%s", res.Body, canonical)
	}

	// The index: the outline's and the parts' entries are the whole body's.
	ch := &change{call: &call{method: http.MethodPut, typ: "ImagingStudy", id: "1.2.3", body: g.Outline, generated: &g}, id: "1.2.3"}
	if err := srv.buildGenerated(context.Background(), ch, now()); err != nil {
		t.Fatal(err)
	}
	whole, err := srv.indexEntries("ImagingStudy", ch.writes[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	outline, err := srv.indexEntries("ImagingStudy", g.Outline)
	if err != nil {
		t.Fatal(err)
	}
	// The bulk's words are not indexed.
	whole = slices.DeleteFunc(whole, func(e store.IndexEntry) bool {
		return store.IsFullText(e.Param) && !slices.Contains(outline, e)
	})
	slices.SortFunc(whole, compareEntries)
	whole = slices.Compact(whole)
	if got := ch.writes[0].Index; !slices.Equal(got, whole) {
		t.Errorf("generated index has %d entries, the whole body's %d:\n%v\n%v", len(got), len(whole), entryDiff(got, whole), entryDiff(whole, got))
	}
	for _, q := range []url.Values{{"instance": {"1.2.3.1.299"}}, {"dicom-class": {"urn:oid:1.2.840.10008.5.1.4.1.1.6"}},
		{"series": {"1.2.3.3"}}, {"_content": {"house"}}, {"_tag": {"urn:t|x"}}} {
		if found, err := srv.Find(ctx, "ImagingStudy", q, 2); err != nil || len(found) != 1 {
			t.Errorf("ImagingStudy?%s: %v (%d found)", q.Encode(), err, len(found))
		}
	}
	if found, err := srv.Find(ctx, "ImagingStudy", url.Values{"_content": {"fat"}}, 2); err != nil || len(found) != 0 {
		t.Errorf("ImagingStudy?_content=fat (an instance's title, in the bulk): %v (%d found), want none", err, len(found))
	}

	// Versions and If-Match as for Update; the outline is validated.
	if res, err = srv.UpdateGenerated(ctx, "ImagingStudy", "1.2.3", g, 1); err != nil || res.VersionID != 2 {
		t.Fatalf("second version: %v %+v", err, res)
	}
	if _, err := srv.UpdateGenerated(ctx, "ImagingStudy", "1.2.3", g, 1); StatusOf(err) != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: status %d (%v), want 412", StatusOf(err), err)
	}
	if _, err := srv.UpdateGenerated(ctx, "ImagingStudy", "1.2.3", generatedStudy("bogus"), 2); StatusOf(err) != http.StatusBadRequest {
		t.Errorf("invalid outline: status %d (%v), want 400", StatusOf(err), err)
	}
	if read, err := srv.Read(ctx, "ImagingStudy", "1.2.3"); err != nil || read.VersionID != 2 || !bytes.Contains(read.Body, []byte(`"uid":"1.2.3.1.300"`)) {
		t.Errorf("read: %v %+v", err, read)
	}
}

// TestUpdateGeneratedGrowth: an update that says how the bulk grew from
// the current version is written as a partial index, which leaves the
// resource found exactly as the whole body's entries would: the instances
// kept and added, the outline's entries and the words replaced.
func TestUpdateGeneratedGrowth(t *testing.T) {
	ctx := context.Background()
	srv := newLocalServer(t)
	first := studyOf([]int{300, 5}, "available", "read by Dr House")
	if _, err := srv.UpdateGenerated(ctx, "ImagingStudy", "1.2.3", first, 0); err != nil {
		t.Fatal(err)
	}
	// Ten instances more in series 1, a third series, another status and
	// note.
	grown := studyOf([]int{310, 5, 1}, "registered", "seen by Dr Cuddy")
	grown.Growth = &Growth{Version: 1, Outline: first.Outline, Added: func(yield func([]byte) bool) {
		for _, part := range []string{instances(0, 300, 310), instances(2, 0, 1)} {
			if !yield([]byte(`{"resourceType":"ImagingStudy","series":[{"instance":` + part + `}]}`)) {
				return
			}
		}
	}}

	current, err := srv.Read(ctx, "ImagingStudy", "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	ch := &change{call: &call{method: http.MethodPut, typ: "ImagingStudy", id: "1.2.3", body: grown.Outline, generated: &grown},
		id: "1.2.3", current: current}
	if err := srv.buildGenerated(context.Background(), ch, now()); err != nil {
		t.Fatal(err)
	}
	w := ch.writes[0]
	if !w.PartialIndex || slices.Contains(w.Replaced, "instance") || !slices.Contains(w.Replaced, "status") {
		t.Fatalf("write: partial %v, replacing %v; want a partial index replacing status, not instance", w.PartialIndex, w.Replaced)
	}
	added := map[string]bool{"1.2.3.3.1": true}
	for i := 301; i <= 310; i++ {
		added[fmt.Sprintf("1.2.3.1.%d", i)] = true
	}
	for _, e := range w.Index {
		if e.Param == "instance" && !added[strings.TrimPrefix(e.Text, "|")] {
			t.Errorf("partial index holds the kept instance entry %+v", e)
		}
	}

	if _, err := srv.UpdateGenerated(ctx, "ImagingStudy", "1.2.3", grown, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query url.Values
		found bool
	}{
		{url.Values{"instance": {"1.2.3.1.5"}}, true},   // kept
		{url.Values{"instance": {"1.2.3.1.305"}}, true}, // added
		{url.Values{"instance": {"1.2.3.3.1"}}, true},   // added, in a new series
		{url.Values{"dicom-class": {"urn:oid:1.2.840.10008.5.1.4.1.1.6"}}, true},
		{url.Values{"series": {"1.2.3.3"}}, true},
		{url.Values{"status": {"registered"}}, true},
		{url.Values{"status": {"available"}}, false},
		{url.Values{"_content": {"cuddy"}}, true},
		{url.Values{"_content": {"house"}}, false},
		{url.Values{"_content": {"fat"}}, false}, // an instance's title: the bulk's words are not indexed
	} {
		found, err := srv.Find(ctx, "ImagingStudy", tc.query, 2)
		if err != nil || (len(found) == 1) != tc.found {
			t.Errorf("ImagingStudy?%s: %v (%d found), want found %v", tc.query.Encode(), err, len(found), tc.found)
		}
	}

	// Growing again with nothing taken from the outline replaces nothing,
	// without the bulk's parts being read.
	again := studyOf([]int{320, 5, 1}, "registered", "seen by Dr Cuddy")
	again.Bulk = func(func([]byte) bool) { t.Error("the whole bulk was read for a growth that replaces nothing") }
	again.Growth = &Growth{Version: 2, Outline: grown.Outline, Added: func(yield func([]byte) bool) {
		yield([]byte(`{"resourceType":"ImagingStudy","series":[{"instance":` + instances(0, 310, 320) + `}]}`))
	}}
	if current, err = srv.Read(ctx, "ImagingStudy", "1.2.3"); err != nil {
		t.Fatal(err)
	}
	ch = &change{call: &call{method: http.MethodPut, typ: "ImagingStudy", id: "1.2.3", body: again.Outline, generated: &again},
		id: "1.2.3", current: current}
	if err := srv.buildGenerated(context.Background(), ch, now()); err != nil || !ch.writes[0].PartialIndex || len(ch.writes[0].Replaced) > 0 {
		t.Fatalf("third version: %v; partial %v, replacing %v; want a partial index replacing nothing", err, ch.writes[0].PartialIndex, ch.writes[0].Replaced)
	}
	if _, err := srv.UpdateGenerated(ctx, "ImagingStudy", "1.2.3", again, 2); err != nil {
		t.Fatal(err)
	}
	for _, q := range []url.Values{{"instance": {"1.2.3.1.315"}}, {"instance": {"1.2.3.1.5"}},
		{"_content": {"cuddy"}}, {"status": {"registered"}}} {
		if found, err := srv.Find(ctx, "ImagingStudy", q, 2); err != nil || len(found) != 1 {
			t.Errorf("third version: ImagingStudy?%s: %v (%d found)", q.Encode(), err, len(found))
		}
	}
}

// entryDiff lists the entries of a that b lacks.
func entryDiff(a, b []store.IndexEntry) []store.IndexEntry {
	var out []store.IndexEntry
	for _, e := range a {
		if !slices.Contains(b, e) {
			out = append(out, e)
		}
	}
	return out
}

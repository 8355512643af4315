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
	counts := []int{300, 5, 1}
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
	resource := func(withInstances bool) []byte {
		return []byte(`{"resourceType":"ImagingStudy","id":"1.2.3","meta":{"tag":[{"code":"x","system":"urn:t"}]},` +
			`"note":[{"text":"read by Dr House"}],"numberOfInstances":306,"numberOfSeries":3,"series":[` + series(withInstances) + `],` +
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
	if err := srv.buildGenerated(ch, now()); err != nil {
		t.Fatal(err)
	}
	whole, err := srv.indexEntries("ImagingStudy", ch.writes[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(whole, compareEntries)
	whole = slices.Compact(whole)
	if got := ch.writes[0].Index; !slices.Equal(got, whole) {
		t.Errorf("generated index has %d entries, the whole body's %d:\n%v\n%v", len(got), len(whole), entryDiff(got, whole), entryDiff(whole, got))
	}
	for _, q := range []url.Values{{"instance": {"1.2.3.1.299"}}, {"dicom-class": {"urn:oid:1.2.840.10008.5.1.4.1.1.6"}},
		{"series": {"1.2.3.3"}}, {"_content": {"fat"}}, {"_tag": {"urn:t|x"}}} {
		if found, err := srv.Find(ctx, "ImagingStudy", q, 2); err != nil || len(found) != 1 {
			t.Errorf("ImagingStudy?%s: %v (%d found)", q.Encode(), err, len(found))
		}
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

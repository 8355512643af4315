package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

// imagingStudyOf reads the ImagingStudy of a study (its id is the UID).
func imagingStudyOf(t *testing.T, ev *env, study string) map[string]any {
	t.Helper()
	res, err := ev.fhir.Read(context.Background(), "ImagingStudy", study)
	if err != nil {
		t.Fatalf("ImagingStudy %s: %v", study, err)
	}
	var is map[string]any
	if err := json.Unmarshal(res.Body, &is); err != nil {
		t.Fatal(err)
	}
	return is
}

// listing is "series:instance,instance;series:…" in the resource's order.
func listing(is map[string]any) string {
	out := ""
	series, _ := is["series"].([]any)
	for i, s := range series {
		m := s.(map[string]any)
		if i > 0 {
			out += ";"
		}
		out += m["uid"].(string) + ":"
		insts, _ := m["instance"].([]any)
		for j, in := range insts {
			if j > 0 {
				out += ","
			}
			out += in.(map[string]any)["uid"].(string)
		}
	}
	return out
}

// testBatchedSTOW: instances are indexed per request, counts kept as they
// come, and the ImagingStudy merged request by request in series and
// instance number order, and rebuilt from the index when it missed some.
func testBatchedSTOW(t *testing.T, b backend) {
	ev := newEnv(t, b)
	mk := func(series, sop, seriesNo, no string) []byte {
		return instance(t, spec{study: "20.1", series: series, sop: sop, seriesNumber: seriesNo, instanceNo: no, modality: "MR"})
	}
	if status, res := ev.stow("admin", "/studies", mk("20.1.2", "20.1.2.5", "2", "5"), mk("20.1.1", "20.1.1.3", "1", "3"),
		mk("20.1.2", "20.1.2.1", "2", "1")); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	if status, res := ev.stow("admin", "/studies", mk("20.1.3", "20.1.3.1", "3", "1"), mk("20.1.1", "20.1.1.1", "1", "1")); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	want := "20.1.1:20.1.1.1,20.1.1.3;20.1.2:20.1.2.1,20.1.2.5;20.1.3:20.1.3.1"
	is := imagingStudyOf(t, ev, "20.1")
	if got := listing(is); got != want || is["numberOfInstances"] != float64(5) || is["numberOfSeries"] != float64(3) {
		t.Errorf("ImagingStudy lists %s (%v instances, %v series), want %s", got, is["numberOfInstances"], is["numberOfSeries"], want)
	}
	counts := map[string]string{}
	for _, s := range ev.getJSON("admin", "/dicom-web/studies/20.1/series") {
		counts[s.First(tagSeriesInstanceUID)] = s.First(tagNumberOfSeriesInstances)
	}
	if fmt.Sprint(counts) != "map[20.1.1:2 20.1.2:2 20.1.3:1]" {
		t.Errorf("series instance counts %v", counts)
	}

	// Someone else's edit drops a series and adds a note: the next STOW
	// puts every instance back and keeps the note.
	is["series"] = is["series"].([]any)[:1]
	is["note"] = []any{map[string]any{"text": "read by Dr House"}}
	body, _ := json.Marshal(is)
	if _, err := ev.fhir.Update(context.Background(), "ImagingStudy", "20.1", body, 0); err != nil {
		t.Fatal(err)
	}
	if status, res := ev.stow("admin", "/studies", mk("20.1.3", "20.1.3.2", "3", "2")); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	is = imagingStudyOf(t, ev, "20.1")
	if got := listing(is); got != want+",20.1.3.2" || is["numberOfInstances"] != float64(6) || is["note"] == nil {
		t.Errorf("repaired ImagingStudy lists %s (%v instances, note %v)", got, is["numberOfInstances"], is["note"])
	}

	// One SOP Instance UID twice in a request: the same bytes count once,
	// other bytes are refused as a duplicate.
	a := mk("20.1.4", "20.1.4.1", "4", "1")
	if status, res := ev.stow("admin", "/studies", a, a); status != 200 {
		t.Errorf("same instance twice: %d %s", status, mustJSON(t, res))
	}
	other := instance(t, spec{study: "20.1", series: "20.1.4", sop: "20.1.4.2", seriesNumber: "4", instanceNo: "2", seed: 1})
	changed := instance(t, spec{study: "20.1", series: "20.1.4", sop: "20.1.4.2", seriesNumber: "4", instanceNo: "2", seed: 2})
	status, res := ev.stow("admin", "/studies", other, changed)
	if status != http.StatusAccepted || len(res["00081198"].Value) != 1 {
		t.Errorf("two contents under one UID: %d %s", status, mustJSON(t, res))
	}
	st := ev.getJSON("admin", "/dicom-web/studies?StudyInstanceUID=20.1")
	if len(st) != 1 || st[0].First(tagNumberOfStudyInstances) != "8" || st[0].First(tagNumberOfStudySeries) != "4" {
		t.Errorf("study counts: %s", mustJSON(t, st))
	}
	if is := imagingStudyOf(t, ev, "20.1"); is["numberOfInstances"] != float64(8) {
		t.Errorf("ImagingStudy numberOfInstances %v, want 8", is["numberOfInstances"])
	}

	// A series is retrieved with its length announced, the files as stored.
	resp, got := ev.do("admin", "GET", "/dicom-web/studies/20.1/series/20.1.4", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(got)) {
		t.Fatalf("series retrieve: %d, Content-Length %q for %d bytes", resp.StatusCode, resp.Header.Get("Content-Length"), len(got))
	}
	if _, files := parts(t, resp, got); len(files) != 2 || !bytes.Equal(files[0], a) || !bytes.Equal(files[1], other) {
		t.Errorf("series retrieve: %d files, not the ones stored", len(files))
	}
}

// TestDirBlobsStaging: uploads staged in the blob folder that a crash left
// behind are removed when the folder is opened again; fresh ones are not
// (another process may be writing them).
func TestDirBlobsStaging(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDirBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, err := d.stage()
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	fresh, err := d.stage()
	if err != nil {
		t.Fatal(err)
	}
	fresh.Close()
	long := time.Now().Add(-2 * staleAfter)
	if err := os.Chtimes(old.Name(), long, long); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDirBlobs(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old.Name()); !os.IsNotExist(err) {
		t.Errorf("stale staged file kept: %v", err)
	}
	if _, err := os.Stat(fresh.Name()); err != nil {
		t.Errorf("fresh staged file removed: %v", err)
	}
}

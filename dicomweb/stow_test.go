package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// testSTOWBadInput: each malformed request gets its PS3.18 answer, stores
// nothing corrupt, and the server keeps serving.
func testSTOWBadInput(t *testing.T, b backend) {
	ev := newEnv(t, b, func(o *Options) { o.MaxUploadBytes = 64 << 10 })
	good := instance(t, spec{study: "2.1", series: "2.1.1", sop: "2.1.1.1"})
	body, ct := multipartBody(good)
	boundary := ct[strings.Index(ct, "boundary=")+len("boundary="):]
	truncated := good[:len(good)-40]
	big := instance(t, spec{study: "2.1", series: "2.1.1", sop: "2.1.1.9", rows: 128, cols: 128, frames: 4})
	for _, c := range []struct {
		name        string
		path        string
		contentType string
		body        []byte
		status      int
		reasons     []int // failure reasons expected in FailedSOPSequence
	}{
		{name: "no content type", path: "/studies", body: body, status: 415},
		{name: "not multipart", path: "/studies", contentType: "application/dicom", body: good, status: 415},
		{name: "json parts", path: "/studies", contentType: `multipart/related; type="application/dicom+json"; boundary=` + boundary, body: body, status: 415},
		{name: "no boundary", path: "/studies", contentType: `multipart/related; type="application/dicom"`, body: body, status: 400},
		{name: "wrong boundary", path: "/studies", contentType: `multipart/related; type="application/dicom"; boundary=nope`, body: body, status: 400},
		{name: "malformed content type", path: "/studies", contentType: `multipart/related; type="application/dicom`, body: body, status: 400},
		{name: "empty body", path: "/studies", contentType: ct, body: nil, status: 400},
		{name: "study UID not a UID", path: "/studies/abc", contentType: ct, body: body, status: 400},
		{name: "not DICOM", path: "/studies", contentType: ct, body: mp(t, []byte("hello, not a DICOM file")), status: 409, reasons: []int{reasonCannotUnderstand}},
		{name: "truncated file", path: "/studies", contentType: ct, body: mp(t, truncated), status: 409, reasons: []int{reasonCannotUnderstand}},
		{name: "missing SOP Instance UID", path: "/studies", contentType: ct,
			body:   mp(t, instance(t, spec{study: "2.1", series: "2.1.1", sop: "2.1.1.2", omit: []tag.Tag{tag.SOPInstanceUID, tag.MediaStorageSOPInstanceUID}})),
			status: 409, reasons: []int{reasonCannotUnderstand}},
		{name: "missing study UID", path: "/studies", contentType: ct,
			body:   mp(t, instance(t, spec{study: "2.1", series: "2.1.1", sop: "2.1.1.3", omit: []tag.Tag{tag.StudyInstanceUID}})),
			status: 409, reasons: []int{reasonCannotUnderstand}},
		{name: "study UID contradicts the URL", path: "/studies/2.999", contentType: ct, body: body, status: 409, reasons: []int{reasonMismatch}},
		{name: "one good, one bad", path: "/studies", contentType: ct,
			body: mp(t, instance(t, spec{study: "2.1", series: "2.1.1", sop: "2.1.1.4"}), []byte("junk")), status: 202, reasons: []int{reasonCannotUnderstand}},
		{name: "truncated body", path: "/studies", contentType: ct, body: body[:len(body)/2], status: 409, reasons: []int{reasonCannotUnderstand}},
		{name: "quoted boundary", path: "/studies/2.2", contentType: `multipart/related; type="application/dicom"; boundary="` + boundary + `"`,
			body: mp(t, instance(t, spec{study: "2.2", series: "2.2.1", sop: "2.2.1.1"})), status: 200},
		{name: "oversized upload", path: "/studies", contentType: ct, body: mp(t, big), status: 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			headers := []string{"Accept", mediaDICOMJSON}
			if c.contentType != "" {
				headers = append(headers, "Content-Type", c.contentType)
			}
			resp, out := ev.do("admin", "POST", "/dicom-web"+c.path, bytes.NewReader(c.body), headers...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, out)
			}
			if c.reasons == nil {
				if c.status >= 400 && !strings.Contains(string(out), "OperationOutcome") {
					t.Errorf("error without an OperationOutcome: %s", out)
				}
				return
			}
			var d Dataset
			if err := decodeRecord(out, &d); err != nil {
				t.Fatalf("answer is not DICOM JSON: %v %s", err, out)
			}
			var got []int
			for _, item := range d["00081198"].Value {
				got = append(got, atoi(datasetOf(item.(map[string]any)).First("00081197")))
			}
			if fmt.Sprint(got) != fmt.Sprint(c.reasons) {
				t.Errorf("failure reasons %v, want %v: %s", got, c.reasons, out)
			}
		})
	}
	// Nothing half-stored: the only instance of study 2.1 is the good one of "one good, one bad".
	got := ev.getJSON("admin", "/dicom-web/studies/2.1/instances")
	if len(got) != 1 || got[0].First(tagSOPInstanceUID) != "2.1.1.4" {
		t.Errorf("instances after bad input: %s", mustJSON(t, got))
	}
	// No temporary file is left behind, and (on a folder) no blob but the
	// stored instances', each request's in a pack of its own that holds
	// them only; the packs reserved for later requests are empty.
	if left, _ := os.ReadDir(ev.srv.opts.TempDir); len(left) != 0 {
		t.Errorf("%d temporary files left", len(left))
	}
	if dir, ok := ev.blobs.(*DirBlobs); ok {
		var sizes []int64
		filepath.WalkDir(dir.dir, func(_ string, d fs.DirEntry, _ error) error {
			if info, err := d.Info(); err == nil && !d.IsDir() && info.Size() > 0 {
				sizes = append(sizes, info.Size())
			}
			return nil
		})
		// 2.1.1.4 and 2.2.1.1
		if want := []int64{int64(len(instance(t, spec{study: "2.1", series: "2.1.1", sop: "2.1.1.4"}))),
			int64(len(instance(t, spec{study: "2.2", series: "2.2.1", sop: "2.2.1.1"})))}; fmt.Sprint(sizes) != fmt.Sprint(want) &&
			fmt.Sprint(sizes) != fmt.Sprint([]int64{want[1], want[0]}) {
			t.Errorf("blobs of %v bytes on disk, want %v", sizes, want)
		}
	}
	// An oversized chunked upload (no Content-Length to refuse it early).
	pr, pw := io.Pipe()
	go func() { pw.Write(mp(t, big)); pw.Close() }()
	if resp, out := ev.do("admin", "POST", "/dicom-web/studies", pr, "Content-Type", ct); resp.StatusCode != 413 {
		t.Errorf("oversized chunked upload: %d %s", resp.StatusCode, out)
	}
	// Chunked transfer with an unquoted boundary still works.
	pr, pw = io.Pipe()
	go func() { pw.Write(body); pw.Close() }()
	resp, out := ev.do("admin", "POST", "/dicom-web/studies/2.1", pr, "Content-Type", `multipart/related; type=application/dicom; boundary=`+boundary)
	if resp.StatusCode != 200 {
		t.Errorf("chunked STOW: %d %s", resp.StatusCode, out)
	}
}

// mp wraps files in a multipart body with the shared boundary, so that
// the table's Content-Type fits every body.
func mp(t *testing.T, files ...[]byte) []byte {
	t.Helper()
	body, _ := multipartBodyWith(sharedBoundary, files...)
	return body
}

// testIdempotence: the same instance twice is accepted; other content
// under the same SOP Instance UID is refused, unless Overwrite.
func testIdempotence(t *testing.T, b backend) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite=%v", overwrite), func(t *testing.T) {
			ev := newEnv(t, b, func(o *Options) { o.Overwrite = overwrite })
			first := instance(t, spec{study: "3.1", series: "3.1.1", sop: "3.1.1.1"})
			changed := instance(t, spec{study: "3.1", series: "3.1.1", sop: "3.1.1.1", seed: 5})
			if status, res := ev.stow("admin", "/studies", first); status != 200 {
				t.Fatalf("first: %d %s", status, mustJSON(t, res))
			}
			if status, res := ev.stow("admin", "/studies/3.1", first); status != 200 {
				t.Fatalf("same again: %d %s", status, mustJSON(t, res))
			}
			status, res := ev.stow("admin", "/studies", changed)
			want, stored := 409, first
			if overwrite {
				want, stored = 200, changed
			}
			if status != want {
				t.Fatalf("changed content: %d, want %d: %s", status, want, mustJSON(t, res))
			}
			if !overwrite {
				item := datasetOf(res["00081198"].Value[0].(map[string]any))
				if atoi(item.First("00081197")) != reasonDuplicate || item.First("00081155") != "3.1.1.1" {
					t.Errorf("failed item: %s", mustJSON(t, item))
				}
			}
			resp, body := ev.do("admin", "GET", "/dicom-web/studies/3.1/series/3.1.1/instances/3.1.1.1", nil)
			_, files := parts(t, resp, body)
			if len(files) != 1 || !bytes.Equal(files[0], stored) {
				t.Errorf("retrieved content is not the expected version")
			}
			// Storing the same content again made no new ImagingStudy version.
			is, err := ev.fhir.Read(context.Background(), "ImagingStudy", "3.1")
			if err != nil {
				t.Errorf("ImagingStudy: %v", err)
			} else if !overwrite && is.VersionID != 1 {
				t.Errorf("ImagingStudy version %d after an idempotent STOW, want 1", is.VersionID)
			}
			if n := len(ev.getJSON("admin", "/dicom-web/studies/3.1/instances")); n != 1 {
				t.Errorf("%d instances, want 1", n)
			}
		})
	}
}

// testConcurrentSTOW: concurrent STOWs into one study lose no instance,
// in the index nor in the ImagingStudy.
func testConcurrentSTOW(t *testing.T, b backend) {
	ev := newEnv(t, b)
	const writers, each = 6, 3
	var wg sync.WaitGroup
	errs := make(chan string, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var files [][]byte
			for i := range each {
				files = append(files, instance(t, spec{study: "4.1", series: fmt.Sprintf("4.1.%d", w%2+1),
					sop: fmt.Sprintf("4.1.9.%d.%d", w, i), instanceNo: fmt.Sprint(w*each + i)}))
			}
			body, ct := multipartBody(files...)
			req, _ := http.NewRequest("POST", ev.url+"/dicom-web/studies", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer admin")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Sprintf("%d %s", resp.StatusCode, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("STOW: %s", e)
	}
	st := ev.getJSON("admin", "/dicom-web/studies?StudyInstanceUID=4.1")
	if len(st) != 1 || st[0].First(tagNumberOfStudyInstances) != fmt.Sprint(writers*each) || st[0].First(tagNumberOfStudySeries) != "2" {
		t.Fatalf("study: %s", mustJSON(t, st))
	}
	found, err := ev.fhir.Find(context.Background(), "ImagingStudy", url.Values{"identifier": {"urn:dicom:uid|urn:oid:4.1"}}, 2)
	if err != nil || len(found) != 1 {
		t.Fatalf("ImagingStudy: %v (%d)", err, len(found))
	}
	var is struct {
		NumberOfInstances int
		Series            []struct{ Instance []struct{ UID string } }
	}
	json.Unmarshal(found[0].Body, &is)
	n := 0
	for _, s := range is.Series {
		n += len(s.Instance)
	}
	if is.NumberOfInstances != writers*each || n != writers*each {
		t.Errorf("ImagingStudy lists %d instances (numberOfInstances %d), want %d", n, is.NumberOfInstances, writers*each)
	}
}

// testPacks: the instances of a request are stored end to end (in one
// pack on a folder), a refused part in between leaves nothing behind, and
// every instance, the study and a series read back byte for byte, also
// after a later STOW changed the study (the file list of a retrieved study
// is kept only while the study is unchanged).
func testPacks(t *testing.T, b backend) {
	ev := newEnv(t, b)
	mk := func(series, sop, no string) []byte {
		return instance(t, spec{study: "30.1", series: series, sop: sop, instanceNo: no, rows: 16, cols: 16, frames: 2})
	}
	a, c, d := mk("30.1.1", "30.1.1.1", "1"), mk("30.1.1", "30.1.1.2", "2"), mk("30.1.2", "30.1.2.1", "1")
	if status, res := ev.stow("admin", "/studies", a, []byte("not DICOM"), c); status != 202 {
		t.Fatalf("first STOW: %d %s", status, mustJSON(t, res))
	}
	retrieve := func(path string, want ...[]byte) {
		t.Helper()
		resp, body := ev.do("admin", "GET", "/dicom-web"+path, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		_, files := parts(t, resp, body)
		if len(files) != len(want) {
			t.Fatalf("%s: %d files, want %d", path, len(files), len(want))
		}
		for i := range want {
			if !bytes.Equal(files[i], want[i]) {
				t.Errorf("%s: file %d is not the one stored", path, i)
			}
		}
	}
	retrieve("/studies/30.1", a, c)
	retrieve("/studies/30.1/series/30.1.1/instances/30.1.1.2", c)
	if dir, ok := ev.blobs.(*DirBlobs); ok {
		var sizes []int64
		filepath.WalkDir(dir.dir, func(_ string, e fs.DirEntry, _ error) error {
			if info, err := e.Info(); err == nil && !e.IsDir() && info.Size() > 0 {
				sizes = append(sizes, info.Size())
			}
			return nil
		})
		if len(sizes) != 1 || sizes[0] != int64(len(a)+len(c)) {
			t.Errorf("files of %v bytes on disk, want one pack of %d", sizes, len(a)+len(c))
		}
	}
	// The second frame of the second instance of the pack.
	resp, body := ev.do("admin", "GET", "/dicom-web/studies/30.1/series/30.1.1/instances/30.1.1.2/frames/2", nil,
		"Accept", `multipart/related; type="application/octet-stream"; transfer-syntax=*`)
	if _, frames := parts(t, resp, body); len(frames) != 1 || !bytes.Equal(frames[0], c[len(c)-16*16*2:]) {
		t.Errorf("frame 2 of a packed instance: %d %d frames", resp.StatusCode, len(frames))
	}
	// A later STOW (one instance again, one new) changes what the study holds.
	if status, res := ev.stow("admin", "/studies", a, d); status != 200 {
		t.Fatalf("second STOW: %d %s", status, mustJSON(t, res))
	}
	retrieve("/studies/30.1", a, c, d)
	retrieve("/studies/30.1/series/30.1.2", d)
}

// testPackRollover: a request of more instances than one commit takes
// (batchSize) is stored in one pack per commit, and reads back whole.
func testPackRollover(t *testing.T, b backend) {
	ev := newEnv(t, b)
	dir, ok := ev.blobs.(*DirBlobs)
	if !ok {
		t.Skip("packs are a folder's")
	}
	var files [][]byte
	for i := range batchSize + 5 {
		files = append(files, instance(t, spec{study: "31.1", series: "31.1.1", sop: fmt.Sprintf("31.1.1.%d", i+1),
			instanceNo: fmt.Sprint(i + 1), rows: 4, cols: 4}))
	}
	if status, res := ev.stow("admin", "/studies", files...); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	resp, body := ev.do("admin", "GET", "/dicom-web/studies/31.1/series/31.1.1", nil)
	_, got := parts(t, resp, body)
	if len(got) != len(files) {
		t.Fatalf("%d files retrieved, want %d", len(got), len(files))
	}
	for i := range files {
		if !bytes.Equal(got[i], files[i]) {
			t.Fatalf("file %d is not the one stored", i)
		}
	}
	packs := 0
	filepath.WalkDir(dir.dir, func(_ string, e fs.DirEntry, _ error) error {
		if info, err := e.Info(); err == nil && !e.IsDir() && info.Size() > 0 {
			packs++
		}
		return nil
	})
	if packs != 2 {
		t.Errorf("%d packs, want 2 (one per commit)", packs)
	}
}

package dicomweb

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestSTOWMemoryFlat stores one large multi-frame instance, streamed in a
// chunked request, and checks the heap stays far below its size: parts
// go through the spool (a file) and are parsed without their pixel data.
// TELEHUB_STOW_MB sets the size (default 128).
func TestSTOWMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large instance; skipped with -short")
	}
	mb := 128
	if v := os.Getenv("TELEHUB_STOW_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	ev := newEnv(t, sqliteBackend())
	const rows, cols = 1024, 1024
	frames := mb / 2
	header := instance(t, spec{study: "10.1", series: "10.1.1", sop: "10.1.1.1", rows: rows, cols: cols, frames: frames, noPixels: true})
	pixelLen := rows * cols * 2 * frames

	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintf(pw, "--%s\r\nContent-Type: application/dicom\r\n\r\n", sharedBoundary)
		pw.Write(header)
		h := []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0}
		pw.Write(binary.LittleEndian.AppendUint32(h, uint32(pixelLen)))
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		for written := 0; written < pixelLen; written += len(chunk) {
			pw.Write(chunk[:min(len(chunk), pixelLen-written)])
		}
		fmt.Fprintf(pw, "\r\n--%s--\r\n", sharedBoundary)
		pw.Close()
	}()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	go sample(done, &peak)
	resp, body := ev.do("admin", "POST", "/dicom-web/studies", pr, "Content-Type",
		`multipart/related; type="application/dicom"; boundary=`+sharedBoundary)
	close(done)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW: %d %s", resp.StatusCode, body)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("stored a %d MB instance; heap in use grew by at most %.1f MB", pixelLen>>20, float64(grew)/(1<<20))
	if grew > int64(pixelLen)/4 {
		t.Errorf("heap grew by %d bytes storing %d: the upload is held in memory", grew, pixelLen)
	}
	// Rendering a frame parses that frame only.
	runtime.GC()
	runtime.ReadMemStats(&base)
	peak.Store(0)
	done = make(chan struct{})
	go sample(done, &peak)
	resp, body = ev.do("admin", "GET", fmt.Sprintf("/dicom-web/studies/10.1/series/10.1.1/instances/10.1.1.1/frames/%d/rendered", frames-1), nil, "Accept", "image/png")
	close(done)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rendered: %d %s", resp.StatusCode, body)
	}
	grew = int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("rendered one 1024×1024 frame; heap in use grew by at most %.1f MB", float64(grew)/(1<<20))
	if grew > int64(pixelLen)/2 {
		t.Errorf("heap grew by %d bytes rendering one frame of %d", grew, pixelLen)
	}
	// A frame from the middle is read in place.
	resp, body = ev.do("admin", "GET", fmt.Sprintf("/dicom-web/studies/10.1/series/10.1.1/instances/10.1.1.1/frames/%d", frames/2), nil)
	_, got := parts(t, resp, body)
	if len(got) != 1 || len(got[0]) != rows*cols*2 {
		t.Fatalf("frame: %d parts", len(got))
	}
	off := (frames/2 - 1) * rows * cols * 2
	if got[0][0] != byte(off%(1<<20)) || got[0][1] != byte((off+1)%(1<<20)) {
		t.Errorf("frame bytes do not match the stream")
	}
}

// sample records the peak heap in use until done is closed.
func sample(done chan struct{}, peak *atomic.Uint64) {
	var m runtime.MemStats
	for {
		select {
		case <-done:
			return
		case <-time.After(20 * time.Millisecond):
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}
}

// TestSTOWStudyMemory stores a study of many 64 KB instances in one
// streamed request and checks the heap stays far below the study's size:
// blobs are written as the parts come, index records are committed in
// batches, and what the request keeps of each instance until it answers
// is small. TELEHUB_STOW_STUDY_MB sets the size (default 64; 500 is the
// figure the benchmarks against Orthanc quote).
func TestSTOWStudyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("stores a large study; skipped with -short")
	}
	mb := 64
	if v := os.Getenv("TELEHUB_STOW_STUDY_MB"); v != "" {
		mb, _ = strconv.Atoi(v)
	}
	ev := newEnv(t, sqliteBackend())
	const rows, cols = 256, 128
	pixels := make([]byte, rows*cols*2)
	pixelHeader := binary.LittleEndian.AppendUint32([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0}, uint32(len(pixels)))
	n := mb << 20 / len(pixels)
	// A first study loads what the FHIR API initialises once (its
	// registries, the resources' descriptors), which is no cost of size.
	if status, _ := ev.stow("admin", "/studies", instance(t, spec{study: "15.0"})); status != http.StatusOK {
		t.Fatalf("warm-up STOW: %d", status)
	}

	// With the collector's default slack the heap in use swings by tens of
	// MB whatever the upload; a tight target makes it follow what is live.
	defer debug.SetGCPercent(debug.SetGCPercent(10))

	pr, pw := io.Pipe()
	go func() {
		for i := range n {
			header := instance(t, spec{study: "15.1", series: fmt.Sprintf("15.1.%d", i%4), sop: fmt.Sprintf("15.1.9.%d", i),
				rows: rows, cols: cols, instanceNo: fmt.Sprint(i + 1), noPixels: true})
			fmt.Fprintf(pw, "--%s\r\nContent-Type: application/dicom\r\n\r\n", sharedBoundary)
			pw.Write(header)
			pw.Write(pixelHeader)
			pw.Write(pixels)
			pw.Write([]byte("\r\n"))
		}
		fmt.Fprintf(pw, "--%s--\r\n", sharedBoundary)
		pw.Close()
	}()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	go sample(done, &peak)
	resp, body := ev.do("admin", "POST", "/dicom-web/studies", pr, "Content-Type",
		`multipart/related; type="application/dicom"; boundary=`+sharedBoundary)
	close(done)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW: %d %.500s", resp.StatusCode, body)
	}
	size := int64(n) * int64(len(pixels))
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("stored %d instances (%d MB) in one request; heap in use grew by at most %.1f MB", n, size>>20, float64(grew)/(1<<20))
	// What stays is a few MB of fixed cost, and what the ImagingStudy and
	// the answer list per instance (under 2 KB): never the files.
	if limit := 8<<20 + size/16; grew > limit {
		t.Errorf("heap grew by %d bytes storing a study of %d (limit %d)", grew, size, limit)
	}
	st := ev.getJSON("admin", "/dicom-web/studies?StudyInstanceUID=15.1")
	if len(st) != 1 || st[0].First(tagNumberOfStudyInstances) != fmt.Sprint(n) {
		t.Errorf("study: %s", mustJSON(t, st))
	}
}

// TestImagingStudyRoundMemory stores a study of 3,000 small instances in 50
// requests of 60 and reports, for each tenth of them, the heap's growth and
// what a request allocated: a round that only adds instances indexes those
// (fhir.Growth), so that what it costs grows with the study's body alone,
// not with all its index entries. It checks that a request of the last
// tenth allocates less than twice what one of the first did (1.7 times;
// 3.9 times when every round indexed the whole). It takes seconds: set
// TELEHUB_ROUND_MEMORY=1 to run it.
func TestImagingStudyRoundMemory(t *testing.T) {
	if os.Getenv("TELEHUB_ROUND_MEMORY") != "1" {
		t.Skip("set TELEHUB_ROUND_MEMORY=1 to measure the ImagingStudy rounds' memory")
	}
	ev := newEnv(t, sqliteBackend())
	if status, _ := ev.stow("admin", "/studies", instance(t, spec{study: "16.0", rows: 8, cols: 8})); status != http.StatusOK {
		t.Fatalf("warm-up STOW: %d", status)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(10)) // see TestSTOWStudyMemory
	const tenths, requests, perRequest = 10, 5, 60
	var first, last float64
	for tenth := range tenths {
		runtime.GC()
		var base, after runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		done := make(chan struct{})
		go sample(done, &peak)
		for r := range requests {
			files := make([][]byte, perRequest)
			for i := range files {
				n := (tenth*requests+r)*perRequest + i
				files[i] = instance(t, spec{study: "16.1", series: fmt.Sprintf("16.1.%d", n%4), sop: fmt.Sprintf("16.1.9.%d", n),
					rows: 8, cols: 8, instanceNo: fmt.Sprint(n + 1)})
			}
			if status, res := ev.stow("admin", "/studies", files...); status != http.StatusOK {
				t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
			}
		}
		close(done)
		runtime.ReadMemStats(&after)
		perReq := float64(after.TotalAlloc-base.TotalAlloc) / requests / (1 << 20)
		grew := float64(int64(peak.Load())-int64(base.HeapInuse)) / (1 << 20)
		t.Logf("instances %d to %d: heap in use grew by at most %.1f MB, %.1f MB allocated per request",
			tenth*requests*perRequest, (tenth+1)*requests*perRequest, grew, perReq)
		if tenth == 0 {
			first = perReq
		}
		last = perReq
	}
	if last > 2*first {
		t.Errorf("a request allocates %.1f MB at the end of the study, %.1f MB at its start", last, first)
	}
}

package dicomweb

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/telehub/telehub/dicomweb/bench"
)

// TestBenchSmoke runs the DICOMweb benchmark at a small size against
// TeleHub and Orthanc, so `telehub bench dicom` keeps working. It checks
// what the run did (every instance stored, queries answered, studies
// retrieved, memory sampled), never how fast.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	o := startOrthanc(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := bench.Run(ctx, bench.Config{
		Targets: []bench.Target{
			{Name: "TeleHub", URL: h.dicomweb, Headers: map[string]string{"Authorization": "Bearer " + h.token}, PID: os.Getpid()},
			{Name: "Orthanc", URL: o.DICOMweb, PID: o.PID()},
		},
		Instances: 30, Rows: 32, Cols: 64, Clients: 2, Batch: 5, Queries: 8, LargeMB: 3,
		Out: &out,
	})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors, first: %s", r.Target, r.Errors, r.FirstError)
		}
		if r.Stored != 30 || r.STOWPerSec <= 0 {
			t.Errorf("%s: stored %d (%.0f/s), want 30", r.Target, r.Stored, r.STOWPerSec)
		}
		if r.QIDOP50 <= 0 || r.QIDOP99 < r.QIDOP50 {
			t.Errorf("%s: QIDO p50 %v p99 %v", r.Target, r.QIDOP50, r.QIDOP99)
		}
		if r.WADOMBPerSec <= 0 {
			t.Errorf("%s: no WADO throughput", r.Target)
		}
		if r.Peak.RSS == 0 || r.LargeStudyMB < 2 {
			t.Errorf("%s: large study %.1f MB, peak RSS %d", r.Target, r.LargeStudyMB, r.Peak.RSS)
		}
	}
	if self := rep.Results[0].Peak; self.Heap == 0 || self.GoRuntime < self.Heap {
		t.Errorf("Go heap %d, Go runtime %d: no Go figures for the in-process TeleHub", self.Heap, self.GoRuntime)
	}
}

// TestBenchFull runs the benchmark at its full default size (1,000
// instances, a 500 MB study) when TELEHUB_DICOM_BENCH=1, printing the
// table; it takes minutes, so it is not part of the ordinary test run.
// TELEHUB_DICOM_BENCH_MB sets another size for the large study.
func TestBenchFull(t *testing.T) {
	if os.Getenv("TELEHUB_DICOM_BENCH") != "1" {
		t.Skip("set TELEHUB_DICOM_BENCH=1 to run the full DICOMweb benchmark")
	}
	largeMB := 0 // the default
	if v := os.Getenv("TELEHUB_DICOM_BENCH_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb <= 0 {
			t.Fatalf("TELEHUB_DICOM_BENCH_MB=%q: want a size in MB", v)
		}
		largeMB = mb
	}
	requireTools(t, bench.DefaultOrthancBinary)
	h := startHub(t)
	rep, err := bench.RunWithOrthanc(context.Background(), bench.Config{
		Targets: []bench.Target{{Name: "TeleHub", URL: h.dicomweb,
			Headers: map[string]string{"Authorization": "Bearer " + h.token}, PID: os.Getpid()}},
		LargeMB: largeMB,
		Out:     os.Stdout,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors, first: %s", r.Target, r.Errors, r.FirstError)
		}
	}
}

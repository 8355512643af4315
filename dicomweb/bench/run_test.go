package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunOrthanc keeps the benchmark working against a real Orthanc at a
// small size; it asserts what was done, never how fast.
func TestRunOrthanc(t *testing.T) {
	t.Parallel()
	o := startOrthanc(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := Run(ctx, Config{
		Targets:   []Target{{Name: "Orthanc", URL: o.DICOMweb, PID: o.PID()}},
		Instances: 45, Rows: 32, Cols: 64, Clients: 2, Batch: 10, Queries: 8, LargeMB: 4,
		Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, rep, out.String(), 45)
}

func checkResult(t *testing.T, rep Report, out string, instances int) {
	t.Helper()
	t.Log(out)
	for _, r := range rep.Results {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors, first: %s", r.Target, r.Errors, r.FirstError)
		}
		if r.Stored != instances {
			t.Errorf("%s: stored %d instances, want %d", r.Target, r.Stored, instances)
		}
		if r.QIDOP50 <= 0 || r.QIDOP99 < r.QIDOP50 {
			t.Errorf("%s: QIDO p50 %v p99 %v", r.Target, r.QIDOP50, r.QIDOP99)
		}
		if r.WADOMBPerSec <= 0 {
			t.Errorf("%s: no WADO throughput", r.Target)
		}
		if r.LargeStudyMB < 3 {
			t.Errorf("%s: large study of %.1f MB, want about 4", r.Target, r.LargeStudyMB)
		}
		if r.Peak.RSS == 0 || r.PeakFifth.RSS > r.Peak.RSS {
			t.Errorf("%s: peak RSS %d (first fifth %d)", r.Target, r.Peak.RSS, r.PeakFifth.RSS)
		}
		if r.Peak.Anon == 0 || r.Peak.File == 0 || r.Peak.Anon > r.Peak.RSS {
			t.Errorf("%s: peak RSS %d, anonymous %d, file-backed %d", r.Target, r.Peak.RSS, r.Peak.Anon, r.Peak.File)
		}
		if !strings.Contains(out, r.Target) {
			t.Errorf("the table does not name %s", r.Target)
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{},
		{Targets: []Target{{Name: "x"}}},
		{Targets: []Target{{Name: "x", URL: "http://127.0.0.1:1"}}, Clients: -1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) accepted a bad configuration", cfg)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/bench"
)

// TestBenchEmbeddedPhases runs `telehub bench` on its embedded server with
// a few requests of the selected phases only, and checks the table.
func TestBenchEmbeddedPhases(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"--duration", "2s", "--requests", "2", "--concurrency", "2", "--bundle-size", "5", "--phases", "transaction,read"}
	if code := runBench(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	table := stdout.String()
	for _, want := range []string{"transaction (5-entry Bundle)", "read (GET Observation/id)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "create (POST") {
		t.Errorf("the create phases ran:\n%s", table)
	}
	if !strings.Contains(stderr.String(), "µs per resource") {
		t.Errorf("no CPU time per resource:\n%s", stderr.String())
	}
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--phases", "create", "--token", "abc"}, true},
		{[]string{"--duration", "0s"}, false},
		{[]string{"--url", "http://localhost:1/fhir", "--cpuprofile", "x.prof"}, false},
		{[]string{"--url", "http://localhost:1/fhir", "--no-audit"}, false},
		{[]string{"--security", "--no-audit"}, false},
		{[]string{"extra"}, false},
		{[]string{"--phases", "create,nope"}, false},
		{[]string{"--rounds", "3"}, false}, // rounds are of --security
		{[]string{"--security", "--rounds", "0"}, false},
	} {
		cfg, err := parseBenchConfig(tc.args, func(string) string { return "" }, &bytes.Buffer{})
		if (err == nil) != tc.ok {
			t.Errorf("%v: err = %v", tc.args, err)
		}
		if tc.ok && (cfg.Phases != "create" || cfg.Token != "abc") {
			t.Errorf("%v: %+v", tc.args, cfg)
		}
	}
	env := func(name string) string {
		if name == "TELEHUB_BENCH_TOKEN" {
			return "from-env"
		}
		return ""
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "from-env"},
		{[]string{"--token", "abc"}, "abc"}, // the flag wins
	} {
		if cfg, err := parseBenchConfig(tc.args, env, &bytes.Buffer{}); err != nil || cfg.Token != tc.want {
			t.Errorf("%v with TELEHUB_BENCH_TOKEN set: token %q, %v; want %q", tc.args, cfg.Token, err, tc.want)
		}
	}
	var stderr bytes.Buffer
	if code := runBench(context.Background(), []string{"--phases", "nope", "--duration", "1s"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr); code == 0 || !strings.Contains(stderr.String(), "unknown phase") {
		t.Errorf("unknown phase: exit %d, %s", code, stderr.String())
	}
}

// TestMedianRow checks that rounds of --security report, for each server,
// the median reads/s and the median CPU per read of its runs.
func TestMedianRow(t *testing.T) {
	row := func(reads int, cpu time.Duration) securityRow {
		return securityRow{phase: bench.Phase{Resources: reads, Elapsed: time.Second}, cpuPerRead: cpu}
	}
	got := medianRow([]securityRow{row(300, 90*time.Microsecond), row(100, 70*time.Microsecond), row(200, 110*time.Microsecond)})
	if got.phase.PerSecond() != 200 || got.cpuPerRead != 90*time.Microsecond {
		t.Errorf("median of three runs: %.0f reads/s, %s per read; want 200 and 90µs", got.phase.PerSecond(), got.cpuPerRead)
	}
	if got := medianRow([]securityRow{row(150, 80*time.Microsecond)}); got.phase.PerSecond() != 150 || got.cpuPerRead != 80*time.Microsecond {
		t.Errorf("one run: %+v", got)
	}
}

// TestPairedOverheads checks that the overheads of --security compare
// each round's servers with each other: the medians of the rounds' own
// overheads, not the ratio of medians taken from different rounds.
func TestPairedOverheads(t *testing.T) {
	row := func(reads int, cpu time.Duration) securityRow {
		return securityRow{phase: bench.Phase{Resources: reads, Elapsed: time.Second}, cpuPerRead: cpu}
	}
	us := time.Microsecond
	base := []securityRow{row(100, 100*us), row(200, 50*us), row(100, 100*us)}
	// Rounds: 10%, 25% and 5% fewer reads/s; 20%, 60% and 10% more CPU.
	// The medians alone (100 and 95 reads/s) would tell 5%.
	other := []securityRow{row(90, 120*us), row(150, 80*us), row(95, 110*us)}
	if reads, cpu := pairedOverheads(base, other); reads != "10%" || cpu != "20%" {
		t.Errorf("paired overheads %s and %s, want 10%% and 20%%", reads, cpu)
	}
	if reads, cpu := pairedOverheads([]securityRow{row(0, 0)}, []securityRow{row(50, 0)}); reads != "-" || cpu != "-" {
		t.Errorf("a base round without reads: overheads %s and %s, want -", reads, cpu)
	}
}

// TestBenchDICOMEmbedded runs `telehub bench dicom` at a small size on its
// embedded server, without Orthanc (the conformance tests run it beside
// Orthanc), and checks that every phase ran: the instances stored, the
// queries answered, the large study's memory sampled.
func TestBenchDICOMEmbedded(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"dicom", "--orthanc=false", "--instances", "20", "--queries", "4", "--wado-rounds", "1", "--large-mb", "2"}
	if code := runBench(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	var row []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "TeleHub" && f[1] != "peak" {
			row = f
		}
	}
	if row == nil {
		t.Fatalf("no TeleHub row:\n%s", stdout.String())
	}
	if row[1] != "20" || row[2] != "0" {
		t.Errorf("stored %s with %s errors, want 20 and 0:\n%s", row[1], row[2], stdout.String())
	}
	if !strings.Contains(stdout.String(), "TeleHub: peak RSS") {
		t.Errorf("no memory line for the large study:\n%s", stdout.String())
	}
}

func TestBenchDICOMFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--url", "http://localhost:1/dicom-web", "--token", "abc", "--pid", "12"}, true},
		{[]string{"--large-mb", "0"}, false},
		{[]string{"--pid", "12"}, false}, // the embedded server is this process
		{[]string{"extra"}, false},
	} {
		if _, err := parseBenchDICOMConfig(tc.args, func(string) string { return "" }, &bytes.Buffer{}); (err == nil) != tc.ok {
			t.Errorf("%v: err = %v", tc.args, err)
		}
	}
}

// TestBenchSecurity runs `telehub bench --security` briefly: its three
// servers read in interleaved slices, each row has reads and no error,
// and the servers' CPU per read is measured.
func TestBenchSecurity(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"--security", "--duration", "1s", "--concurrency", "2"}
	if code := runBench(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	for _, setup := range securitySetups {
		var row []string
		for _, line := range strings.Split(stdout.String(), "\n") {
			if strings.HasPrefix(line, setup.name+"  ") {
				row = strings.Fields(strings.TrimPrefix(line, setup.name))
			}
		}
		if len(row) != 7 {
			t.Fatalf("no row for %q:\n%s", setup.name, stdout.String())
		}
		if reads, err := strconv.ParseFloat(row[0], 64); err != nil || reads <= 0 {
			t.Errorf("%s: %s reads/s", setup.name, row[0])
		}
		if row[6] != "0" {
			t.Errorf("%s: %s errors", setup.name, row[6])
		}
		if _, err := time.ParseDuration(row[4]); err != nil && row[4] != "-" {
			t.Errorf("%s: CPU per read %q", setup.name, row[4])
		}
	}
}

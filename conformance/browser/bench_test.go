package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/internal/e2e"
	"github.com/telehub/telehub/signaling/bench"
)

// peerJS is a running PeerJS server.
type peerJS struct {
	URL string
	pid int
}

func startPeerJS(t *testing.T) *peerJS {
	t.Helper()
	node, modules := e2e.Node(t, "peer")
	cmd := exec.Command(node, filepath.Join(here(t), "peerjs.mjs"))
	cmd.Env = append(os.Environ(), "NODE_MODULES="+modules)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	select {
	case l := <-line:
		var v struct{ Port int }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Port == 0 {
			t.Fatalf("peerjs.mjs printed %q", l)
		}
		return &peerJS{URL: fmt.Sprintf("http://127.0.0.1:%d", v.Port), pid: cmd.Process.Pid}
	case <-time.After(30 * time.Second):
		t.Fatal("the PeerJS server did not start")
	}
	return nil
}

// rss is the resident memory of a process, from /proc (0 when unknown).
func rss(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// grownBy is how much memory grew from before to after (0 if it shrank).
func grownBy(before, after uint64) uint64 {
	if after < before {
		return 0
	}
	return after - before
}

// cpuOf is the CPU time a process has used, from /proc (0 when unknown).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// telehubServer is a TeleHub server process for the benchmark.
type telehubServer struct {
	benchServer
	pid int
}

// startTeleHub runs nodes TeleHub nodes with rooms e-Staff rooms in a
// process of their own: the test binary itself (see TestMain).
func startTeleHub(t *testing.T, nodes, rooms int) *telehubServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TELEHUB_BENCH_SERVE="+strconv.Itoa(nodes), "TELEHUB_BENCH_ROOMS="+strconv.Itoa(rooms))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	var srv telehubServer
	if err := json.NewDecoder(out).Decode(&srv.benchServer); err != nil {
		t.Fatalf("bench server: %v", err)
	}
	srv.pid = cmd.Process.Pid
	return &srv
}

// run is a load generator configuration against s.
func (s *telehubServer) run(clients int, d time.Duration) bench.Config {
	name := "TeleHub relay, 1 node"
	if len(s.URLs) > 1 {
		name = fmt.Sprintf("TeleHub relay, %d nodes over NATS", len(s.URLs))
	}
	return bench.Config{Name: name, Clients: clients, Rooms: len(s.Rooms), Duration: d,
		Dial: bench.TeleHub(s.URLs, s.Token, s.Rooms), ServerCPU: func() time.Duration { return cpuOf(s.pid) }}
}

// TestSignalingBenchSmoke keeps the load generator working: a few clients,
// a second, against each server; every message relayed, none lost.
func TestSignalingBenchSmoke(t *testing.T) {
	ctx := context.Background()
	runs := []bench.Config{startTeleHub(t, 1, 2).run(8, time.Second), startTeleHub(t, 2, 2).run(8, time.Second)}
	pj := startPeerJS(t)
	runs = append(runs, bench.Config{Name: "PeerJS server", Clients: 8, Rooms: 2, Duration: time.Second, Dial: bench.PeerJS(pj.URL, "smoke"),
		ServerCPU: func() time.Duration { return cpuOf(pj.pid) }})
	for _, cfg := range runs {
		res, err := bench.Run(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Name, err)
		}
		t.Log(res)
		if res.Messages == 0 || res.Errors != 0 || res.P50 <= 0 {
			t.Errorf("%s: %d messages, %d errors, p50 %v", cfg.Name, res.Messages, res.Errors, res.P50)
		}
	}
}

// TestSignalingBench measures TeleHub's relay (one node, then two nodes
// over NATS) and the PeerJS server with 1,000 clients in 250 rooms. It runs
// when TELEHUB_SIGNALING_BENCH=1 and prints a table. Other knobs, for
// studying one server:
//
//	TELEHUB_SIGNALING_BENCH_SECONDS  duration of each run (default 10)
//	TELEHUB_SIGNALING_BENCH_RUNS     the runs, comma-separated among peerjs, 1, 2 (default all)
//	TELEHUB_SIGNALING_BENCH_WINDOW   messages in flight each way per pair (default 4), for every run
//	TELEHUB_SIGNALING_BENCH_WRITE_EACH=1  clients write every message on its own, for every run
//	TELEHUB_SIGNALING_BENCH_PROFILE  FILE: a CPU profile of the load generator during the first TeleHub run
//
// (TELEHUB_BENCH_CPUPROFILE, see TestMain, profiles the TeleHub server processes.)
func TestSignalingBench(t *testing.T) {
	if os.Getenv("TELEHUB_SIGNALING_BENCH") != "1" {
		t.Skip("set TELEHUB_SIGNALING_BENCH=1 to run the signaling benchmark")
	}
	secs, _ := strconv.Atoi(os.Getenv("TELEHUB_SIGNALING_BENCH_SECONDS"))
	if secs <= 0 {
		secs = 10
	}
	// The same load for every server: only these knobs change it, for all.
	window, _ := strconv.Atoi(os.Getenv("TELEHUB_SIGNALING_BENCH_WINDOW"))
	writeEach := os.Getenv("TELEHUB_SIGNALING_BENCH_WRITE_EACH") == "1"
	runs := map[string]bool{"peerjs": true, "1": true, "2": true}
	if v := os.Getenv("TELEHUB_SIGNALING_BENCH_RUNS"); v != "" {
		runs = map[string]bool{}
		for _, r := range strings.Split(v, ",") {
			runs[strings.TrimSpace(r)] = true
		}
	}
	d := time.Duration(secs) * time.Second
	const clients, rooms = 1000, 250
	ctx := context.Background()
	var lines []string

	var pjRes *bench.Result
	if runs["peerjs"] {
		pj := startPeerJS(t)
		var peerRSS uint64
		rssBefore := rss(pj.pid)
		pjCfg := bench.Config{Name: "PeerJS server 1.0.2", Clients: clients, Rooms: rooms, Duration: d, Window: window, WriteEach: writeEach, Dial: bench.PeerJS(pj.URL, "bench"),
			ServerCPU: func() time.Duration { return cpuOf(pj.pid) },
			Settle: func(context.Context) error {
				peerRSS = grownBy(rssBefore, rss(pj.pid))
				return nil
			}}
		res, err := bench.Run(ctx, pjCfg)
		if err != nil {
			t.Fatal(err)
		}
		pjRes = &res
		lines = append(lines, res.String(), fmt.Sprintf("memory per connection: %s %.1f KiB (server RSS)", res.Name, float64(peerRSS)/clients/1024))
	}

	var oneNode *bench.Result
	profile := os.Getenv("TELEHUB_SIGNALING_BENCH_PROFILE") // a CPU profile of the generator
	for _, nodes := range []int{1, 2} {
		if !runs[strconv.Itoa(nodes)] {
			continue
		}
		srv := startTeleHub(t, nodes, rooms)
		cfg := srv.run(clients, d)
		cfg.Window, cfg.WriteEach = window, writeEach
		var grown uint64
		before := rss(srv.pid)
		profiling := false
		cfg.Settle = func(context.Context) error {
			grown = grownBy(before, rss(srv.pid))
			if profile != "" {
				f, err := os.Create(profile)
				if err != nil {
					return err
				}
				profile, profiling = "", true
				return pprof.StartCPUProfile(f)
			}
			return nil
		}
		res, err := bench.Run(ctx, cfg)
		if profiling {
			pprof.StopCPUProfile()
		}
		if err != nil {
			t.Fatal(err)
		}
		if nodes == 1 {
			oneNode = &res
		}
		lines = append(lines, res.String(), fmt.Sprintf("memory per connection: %s %.1f KiB (server RSS)", res.Name, float64(grown)/clients/1024))
	}
	t.Logf("signaling relays, %d s per run, load generator on the same machine:\n%s\n%s", secs, bench.Header, strings.Join(lines, "\n"))
	if r := oneNode; r != nil && pjRes != nil && (r.PerSecond() < 2*pjRes.PerSecond() || r.P99 > pjRes.P99) {
		t.Logf("target missed: TeleHub %.0f msg/s p99 %v, PeerJS %.0f msg/s p99 %v (want 2x the throughput at an equal or lower p99)",
			r.PerSecond(), r.P99, pjRes.PerSecond(), pjRes.P99)
	}
}

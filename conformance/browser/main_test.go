package browser

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/telehub/telehub/signaling/signalingtest"
)

// TestMain doubles as the benchmark's TeleHub server: with
// TELEHUB_BENCH_SERVE=<nodes>, the test binary starts that many nodes (and
// their NATS server) in a process of its own, as the PeerJS server runs in
// its own, prints how to reach them and serves until its standard input
// closes.
func TestMain(m *testing.M) {
	if nodes := os.Getenv("TELEHUB_BENCH_SERVE"); nodes != "" {
		os.Exit(serveBench(nodes))
	}
	os.Exit(m.Run())
}

// benchServer is what a server process prints: its nodes, a token and the rooms.
type benchServer struct {
	URLs  []string `json:"urls"`
	Token string   `json:"token"`
	Rooms []string `json:"rooms"`
}

// process is a signalingtest.TB for a program: failures end it.
type process struct {
	cleanups []func()
	dirs     []string
}

func (p *process) Helper()                           {}
func (p *process) Fatal(args ...any)                 { p.fail(fmt.Sprint(args...)) }
func (p *process) Fatalf(format string, args ...any) { p.fail(fmt.Sprintf(format, args...)) }
func (p *process) Cleanup(f func())                  { p.cleanups = append(p.cleanups, f) }
func (p *process) TempDir() string {
	dir, err := os.MkdirTemp("", "telehub-bench-")
	if err != nil {
		p.fail(err.Error())
	}
	p.dirs = append(p.dirs, dir)
	return dir
}

func (p *process) fail(msg string) {
	fmt.Fprintln(os.Stderr, "bench server:", msg)
	p.close()
	os.Exit(1)
}

func (p *process) close() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	for _, d := range p.dirs {
		os.RemoveAll(d)
	}
}

func serveBench(nodesArg string) int {
	nodes, err := strconv.Atoi(nodesArg)
	rooms, err2 := strconv.Atoi(os.Getenv("TELEHUB_BENCH_ROOMS"))
	if err != nil || err2 != nil || nodes < 1 || rooms < 1 {
		fmt.Fprintln(os.Stderr, "bench server: TELEHUB_BENCH_SERVE and TELEHUB_BENCH_ROOMS must be positive numbers")
		return 2
	}
	p := &process{}
	defer p.close()
	env := signalingtest.Start(p, signalingtest.Config{Nodes: nodes, SharedIssuer: true, Relay: func(o *signalingOptions) {
		// The per-connection rate limit guards production relays against
		// floods; the benchmark measures the relay itself.
		o.RateLimit, o.RateBurst = 1e9, 1e9
	}})
	out := benchServer{Token: env.Nodes[0].Token(p, signalingtest.PractitionerUser, signalingtest.PractitionerScopes)}
	for _, n := range env.Nodes {
		out.URLs = append(out.URLs, n.URL)
	}
	for range rooms {
		id, _ := env.Encounter(p, "e-staff")
		out.Rooms = append(out.Rooms, "Encounter/"+id)
	}
	// TELEHUB_BENCH_MEMSTATS=FILE logs the memory every 2 s and keeps a
	// heap profile in FILE: where a connection's memory goes.
	if os.Getenv("TELEHUB_BENCH_MEMSTATS") != "" {
		go func() {
			for range time.Tick(2 * time.Second) {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				fmt.Fprintf(os.Stderr, "bench server: goroutines %d heap in use %d KiB stacks %d KiB sys %d KiB\n",
					runtime.NumGoroutine(), m.HeapInuse>>10, m.StackInuse>>10, m.Sys>>10)
				if f, err := os.Create(os.Getenv("TELEHUB_BENCH_MEMSTATS")); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}()
	}
	// TELEHUB_BENCH_CPUPROFILE=FILE profiles the server until it stops.
	if path := os.Getenv("TELEHUB_BENCH_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 1
	}
	io.Copy(io.Discard, os.Stdin) // serve until the benchmark closes our input
	return 0
}

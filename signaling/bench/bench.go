// Package bench is a load generator for WebRTC signaling servers: it opens
// many WebSocket clients in rooms of a few participants, pairs them, and
// keeps a fixed number of ICE-candidate-sized messages in flight between the
// two clients of each pair, each received message answered by a new one. It
// reports relayed messages per second and the one-way latency of a message
// through the server (p50, p99). It speaks TeleHub's signaling protocol
// (package signaling) and the PeerJS server's, so that both can be measured
// the same way on the same machine.
//
// The generator shares the machine's cores with the server it measures, so
// the less it spends on a message the more exactly it measures the server.
// Its clients speak WebSocket through Conn, which costs no context, timer or
// goroutine hand-off per message, and answer the messages that came in one
// read in one write (Config.WriteEach writes every message on its own
// instead). Whatever the server, the load is the same: the same clients,
// rooms, messages and window.
package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Dialer connects client number i, a member of room number room.
type Dialer func(ctx context.Context, i, room int) (*Client, error)

// Config is one run.
type Config struct {
	Name     string
	Clients  int // default 1000
	Rooms    int // default 250 (Clients/Rooms per room; pairs within rooms)
	Duration time.Duration
	// Window is the messages in flight in each direction of a pair (default 4).
	Window int
	// DialConcurrency bounds concurrent connection set-ups (default 32).
	DialConcurrency int
	Dial            Dialer
	// Settle runs after every client is connected, before the load (for
	// instance to let presence messages pass, or to sample memory).
	Settle func(ctx context.Context) error
	// ServerCPU, when the server is another process, returns the CPU time
	// it has used; the run's CPU is then this process's plus the server's.
	ServerCPU func() time.Duration
	// WriteEach sends every message in a write of its own, rather than the
	// answers to the messages of one read together.
	WriteEach bool
}

// Result is the outcome of one run.
type Result struct {
	Name     string
	Clients  int
	Rooms    int
	Messages int64
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	// CPU is the CPU time the load took: load generator and server(s);
	// ServerCPU the server's share, when it runs in another process.
	CPU, ServerCPU time.Duration
}

// ServerCPUPerMessage is the server's CPU time per relayed message (0 when
// the server shares the load generator's process).
func (r Result) ServerCPUPerMessage() time.Duration {
	if r.Messages == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Messages)
}

// CPUPerMessage is the CPU time per relayed message, load generator
// included: a figure less sensitive than throughput to other load on the
// machine.
func (r Result) CPUPerMessage() time.Duration {
	if r.Messages == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Messages)
}

// PerSecond is the relayed messages per second.
func (r Result) PerSecond() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%-34s %7d %6d %10d %12.0f %10s %10s %12s %12s %6d", r.Name, r.Clients, r.Rooms, r.Messages, r.PerSecond(),
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.CPUPerMessage().Round(100*time.Nanosecond),
		r.ServerCPUPerMessage().Round(100*time.Nanosecond), r.Errors)
}

// Header is the table header matching Result.String.
const Header = "server                             clients  rooms   messages   messages/s        p50        p99  CPU/message  server part errors"

// candidate is the body of every message: the size of a real ICE candidate.
const candidate = `{"candidate":"candidate:842163049 1 udp 1677729535 192.0.2.10 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Zx9f","sdpMid":"0","sdpMLineIndex":0,"ts":`

// Run connects the clients, runs the load for cfg.Duration and closes them.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Clients <= 0 {
		cfg.Clients = 1000
	}
	if cfg.Rooms <= 0 {
		cfg.Rooms = 250
	}
	if cfg.Window <= 0 {
		cfg.Window = 4
	}
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 32
	}
	if cfg.Clients%2 != 0 || (cfg.Clients/cfg.Rooms)%2 != 0 {
		return Result{}, errors.New("bench: clients must pair up within rooms (an even number per room)")
	}
	clients, err := dialAll(ctx, cfg)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Conn.Close()
			}
		}
	}()
	if err != nil {
		return Result{}, err
	}
	if cfg.Settle != nil {
		if err := cfg.Settle(ctx); err != nil {
			return Result{}, err
		}
	}
	return load(ctx, cfg, clients)
}

func dialAll(ctx context.Context, cfg Config) ([]*Client, error) {
	clients := make([]*Client, cfg.Clients)
	perRoom := cfg.Clients / cfg.Rooms
	sem := make(chan struct{}, cfg.DialConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := cfg.Dial(ctx, i, i/perRoom)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("bench: dial client %d: %w", i, err)
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	return clients, firstErr
}

// load runs the ping-pong between the pairs (2k, 2k+1): each client sends
// Window messages to its partner, then answers every message it receives
// with a new one.
func load(ctx context.Context, cfg Config, clients []*Client) (Result, error) {
	var (
		errs             atomic.Int64
		running, closing atomic.Bool
		wg               sync.WaitGroup
		mu               sync.Mutex
		samples          []time.Duration
	)
	serverCPU := func() time.Duration {
		if cfg.ServerCPU == nil {
			return 0
		}
		return cfg.ServerCPU()
	}
	start, cpuStart, serverStart := time.Now(), processCPU(), serverCPU()
	running.Store(true)
	for i, c := range clients {
		partner := clients[i^1].ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			latencies, err := pingPong(c, partner, cfg.Window, cfg.WriteEach, &running)
			if err != nil && !closing.Load() {
				errs.Add(1)
			}
			mu.Lock()
			samples = append(samples, latencies...)
			mu.Unlock()
		}()
	}
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	running.Store(false)
	elapsed, serverUsed := time.Since(start), serverCPU()-serverStart
	cpuUsed := processCPU() - cpuStart + serverUsed
	closing.Store(true)
	for _, c := range clients {
		c.Conn.Close() // ends the reads
	}
	wg.Wait()
	res := Result{Name: cfg.Name, Clients: cfg.Clients, Rooms: cfg.Rooms, Messages: int64(len(samples)), Errors: errs.Load(), Elapsed: elapsed, CPU: cpuUsed, ServerCPU: serverUsed}
	slices.Sort(samples)
	if n := len(samples); n > 0 {
		res.P50, res.P99 = samples[n/2], samples[min(n-1, n*99/100)]
	}
	return res, nil
}

// pingPong is one client's part of the load, until its connection is
// closed: it returns the latency of every message it received while
// running. The answers to the messages that came in one read leave in one
// write, unless writeEach.
func pingPong(c *Client, partner string, window int, writeEach bool, running *atomic.Bool) ([]time.Duration, error) {
	latencies := make([]time.Duration, 0, 1024)
	var payload, msg []byte // reused for every message
	send := func(now int64) error {
		payload = append(strconv.AppendInt(append(payload[:0], candidate...), now, 10), '}')
		msg = c.AppendMessage(msg[:0], partner, payload)
		c.Conn.Text(msg)
		if writeEach {
			return c.Conn.Flush()
		}
		return nil // sent when Next has no whole message left to return
	}
	for range window {
		if err := send(time.Now().UnixNano()); err != nil {
			return latencies, err
		}
	}
	if err := c.Conn.Flush(); err != nil {
		return latencies, err
	}
	for {
		_, b, err := c.Conn.Next()
		if err != nil {
			return latencies, err
		}
		if ts, ok := timestamp(b); ok && running.Load() { // not a presence, pong, OPEN…
			now := time.Now().UnixNano()
			latencies = append(latencies, time.Duration(now-ts))
			if err := send(now); err != nil {
				return latencies, err
			}
		}
	}
}

// timestamp finds the "ts" a message carries.
func timestamp(b []byte) (int64, bool) {
	const key = `"ts":`
	for i := 0; i+len(key) < len(b); i++ {
		if b[i] != '"' || string(b[i:i+len(key)]) != key {
			continue
		}
		j := i + len(key)
		k := j
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		ts, err := strconv.ParseInt(string(b[j:k]), 10, 64)
		return ts, err == nil
	}
	return 0, false
}

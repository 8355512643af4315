package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is the peak of each part of a server's memory over a phase, each
// sampled on its own (the peaks need not be simultaneous).
type Memory struct {
	RSS  uint64 // resident memory (VmRSS): the figure compared
	Anon uint64 // its anonymous part (RssAnon): heaps, caches of C libraries
	File uint64 // its file-backed part (RssFile): the binary, mapped files
	// For a server in this process (whose RSS includes the load
	// generator): the Go heap's objects, and all the memory the Go runtime
	// holds from the system (heap, stacks, metadata), so that anonymous
	// memory outside Go (SQLite's page caches) shows as Anon - GoRuntime.
	Heap, GoRuntime uint64
}

func (m *Memory) raise(s Memory) {
	m.RSS, m.Anon, m.File = max(m.RSS, s.RSS), max(m.Anon, s.Anon), max(m.File, s.File)
	m.Heap, m.GoRuntime = max(m.Heap, s.Heap), max(m.GoRuntime, s.GoRuntime)
}

// sampler records the peak memory of a process (from /proc, every 20 ms)
// and, when that process is this one, of the Go runtime: sampling beats
// VmHWM, which cannot tell one phase from another.
type sampler struct {
	pid   int
	self  bool
	mu    sync.Mutex
	peak  Memory
	stopc chan struct{}
	done  chan struct{}
}

func startSampler(pid int) *sampler {
	s := &sampler{pid: pid, self: pid == os.Getpid(), stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if pid == 0 {
			return
		}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stopc:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// goMemory reads the Go heap's objects and the memory the runtime holds:
// all it mapped but what it released to the system.
var goMemory = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

func (s *sampler) sample() {
	m, _ := residentMemory(s.pid)
	if s.self {
		ms := make([]metrics.Sample, len(goMemory))
		copy(ms, goMemory)
		metrics.Read(ms)
		if ms[0].Value.Kind() == metrics.KindUint64 {
			m.Heap = ms[0].Value.Uint64()
			m.GoRuntime = ms[1].Value.Uint64() - ms[2].Value.Uint64()
		}
	}
	s.mu.Lock()
	s.peak.raise(m)
	s.mu.Unlock()
}

func (s *sampler) peaks() Memory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func (s *sampler) stop() Memory {
	close(s.stopc)
	<-s.done
	return s.peaks()
}

// residentMemory reads VmRSS, RssAnon and RssFile of a process from /proc.
func residentMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	fields := map[string]*uint64{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for prefix, v := range fields {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err != nil {
					return m, fmt.Errorf("bench: /proc/%d/status: %s %w", pid, prefix, err)
				}
				*v = kb * 1024
			}
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("bench: no VmRSS in /proc/%d/status", pid)
	}
	return m, sc.Err()
}

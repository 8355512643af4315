// Package procmem reads and samples the resident memory of a process, as
// the benchmarks report a server's memory: its resident set (the figure
// compared), split into the anonymous part (heaps, SQLite's page caches)
// and the file-backed part (the binary, and the database pages SQLite's
// readers map, which are the operating system's cache and reclaimable),
// and, for this process, what the Go runtime holds.
//
// It reads /proc: on other systems Read fails and a Sampler records nothing.
package procmem

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

// Memory is a reading of a process's memory, or the peak of each part over
// a time (each sampled on its own: the peaks need not be simultaneous).
type Memory struct {
	RSS  uint64 // resident memory (VmRSS)
	Anon uint64 // its anonymous part (RssAnon)
	File uint64 // its file-backed part (RssFile)
	// PeakRSS is the largest resident memory of the process since it
	// started (VmHWM), which no sampling misses.
	PeakRSS uint64
	// For this process: the Go heap's objects, and all the memory the Go
	// runtime holds from the system (heap, stacks, metadata), so that
	// anonymous memory outside Go (SQLite's page caches) shows as
	// Anon - GoRuntime.
	Heap, GoRuntime uint64
}

// Raise makes each part of m at least that of s.
func (m *Memory) Raise(s Memory) {
	m.RSS, m.Anon, m.File, m.PeakRSS = max(m.RSS, s.RSS), max(m.Anon, s.Anon), max(m.File, s.File), max(m.PeakRSS, s.PeakRSS)
	m.Heap, m.GoRuntime = max(m.Heap, s.Heap), max(m.GoRuntime, s.GoRuntime)
}

// Read reads the memory of process pid, with the Go runtime's share when
// pid is this process.
func Read(pid int) (Memory, error) {
	m, err := readStatus(pid)
	if err == nil && pid == os.Getpid() {
		m.Heap, m.GoRuntime = goMemory()
	}
	return m, err
}

// readStatus reads VmRSS, RssAnon, RssFile and VmHWM from /proc/pid/status.
func readStatus(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	fields := map[string]*uint64{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File, "VmHWM:": &m.PeakRSS}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for prefix, v := range fields {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err != nil {
					return m, fmt.Errorf("procmem: /proc/%d/status: %s %w", pid, prefix, err)
				}
				*v = kb * 1024
			}
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("procmem: no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// goMemory returns the Go heap's objects and the memory the runtime holds:
// all it mapped but what it released to the system.
func goMemory() (heap, runtime uint64) {
	ms := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(ms)
	if ms[0].Value.Kind() != metrics.KindUint64 {
		return 0, 0
	}
	return ms[0].Value.Uint64(), ms[1].Value.Uint64() - ms[2].Value.Uint64()
}

// Sampler records the peak of each part of a process's memory, read every
// so often until Stop: sampling, unlike VmHWM, can tell one phase of a run
// from another.
type Sampler struct {
	pid   int
	mu    sync.Mutex
	peak  Memory
	stopc chan struct{}
	done  chan struct{}
}

// Start samples process pid every interval; pid 0 samples nothing.
func Start(pid int, every time.Duration) *Sampler {
	s := &Sampler{pid: pid, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if pid == 0 {
			return
		}
		t := time.NewTicker(every)
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

func (s *Sampler) sample() {
	m, err := Read(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.peak.Raise(m)
	s.mu.Unlock()
}

// Peaks returns the peaks so far.
func (s *Sampler) Peaks() Memory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Stop takes a last reading, ends the sampling and returns the peaks.
func (s *Sampler) Stop() Memory {
	close(s.stopc)
	<-s.done
	return s.Peaks()
}

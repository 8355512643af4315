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

// sampler records the peak resident memory of a process (VmRSS from
// /proc, every 20 ms) and, when that process is this one, the peak of the
// Go heap: sampling beats VmHWM, which cannot tell one phase from another.
type sampler struct {
	pid            int
	self           bool
	mu             sync.Mutex
	peakRSS, peakH uint64
	stopc          chan struct{}
	done           chan struct{}
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

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func (s *sampler) sample() {
	rss, _ := residentBytes(s.pid)
	var heap uint64
	if s.self {
		ms := make([]metrics.Sample, len(heapSample))
		copy(ms, heapSample)
		metrics.Read(ms)
		if ms[0].Value.Kind() == metrics.KindUint64 {
			heap = ms[0].Value.Uint64()
		}
	}
	s.mu.Lock()
	s.peakRSS = max(s.peakRSS, rss)
	s.peakH = max(s.peakH, heap)
	s.mu.Unlock()
}

func (s *sampler) peaks() (rss, heap uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.peakH
}

func (s *sampler) stop() (rss, heap uint64) {
	close(s.stopc)
	<-s.done
	return s.peaks()
}

// residentBytes reads VmRSS of a process from /proc.
func residentBytes(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS in /proc/%d/status", pid)
}

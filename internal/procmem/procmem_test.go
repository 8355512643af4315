package procmem

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	m, err := Read(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if m.RSS == 0 || m.Anon == 0 || m.File == 0 || m.Anon+m.File > m.RSS || m.PeakRSS < m.RSS {
		t.Errorf("this process: %+v; want resident memory split into its parts, under its peak", m)
	}
	if m.GoRuntime == 0 || m.Heap == 0 || m.Heap > m.GoRuntime {
		t.Errorf("this process's Go runtime: heap %d of %d", m.Heap, m.GoRuntime)
	}
	if _, err := Read(0); err == nil {
		t.Error("Read(0) succeeded")
	}
}

// TestSamplerSeesAnAllocation: memory touched and held while the sampler
// runs shows in the peak of the anonymous part.
func TestSamplerSeesAnAllocation(t *testing.T) {
	before, err := Read(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	s := Start(os.Getpid(), time.Millisecond)
	held := make([]byte, 128<<20)
	for i := range held {
		held[i] = 1 // resident only once written
	}
	want := before.Anon + 100<<20
	for deadline := time.Now().Add(10 * time.Second); s.Peaks().Anon < want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	peak := s.Stop()
	if peak.Anon < want || peak.RSS < peak.Anon {
		t.Errorf("peaks %+v after touching 128 MiB over %d anonymous bytes", peak, before.Anon)
	}
	runtime.KeepAlive(held)
}

package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telehub/telehub/internal/procmem"
)

// sampleEvery is how often the memory probe is read during a run; only the
// embedded probe reports a true peak, a remote RSS has to be sampled.
const sampleEvery = 500 * time.Millisecond

// MetricsURL derives the server's /metrics address from its FHIR base
// ("http://host:8080/fhir" → "http://host:8080/metrics").
func MetricsURL(fhirBase string) (string, error) {
	u, err := url.Parse(fhirBase)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("bench: FHIR base %q is not an absolute URL", fhirBase)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/fhir") + "/metrics"
	u.RawQuery = ""
	return u.String(), nil
}

// RemoteRSS reads process_resident_memory_bytes from a server's Prometheus
// endpoint: the resident memory at the time of the scrape.
func RemoteRSS(client *http.Client, metricsURL string) MemoryProbe {
	return func(ctx context.Context) (uint64, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
		if err != nil {
			return 0, "", err
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, "", fmt.Errorf("bench: scrape %s: %w", metricsURL, err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return 0, "", fmt.Errorf("bench: scrape %s: HTTP %d", metricsURL, res.StatusCode)
		}
		const name = "process_resident_memory_bytes "
		scanner := bufio.NewScanner(res.Body)
		for scanner.Scan() {
			if value, ok := strings.CutPrefix(scanner.Text(), name); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err != nil {
					return 0, "", fmt.Errorf("bench: %s%s: %w", name, value, err)
				}
				return uint64(f), "largest process_resident_memory_bytes sampled from /metrics", nil
			}
		}
		if err := scanner.Err(); err != nil {
			return 0, "", fmt.Errorf("bench: scrape %s: %w", metricsURL, err)
		}
		return 0, "", fmt.Errorf("bench: %s has no process_resident_memory_bytes", metricsURL)
	}
}

// SelfMemory returns a probe of this process's peak resident memory
// (VmHWM) or, where /proc is absent, of the memory the Go runtime obtained
// from the system. An embedded server shares the process with the load
// generator, so the figure includes both. Its source also names the largest
// anonymous and file-backed parts sampled so far: a server's mapped
// database pages are the operating system's cache, not memory the server
// holds on to.
func SelfMemory() MemoryProbe {
	var (
		mu    sync.Mutex
		parts procmem.Memory
	)
	return func(context.Context) (uint64, string, error) {
		m, err := procmem.Read(os.Getpid())
		if err != nil {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.Sys, "memory obtained by the Go runtime, load generator included", nil
		}
		mu.Lock()
		defer mu.Unlock()
		parts.Raise(m)
		return parts.PeakRSS, fmt.Sprintf("peak RSS (VmHWM) of the process, load generator included; largest sampled: "+
			"anonymous %.0f MiB (Go runtime %.0f MiB), file-backed %.0f MiB (the binary, mapped database pages)",
			mib(parts.Anon), mib(parts.GoRuntime), mib(parts.File)), nil
	}
}

func mib(bytes uint64) float64 { return float64(bytes) / (1 << 20) }

// writeMemory writes the line of a run's server peak memory.
func writeMemory(w io.Writer, peak uint64, source string, err error) error {
	if err != nil {
		_, err := fmt.Fprintf(w, "\nserver peak memory: unknown (%v)\n", err)
		return err
	}
	_, err = fmt.Fprintf(w, "\nserver peak memory: %.1f MiB (%s)\n", mib(peak), source)
	return err
}

// memorySampler reads a probe periodically and keeps the largest figure.
type memorySampler struct {
	probe  MemoryProbe
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	peak   uint64
	source string
	err    error
}

func startMemorySampler(ctx context.Context, probe MemoryProbe) *memorySampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &memorySampler{probe: probe, cancel: cancel, done: make(chan struct{})}
	go s.loop(ctx)
	return s
}

func (s *memorySampler) loop(ctx context.Context) {
	defer close(s.done)
	ticker := time.NewTicker(sampleEvery)
	defer ticker.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// sample is only called from loop, then from stop once loop has ended.
func (s *memorySampler) sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	bytes, source, err := s.probe(ctx)
	if err != nil {
		if s.peak == 0 {
			s.err = err
		}
		return
	}
	if bytes >= s.peak {
		s.peak, s.source, s.err = bytes, source, nil
	}
}

// stop ends the sampling with a last reading and returns the peak; it may be
// called more than once.
func (s *memorySampler) stop() (uint64, string, error) {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		s.sample(context.Background())
	})
	return s.peak, s.source, s.err
}

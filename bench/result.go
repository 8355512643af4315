package bench

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Result is the outcome of a run.
type Result struct {
	URL      string
	Duration time.Duration
	Phases   []Phase
	// PeakMemory is the largest figure the memory probe reported, in bytes.
	PeakMemory   uint64
	MemorySource string
	// MemoryErr is why no memory figure could be read, if none could.
	MemoryErr error
}

// Phase is the outcome of one phase.
type Phase struct {
	Name    string
	Clients int
	// Requests counts successful requests; Errors the failed ones.
	Requests  int
	Errors    int
	Resources int
	Elapsed   time.Duration
	// P50 and P99 are latencies of successful requests.
	P50, P99 time.Duration
	// FirstError describes the first failure, if any.
	FirstError string
}

// PerSecond is the phase's throughput in resources (created or read) per second.
func (p Phase) PerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Resources) / p.Elapsed.Seconds()
}

// WriteTable prints the result as an aligned text table.
func (r *Result) WriteTable(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "TeleHub bench against %s, %s per phase\n\n", r.URL, r.Duration); err != nil {
		return err
	}
	// Numbers align right; the phase names, padded here, stay on the left.
	// Padding is written into the cells so the first column has none before it.
	nameWidth := len("phase")
	for _, p := range r.Phases {
		nameWidth = max(nameWidth, len(p.Name))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 0, ' ', tabwriter.AlignRight)
	row := func(cells ...string) {
		fmt.Fprintf(tw, "%-*s\t", nameWidth, cells[0])
		for _, c := range cells[1:] {
			fmt.Fprintf(tw, "  %s\t", c)
		}
		fmt.Fprintln(tw)
	}
	row("phase", "clients", "requests", "errors", "resources", "resources/s", "p50", "p99")
	for _, p := range r.Phases {
		row(p.Name, strconv.Itoa(p.Clients), strconv.Itoa(p.Requests), strconv.Itoa(p.Errors),
			strconv.Itoa(p.Resources), fmt.Sprintf("%.0f", p.PerSecond()), formatLatency(p.P50), formatLatency(p.P99))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Phases {
		if p.FirstError != "" {
			fmt.Fprintf(w, "\n%s: %d errors, first: %s", p.Name, p.Errors, p.FirstError)
		}
	}
	return writeMemory(w, r.PeakMemory, r.MemorySource, r.MemoryErr)
}

func formatLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

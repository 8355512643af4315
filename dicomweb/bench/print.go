package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Print writes the report as a table, then the ratios of the first target
// to the others.
func (r Report) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\nDICOMweb: %d instances of %dx%d 16-bit pixels, %d clients, %d instances per STOW request, %d QIDO queries, each study retrieved %d times",
		c.Instances, c.Cols, c.Rows, c.Clients, c.Batch, c.Queries, c.WADORounds)
	if c.LargeMB > 0 {
		fmt.Fprintf(w, ", large study %d MB", c.LargeMB)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tstored\terrors\tSTOW inst/s\tSTOW MB/s\tQIDO p50\tQIDO p99\tWADO MB/s\tpeak RSS 1/5 study\tpeak RSS whole study\tGo heap 1/5\tGo heap whole\t")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.1f\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t\n",
			x.Target, x.Stored, x.Errors, x.STOWPerSec, x.STOWMBPerSec, ms(x.QIDOP50), ms(x.QIDOP99), x.WADOMBPerSec,
			mib(x.PeakFifth.RSS), mib(x.Peak.RSS), mib(x.PeakFifth.Heap), mib(x.Peak.Heap))
	}
	tw.Flush()
	for _, x := range r.Results {
		printGrowth(w, x)
		if x.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", x.Target, x.FirstError)
		}
	}
	if len(r.Results) > 1 {
		a := r.Results[0]
		for _, b := range r.Results[1:] {
			fmt.Fprintf(w, "%s/%s: STOW %.2fx, WADO %.2fx, QIDO p50 %.2fx faster\n", a.Target, b.Target,
				ratio(a.STOWPerSec, b.STOWPerSec), ratio(a.WADOMBPerSec, b.WADOMBPerSec),
				ratio(float64(b.QIDOP50), float64(a.QIDOP50)))
		}
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func mib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// printGrowth says how much the peak memory grew from the first fifth of
// the large study to all of it, and in which part: anonymous memory (the
// Go runtime's, when the server is in this process, and the rest: C
// allocations such as SQLite's page caches) or file-backed.
func printGrowth(w io.Writer, x Result) {
	a, b := x.PeakFifth, x.Peak
	if a.RSS == 0 || b.RSS == 0 {
		return
	}
	fmt.Fprintf(w, "%s: peak RSS %+.0f%% from the first fifth of the %.0f MB study to all of it", x.Target, growth(a.RSS, b.RSS), x.LargeStudyMB)
	if a.Heap > 0 {
		fmt.Fprintf(w, ", Go heap %+.0f%%", growth(a.Heap, b.Heap))
	}
	fmt.Fprintf(w, "; anonymous %s → %s", mib(a.Anon), mib(b.Anon))
	if a.GoRuntime > 0 {
		fmt.Fprintf(w, " (Go runtime %s → %s)", mib(a.GoRuntime), mib(b.GoRuntime))
	}
	fmt.Fprintf(w, ", file-backed %s → %s\n", mib(a.File), mib(b.File))
}

func growth(from, to uint64) float64 { return 100 * (float64(to)/float64(from) - 1) }

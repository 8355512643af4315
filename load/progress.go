package load

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws the state of a load: on a terminal, one bar redrawn in
// place with \r a few times per second; elsewhere (a log file, a CI job),
// a plain line every few seconds.
type progress struct {
	w        io.Writer
	total    int64
	terminal bool
	every    time.Duration
	start    time.Time

	mu    sync.Mutex
	drawn time.Time
	done  int64
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, total: total, terminal: isTerminal(w), every: 5 * time.Second, start: time.Now()}
	if p.terminal {
		p.every = 250 * time.Millisecond
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// update records the number of resources done and redraws if the last
// drawing is old enough. Safe for concurrent use.
func (p *progress) update(done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done > p.done {
		p.done = done
	}
	now := time.Now()
	if now.Sub(p.drawn) < p.every {
		return
	}
	p.drawn = now
	p.draw(now)
}

// finish draws the final state and ends the bar's line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(time.Now())
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) draw(now time.Time) {
	line := p.line(now.Sub(p.start))
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\033[K", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// line renders "[=====>    ] 1234/10000  12.3%  2345 res/s  ETA 4s".
func (p *progress) line(elapsed time.Duration) string {
	const width = 30
	fraction := 0.0
	if p.total > 0 {
		fraction = min(1, float64(p.done)/float64(p.total))
	}
	filled := int(fraction * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed.Seconds()
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-p.done)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("[%s] %d/%d %5.1f%%  %.0f res/s  ETA %s", bar, p.done, p.total, 100*fraction, rate, eta)
}

package load

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		done, total int64
		elapsed     time.Duration
		want        []string
	}{
		{250, 1000, 10 * time.Second, []string{"[=======>                      ]", "250/1000", " 25.0%", "25 res/s", "ETA 30s"}},
		{0, 1000, 0, []string{"[>", "0/1000", "0.0%", "ETA ?"}},
		{1000, 1000, 4 * time.Second, []string{"[==============================]", "100.0%", "250 res/s", "ETA 0s"}},
	}
	for _, tt := range tests {
		p := &progress{total: tt.total, done: tt.done}
		line := p.line(tt.elapsed)
		for _, want := range tt.want {
			if !strings.Contains(line, want) {
				t.Errorf("line %q lacks %q", line, want)
			}
		}
	}
}

func TestProgressDrawing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		terminal  bool
		wantLines int // newlines written by two quick updates and finish
		wantCR    bool
	}{
		{terminal: true, wantLines: 1, wantCR: true},
		{terminal: false, wantLines: 2, wantCR: false},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		p := &progress{w: &out, total: 10, terminal: tt.terminal, every: time.Hour, start: time.Now()}
		p.update(3) // drawn: nothing drawn yet
		p.update(6) // throttled
		p.finish()
		got := out.String()
		if n := strings.Count(got, "\n"); n != tt.wantLines {
			t.Errorf("terminal=%v: %d lines in %q, want %d", tt.terminal, n, got, tt.wantLines)
		}
		if strings.Contains(got, "\r") != tt.wantCR {
			t.Errorf("terminal=%v: output %q", tt.terminal, got)
		}
		if !strings.Contains(got, "6/10") {
			t.Errorf("terminal=%v: final state missing in %q", tt.terminal, got)
		}
	}
}

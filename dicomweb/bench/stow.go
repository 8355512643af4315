package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/telehub/telehub/internal/procmem"
)

// Layout of the STOW phase's studies.
const (
	seriesPerStudy     = 5
	instancesPerSeries = 20
	instancesPerStudy  = seriesPerStudy * instancesPerSeries
)

// stow stores instances in one STOW-RS request whose multipart body is
// written while it is sent, so the load generator holds one instance at a
// time whatever the request's size. It returns the bytes of DICOM sent.
func (c *client) stow(ctx context.Context, study string, parts func(yield func([]byte) bool)) (int64, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	boundary := "telehub-bench-" + hex.EncodeToString(rnd[:])
	pr, pw := io.Pipe()
	var sent int64
	written := make(chan struct{})
	go func() {
		defer close(written)
		var err error
		parts(func(b []byte) bool {
			if _, err = fmt.Fprintf(pw, "--%s\r\nContent-Type: application/dicom\r\n\r\n", boundary); err != nil {
				return false
			}
			if _, err = pw.Write(b); err != nil {
				return false
			}
			sent += int64(len(b))
			_, err = io.WriteString(pw, "\r\n")
			return err == nil
		})
		if err == nil {
			_, err = fmt.Fprintf(pw, "--%s--\r\n", boundary)
		}
		pw.CloseWithError(err)
	}()
	resp, err := c.do(ctx, http.MethodPost, "/studies/"+study, pr, map[string]string{
		"Content-Type": `multipart/related; type="application/dicom"; boundary=` + boundary,
		"Accept":       "application/dicom+json",
	})
	// Closing the reader unblocks the writer if the server answered before
	// reading the whole body; sent is read once the writer is done.
	if err != nil {
		pr.CloseWithError(err)
		<-written
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	pr.Close()
	<-written
	return sent, nil
}

// batch is the instances of one STOW request: n instances of one series,
// from the first'th.
type batch struct{ study, series, first, n int }

// stowPhase stores cfg.Instances instances with cfg.Clients clients.
func (c *client) stowPhase(ctx context.Context, s *Synth, cfg Config) error {
	work := make(chan batch)
	go func() {
		defer close(work)
		for i := 0; i < cfg.Instances; {
			st, rest := i/instancesPerStudy, i%instancesPerStudy
			se, in := rest/instancesPerSeries, rest%instancesPerSeries
			n := min(cfg.Batch, instancesPerSeries-in, cfg.Instances-i)
			select {
			case work <- batch{st, se, in, n}:
			case <-ctx.Done():
				return
			}
			i += n
		}
	}()
	var wg sync.WaitGroup
	var stored int
	var bytes int64
	start := time.Now()
	for w := 0; w < cfg.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte // one instance at a time: stow has sent it when yield returns
			for b := range work {
				sent, err := c.stow(ctx, s.StudyUID(b.study), func(yield func([]byte) bool) {
					for k := 0; k < b.n; k++ {
						buf = s.AppendInstance(buf[:0], b.study, b.series, b.first+k)
						if !yield(buf) {
							return
						}
					}
				})
				if err != nil {
					c.fail(err)
					continue
				}
				c.mu.Lock()
				stored += b.n
				bytes += sent
				c.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	c.res.Stored = stored
	c.res.STOWPerSec = float64(stored) / el
	c.res.STOWMBPerSec = float64(bytes) / el / 1e6
	return ctx.Err()
}

// largePhase stores one study of cfg.LargeMB megabytes, in requests of
// about 32 MB from two clients, while a sampler watches the server's memory.
func (c *client) largePhase(ctx context.Context, s *Synth, cfg Config) error {
	total := max(1, cfg.LargeMB*1_000_000/s.Size())
	perRequest := max(1, 32_000_000/s.Size())
	fifth := total / 5
	sampler := procmem.Start(c.target.PID, 20*time.Millisecond)
	work := make(chan int)
	go func() {
		defer close(work)
		for i := 0; i < total; i += perRequest {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var done int
	var sent int64
	var fifthMarked bool
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for first := range work {
				n := min(perRequest, total-first)
				b, err := c.stow(ctx, s.StudyUID(0), func(yield func([]byte) bool) {
					for k := 0; k < n; k++ {
						buf = s.AppendInstance(buf[:0], 0, 0, first+k)
						if !yield(buf) {
							return
						}
					}
				})
				if err != nil {
					c.fail(err)
					continue
				}
				c.mu.Lock()
				done += n
				sent += b
				if !fifthMarked && done >= fifth {
					fifthMarked = true
					c.res.PeakFifth = sampler.Peaks()
				}
				c.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.res.Peak = sampler.Stop()
	c.res.LargeStudyMB = float64(sent) / 1e6
	return ctx.Err()
}

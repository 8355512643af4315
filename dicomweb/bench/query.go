package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// qidoPhase runs cfg.Queries searches, one at a time, over the studies the
// STOW phase stored, and keeps their latencies. Every answer must name at
// least one match, or the query counts as an error.
func (c *client) qidoPhase(ctx context.Context, s *Synth, cfg Config) error {
	studies := max(1, (cfg.Instances+instancesPerStudy-1)/instancesPerStudy)
	var lat []time.Duration
	for q := 0; q < cfg.Queries; q++ {
		st := q % studies
		var path string
		switch q % 4 {
		case 0:
			path = "/studies?PatientID=" + s.PatientID(st)
		case 1:
			path = "/studies?StudyInstanceUID=" + s.StudyUID(st)
		case 2:
			path = "/studies/" + s.StudyUID(st) + "/series"
		case 3:
			path = "/studies/" + s.StudyUID(st) + "/series/" + s.SeriesUID(st, 0) + "/instances"
		}
		t0 := time.Now()
		n, err := c.qido(ctx, path)
		d := time.Since(t0)
		if err == nil && n == 0 {
			err = fmt.Errorf("%s QIDO %s: no match", c.target.Name, path)
		}
		if err != nil {
			c.fail(err)
			continue
		}
		lat = append(lat, d)
	}
	c.res.QIDOP50, c.res.QIDOP99 = percentile(lat, 50), percentile(lat, 99)
	return ctx.Err()
}

// qido runs one search and returns how many matches it answered.
func (c *client) qido(ctx context.Context, path string) (int, error) {
	resp, err := c.do(ctx, http.MethodGet, path, nil, map[string]string{"Accept": "application/dicom+json"})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return 0, nil
	}
	var matches []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&matches); err != nil {
		return 0, fmt.Errorf("%s QIDO %s: %w", c.target.Name, path, err)
	}
	return len(matches), nil
}

// wadoPhase retrieves every stored study whole, cfg.WADORounds times, with
// cfg.Clients clients, in its stored transfer syntax (no transcoding on
// either side).
func (c *client) wadoPhase(ctx context.Context, s *Synth, cfg Config) error {
	studies := (cfg.Instances + instancesPerStudy - 1) / instancesPerStudy
	work := make(chan int)
	go func() {
		defer close(work)
		for range cfg.WADORounds {
			for st := range studies {
				select {
				case work <- st:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	var total int64
	start := time.Now()
	for w := 0; w < cfg.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bodies are read in large pieces, as a viewer reads a study:
			// io.Discard's own 8 KB reads would make the load generator,
			// which shares the machine with the server, cost more than
			// the server it measures.
			buf := make([]byte, 256<<10)
			for st := range work {
				resp, err := c.do(ctx, http.MethodGet, "/studies/"+s.StudyUID(st), nil, map[string]string{
					"Accept": `multipart/related; type="application/dicom"; transfer-syntax=*`,
				})
				if err != nil {
					c.fail(err)
					continue
				}
				n, err := io.CopyBuffer(writerOnly{io.Discard}, resp.Body, buf)
				resp.Body.Close()
				if err == nil && n < int64(s.Size()) {
					err = fmt.Errorf("%s WADO study %d: %d bytes, less than one instance", c.target.Name, st, n)
				}
				if err != nil {
					c.fail(err)
					continue
				}
				c.mu.Lock()
				total += n
				c.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.res.WADOMBPerSec = float64(total) / time.Since(start).Seconds() / 1e6
	return ctx.Err()
}

// writerOnly hides io.Discard's ReadFrom, so that io.CopyBuffer reads
// into the buffer it is given.
type writerOnly struct{ io.Writer }

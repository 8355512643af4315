// Package load loads a stream of FHIR resources into a FHIR server through
// its REST API: resources are grouped into transaction Bundles of PUT
// entries (so a load is idempotent and can be re-run), sent by several
// workers at once, retried on 429 and 5xx with back-off, and stopped on the
// first error the client caused, with the server's OperationOutcome. A
// server that refuses transactions (for example a MongoDB standalone) gets
// batch Bundles instead. Command is the `telehub load` subcommand, which
// loads a synthetic population (package population) with a progress bar.
package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telehub/telehub/population"
)

// DefaultConcurrency is the Bundles a load keeps in flight by default. A
// server commits its writes one transaction at a time (SQLite has one
// writer), and the commits that queue while one runs go together, up to
// about four 500-entry Bundles (TeleHub's group commit). With four Bundles
// in flight, they tend to commit together and to be built together while
// the committer waits; with eight, four are parsed, validated and indexed
// while the others commit. On the 2-core machine of the README's figures,
// eight loaded 100,000 resources 5 to 10% faster than four (alternating
// runs of `telehub bench search --resources 100000`).
const DefaultConcurrency = 8

// Config says where and how to load.
type Config struct {
	// URL is the FHIR base, e.g. http://localhost:8080/fhir.
	URL string
	// Token, when set, is sent as a bearer token.
	Token string
	// Batch is the number of entries per Bundle (default 500); a Bundle may
	// go past it to keep a patient's record whole (see cut).
	Batch int
	// Concurrency is the number of Bundles in flight (default
	// DefaultConcurrency).
	Concurrency int
	// Retries bounds the attempts of one Bundle after a 429, a 5xx or a
	// network error (default 6); the wait doubles from RetryWait (default
	// 250ms) up to 10s, or is what the server's Retry-After says.
	Retries   int
	RetryWait time.Duration
	// Client is the HTTP client (default: one with Concurrency idle
	// connections kept per host and a 5-minute timeout).
	Client *http.Client
	// Progress, when set, is called after each Bundle is loaded with the
	// number of resources loaded so far. Calls may come from several
	// goroutines at once.
	Progress func(done int64)
}

// Summary is the outcome of a load.
type Summary struct {
	Resources int64
	Elapsed   time.Duration
	// Mode is "transaction", or "batch" when the server refused
	// transactions.
	Mode string
}

// Rate is the number of resources loaded per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Resources) / s.Elapsed.Seconds()
}

func (c Config) withDefaults() (Config, error) {
	c.URL = strings.TrimRight(c.URL, "/")
	if err := checkURL(c.URL); err != nil {
		return c, err
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Retries <= 0 {
		c.Retries = 6
	}
	if c.RetryWait <= 0 {
		c.RetryWait = 250 * time.Millisecond
	}
	if c.Client == nil {
		c.Client = &http.Client{
			Timeout:   5 * time.Minute,
			Transport: &http.Transport{MaxIdleConnsPerHost: c.Concurrency, MaxConnsPerHost: c.Concurrency},
		}
	}
	return c, nil
}

func checkURL(base string) error {
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return fmt.Errorf("load: URL %q is not an http(s) URL", base)
	}
	return nil
}

// bundle is one Bundle's worth of resources.
type bundle struct {
	resources []population.Resource
}

// Run loads resources in order, Batch resources per Bundle (see cut), with
// Concurrency Bundles in flight. Before the first Patient, every Bundle in
// flight is waited for, so that the organisations and practitioners the
// patients refer to are all stored first.
func Run(ctx context.Context, cfg Config, resources iter.Seq[population.Resource]) (Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l := &loader{cfg: cfg, work: make(chan bundle)}
	start := time.Now()

	var workers sync.WaitGroup
	for range cfg.Concurrency {
		workers.Go(func() {
			for b := range l.work {
				if ctx.Err() == nil {
					if err := l.send(ctx, b); err != nil {
						cancel(err)
					}
				}
				l.inflight.Done()
			}
		})
	}
	l.feed(ctx, resources)
	close(l.work)
	workers.Wait()

	summary := Summary{Resources: l.done.Load(), Elapsed: time.Since(start), Mode: "transaction"}
	if l.batchMode.Load() {
		summary.Mode = "batch"
	}
	return summary, context.Cause(ctx)
}

// feed groups the stream into Bundles and hands them to the workers until
// the stream ends or the load is cancelled.
func (l *loader) feed(ctx context.Context, resources iter.Seq[population.Resource]) {
	var pending []population.Resource
	inDirectory := true
	for r := range resources {
		if ctx.Err() != nil {
			return
		}
		patient := r.Type == "Patient"
		if l.cut(len(pending), patient, inDirectory) {
			if !l.dispatch(ctx, pending) {
				return
			}
			pending = nil
		}
		if inDirectory && patient {
			inDirectory = false
			l.inflight.Wait()
		}
		pending = append(pending, r)
	}
	if len(pending) > 0 && ctx.Err() == nil {
		l.dispatch(ctx, pending)
	}
}

// cut decides whether the pending Bundle is closed before the next
// resource. The first Patient closes the directory's last Bundle. After
// that, a Bundle is closed at the first patient boundary once it holds
// Batch resources, so that a patient and its record travel together (a
// server that checks references then always finds their targets); a
// stream without patients is cut at twice Batch.
func (l *loader) cut(pending int, patient, inDirectory bool) bool {
	switch {
	case pending == 0:
		return false
	case inDirectory:
		return patient || pending >= l.cfg.Batch
	default:
		return (patient && pending >= l.cfg.Batch) || pending >= 2*l.cfg.Batch
	}
}

// dispatch hands a Bundle to a worker; it reports false if the load was
// cancelled first.
func (l *loader) dispatch(ctx context.Context, resources []population.Resource) bool {
	l.inflight.Add(1)
	select {
	case l.work <- bundle{resources: resources}:
		return true
	case <-ctx.Done():
		l.inflight.Done()
		return false
	}
}

// loader is the state the workers share.
type loader struct {
	cfg       Config
	work      chan bundle
	inflight  sync.WaitGroup // Bundles handed to workers and not finished
	done      atomic.Int64
	batchMode atomic.Bool // the server refused a transaction
}

// body encodes a Bundle of PUT entries. Resources are already JSON, so the
// envelope is written around them rather than re-marshalled.
func (l *loader) body(b bundle, kind string) []byte {
	var buf bytes.Buffer
	buf.Grow(64 + len(b.resources)*700)
	buf.WriteString(`{"resourceType":"Bundle","type":"`)
	buf.WriteString(kind)
	buf.WriteString(`","entry":[`)
	for i, r := range b.resources {
		if i > 0 {
			buf.WriteByte(',')
		}
		path := r.Type + "/" + r.ID
		fmt.Fprintf(&buf, `{"fullUrl":"%s/%s","resource":`, l.cfg.URL, path)
		buf.Write(r.JSON)
		fmt.Fprintf(&buf, `,"request":{"method":"PUT","url":"%s"}}`, path)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// errRefused marks a transaction the server does not support.
var errRefused = errors.New("transactions not supported")

// send posts one Bundle, as a transaction unless the server refused one,
// retrying what can be retried.
func (l *loader) send(ctx context.Context, b bundle) error {
	if !l.batchMode.Load() {
		err := l.post(ctx, b, "transaction")
		if !errors.Is(err, errRefused) {
			return l.finish(b, err)
		}
		l.batchMode.Store(true)
	}
	return l.finish(b, l.post(ctx, b, "batch"))
}

func (l *loader) finish(b bundle, err error) error {
	if err != nil {
		first := b.resources[0]
		return fmt.Errorf("load: bundle from %s/%s: %w", first.Type, first.ID, err)
	}
	done := l.done.Add(int64(len(b.resources)))
	if l.cfg.Progress != nil {
		l.cfg.Progress(done)
	}
	return nil
}

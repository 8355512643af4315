package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/telehub/telehub/internal/procmem"
)

// Target is one DICOMweb server under test.
type Target struct {
	Name    string            // shown in the table: "TeleHub", "Orthanc"
	URL     string            // DICOMweb root, e.g. http://127.0.0.1:8080/dicom-web
	Headers map[string]string // added to every request (Authorization …)
	// PID is the server's process, whose resident memory is sampled from
	// /proc; 0 skips memory. When it is this process (a server embedded in
	// the benchmark), the Go heap is sampled too, since RSS then includes
	// the load generator.
	PID int
}

// Config sets the size of a run. Zero fields take the defaults shown.
type Config struct {
	Targets []Target
	// Instances stored in the STOW phase (1000), Rows×Cols 16-bit pixels
	// each (128×256: 64 KB), in studies of 5 series of 20 instances.
	Instances  int
	Rows, Cols int
	Clients    int // concurrent clients in the STOW and WADO phases (4)
	Batch      int // instances per STOW request (10)
	Queries    int // QIDO queries, one client, for latency (200)
	// WADORounds is how many times the WADO phase retrieves every stored
	// study (20): at the default sizes a round moves 65 MB, a tenth of a
	// second, too short for a steady rate.
	WADORounds int
	// LargeMB is the size of the study stored while memory is sampled
	// (500), of 512×512 instances (512 KB); negative skips that phase.
	LargeMB int
	Seed    uint64 // fixes the UIDs (1); each target gets the same files
	// Out receives the table and progress lines; nil prints nothing.
	Out    io.Writer
	Client *http.Client // http.DefaultClient when nil
}

func (c *Config) defaults() error {
	if len(c.Targets) == 0 {
		return errors.New("bench: no target")
	}
	for _, t := range c.Targets {
		if t.URL == "" || t.Name == "" {
			return fmt.Errorf("bench: target %q needs a name and a URL", t.Name)
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Instances, 1000)
	def(&c.Rows, 128)
	def(&c.Cols, 256)
	def(&c.Clients, 4)
	def(&c.Batch, 10)
	def(&c.Queries, 200)
	def(&c.WADORounds, 20)
	def(&c.LargeMB, 500)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Client == nil {
		c.Client = http.DefaultClient
	}
	if c.Instances < 0 || c.Clients < 0 || c.Batch < 0 || c.Queries < 0 || c.Rows < 0 || c.Cols < 0 || c.WADORounds < 0 {
		return errors.New("bench: negative size in the configuration")
	}
	return nil
}

// Result is what one target measured.
type Result struct {
	Target string
	// STOW phase
	Stored       int // instances the server accepted
	Errors       int // failed requests, all phases
	FirstError   string
	STOWPerSec   float64 // instances per second
	STOWMBPerSec float64
	// QIDO phase
	QIDOP50, QIDOP99 time.Duration
	// WADO phase
	WADOMBPerSec float64
	// Large-study phase: peak memory of the server process while the
	// first fifth of the study was stored, and over the whole study; equal
	// figures mean memory does not grow with the study's size.
	LargeStudyMB float64
	PeakFifth    procmem.Memory
	Peak         procmem.Memory
}

// Report is the outcome of Run.
type Report struct {
	Config  Config
	Results []Result
}

// Run benchmarks the targets with the same files, phase by phase, and
// prints the table to cfg.Out.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.defaults(); err != nil {
		return Report{}, err
	}
	rep := Report{Config: cfg}
	small, err := NewSynth(cfg.Seed, cfg.Rows, cfg.Cols)
	if err != nil {
		return rep, err
	}
	large, err := NewSynth(cfg.Seed+1, 512, 512)
	if err != nil {
		return rep, err
	}
	// Phase by phase, every target in turn: on a shared machine the load
	// of other work drifts, and interleaving spreads the drift over the
	// targets instead of loading it onto whichever runs last.
	results := make([]Result, len(cfg.Targets))
	clients := make([]*client, len(cfg.Targets))
	for i, t := range cfg.Targets {
		results[i].Target = t.Name
		clients[i] = &client{target: t, http: cfg.Client, res: &results[i]}
	}
	phases := []struct {
		what string
		run  func(c *client) error
	}{
		{fmt.Sprintf("STOW of %d instances", cfg.Instances), func(c *client) error { return c.stowPhase(ctx, small, cfg) }},
		{fmt.Sprintf("QIDO, %d queries", cfg.Queries), func(c *client) error { return c.qidoPhase(ctx, small, cfg) }},
		{"WADO-RS retrieval", func(c *client) error { return c.wadoPhase(ctx, small, cfg) }},
	}
	if cfg.LargeMB > 0 {
		phases = append(phases, struct {
			what string
			run  func(c *client) error
		}{fmt.Sprintf("storing a %d MB study", cfg.LargeMB), func(c *client) error { return c.largePhase(ctx, large, cfg) }})
	}
	for _, ph := range phases {
		for _, c := range clients {
			fmt.Fprintf(cfg.Out, "%s: %s…\n", c.target.Name, ph.what)
			if err := ph.run(c); err != nil {
				return rep, err
			}
		}
	}
	rep.Results = results
	rep.Print(cfg.Out)
	return rep, nil
}

// RunWithOrthanc starts an Orthanc (Debian packages orthanc and
// orthanc-dicomweb) in a temporary folder, benchmarks cfg's targets and
// then Orthanc with the same files, and stops it: the side-by-side
// comparison `telehub bench dicom` prints.
func RunWithOrthanc(ctx context.Context, cfg Config) (Report, error) {
	dir, err := os.MkdirTemp("", "telehub-bench-orthanc-")
	if err != nil {
		return Report{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	o, err := StartOrthanc(ctx, OrthancConfig{Dir: dir})
	if err != nil {
		return Report{}, err
	}
	defer o.Stop()
	cfg.Targets = append(append([]Target(nil), cfg.Targets...), Target{Name: "Orthanc", URL: o.DICOMweb, PID: o.PID()})
	return Run(ctx, cfg)
}

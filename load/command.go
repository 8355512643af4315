package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/telehub/telehub/population"
)

// Main is the `telehub load` subcommand with the binary's subcommand
// signature: it runs Command, taking the bearer token from TELEHUB_TOKEN
// when -token is not given (a token on the command line is visible to
// every user of the machine), and returns the exit code: 0, 1 when the
// load failed, 2 for bad flags.
func Main(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	err := command(ctx, args, env("TELEHUB_TOKEN"), stdout, stderr)
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, "telehub load:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "telehub load:", err)
		return 1
	}
}

// usageError is a command line that cannot be run.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// Command runs `telehub load`: it parses its flags, generates the
// population and loads it, drawing progress on stderr and printing a
// summary line on stdout. -h returns flag.ErrHelp after printing the usage.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return command(ctx, args, "", stdout, stderr)
}

func command(ctx context.Context, args []string, defaultToken string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: telehub load [flags]

Generates a deterministic synthetic population (French identities with INS,
practitioners, organisations and clinical records) and loads it into a FHIR
server with PUT entries in transaction Bundles (batch Bundles if the server
refuses transactions). Loading the same seed again updates the same ids.

Flags:
`)
		fs.PrintDefaults()
	}
	url := fs.String("url", "http://localhost:8080/fhir", "FHIR base `URL` of the server")
	seed := fs.Int64("seed", 1, "random seed: the same seed gives the same population")
	resources := fs.Int("resources", 0, "total number of resources to load (takes precedence over -patients)")
	patients := fs.Int("patients", 0, "number of patients, each with their clinical record (default 100 when -resources is not set)")
	batch := fs.Int("batch", 500, "resources per Bundle")
	concurrency := fs.Int("concurrency", DefaultConcurrency, "Bundles in flight at once")
	token := fs.String("token", defaultToken, "bearer `token` sent with every request (optional; default $TELEHUB_TOKEN with telehub load)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &usageError{fmt.Errorf("load: unexpected arguments %q", fs.Args())}
	}
	if *resources < 0 || *patients < 0 || *batch < 1 || *concurrency < 1 {
		return &usageError{errors.New("load: -resources and -patients must not be negative, -batch and -concurrency must be at least 1")}
	}
	if err := checkURL(*url); err != nil {
		return &usageError{err}
	}

	g := population.New(*seed, population.Options{Patients: *patients, Resources: *resources})
	bar := newProgress(stderr, int64(g.Total()))
	summary, err := Run(ctx, Config{
		URL:         *url,
		Token:       *token,
		Batch:       *batch,
		Concurrency: *concurrency,
		Progress:    bar.update,
	}, g.Resources())
	bar.finish()
	fmt.Fprintf(stdout, "loaded %d of %d resources in %.1f s: %.0f resources/s (%s Bundles of %d, %d workers)\n",
		summary.Resources, g.Total(), summary.Elapsed.Seconds(), summary.Rate(), summary.Mode, *batch, *concurrency)
	if err != nil {
		printOutcome(stderr, err)
		return err
	}
	return nil
}

// printOutcome writes the OperationOutcome of a rejected Bundle, indented,
// so the user sees everything the server said.
func printOutcome(w io.Writer, err error) {
	var se *ServerError
	if !errors.As(err, &se) || len(se.Outcome) == 0 {
		return
	}
	var out bytes.Buffer
	if json.Indent(&out, se.Outcome, "", "  ") != nil {
		return
	}
	fmt.Fprintf(w, "OperationOutcome (HTTP %d):\n%s\n", se.Status, out.Bytes())
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/telehub/telehub/dicomweb/bench"
)

// `telehub bench dicom` is the DICOMweb benchmark of dicomweb/bench: STOW-RS,
// QIDO-RS and WADO-RS against TeleHub, and the peak memory while a large
// study is stored, side by side with an Orthanc it starts (Debian's orthanc
// and orthanc-dicomweb) on the same files. Without --url it benchmarks an
// embedded server as `telehub serve` runs it (token checks, audit trail),
// in its own process, so that the Go heap is sampled too.

type benchDICOMConfig struct {
	URL, Token string
	PID        int
	Orthanc    bool
	Run        bench.Config
}

func parseBenchDICOMConfig(args []string, env func(string) string, output io.Writer) (benchDICOMConfig, error) {
	var cfg benchDICOMConfig
	fs := flag.NewFlagSet("telehub bench dicom", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.URL, "url", "",
		"DICOMweb root `URL` of a running server, e.g. http://localhost:8080/dicom-web (default: start an embedded server on a temporary data directory)")
	benchTokenFlag(fs, &cfg.Token)
	fs.IntVar(&cfg.PID, "pid", 0, "process id of the server at --url, whose memory is sampled (default: none)")
	fs.BoolVar(&cfg.Orthanc, "orthanc", true, "also benchmark an Orthanc started on loopback ports (Debian packages orthanc and orthanc-dicomweb)")
	fs.IntVar(&cfg.Run.Instances, "instances", 1000, "instances stored in the STOW phase, in studies of 5 series of 20")
	fs.IntVar(&cfg.Run.Clients, "clients", 4, "concurrent clients of the STOW and WADO phases")
	fs.IntVar(&cfg.Run.Batch, "batch", 10, "instances per STOW request")
	fs.IntVar(&cfg.Run.Queries, "queries", 200, "QIDO queries, one client, for latency")
	fs.IntVar(&cfg.Run.WADORounds, "wado-rounds", 20, "how many times the WADO phase retrieves every stored study")
	fs.IntVar(&cfg.Run.LargeMB, "large-mb", 500, "size of the large study stored while memory is sampled, in MB of 512x512 instances")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: telehub bench dicom [flags]\n\n"+
			"Drives a DICOMweb server: STOW-RS instances/s, QIDO-RS latency, WADO-RS MB/s, and its peak memory\n"+
			"over the first fifth and over all of a large study, side by side with Orthanc on the same files.\n"+
			"Without --url the load generator and the server share the machine, and so its CPUs.\n\nFlags:\n")
		printFlags(fs, benchTokenEnv)
	}
	if err := parseWithEnv(fs, args, benchTokenEnv, env); err != nil {
		return cfg, err
	}
	r := cfg.Run
	if r.Instances <= 0 || r.Clients <= 0 || r.Batch <= 0 || r.Queries <= 0 || r.WADORounds <= 0 || r.LargeMB <= 0 {
		return cfg, errors.New("--instances, --clients, --batch, --queries, --wado-rounds and --large-mb must be positive")
	}
	if cfg.URL == "" && cfg.PID != 0 {
		return cfg, errors.New("--pid is for the server at --url")
	}
	return cfg, nil
}

func benchmarkDICOM(ctx context.Context, cfg benchDICOMConfig, stdout, stderr io.Writer) error {
	target := bench.Target{Name: "TeleHub", URL: cfg.URL, PID: cfg.PID}
	token := cfg.Token
	if cfg.URL == "" {
		srv, cleanup, err := startEmbedded(ctx, embedding{tokens: true, audits: true}, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		if token, err = srv.systemToken(ctx, "system/*.cruds"); err != nil {
			return err
		}
		target.URL = serverURL(srv.baseURL) + "/dicom-web"
		target.PID = os.Getpid()
		fmt.Fprintf(stderr, "embedded server at %s\n", target.URL)
	}
	if token != "" {
		target.Headers = map[string]string{"Authorization": "Bearer " + token}
	}
	run := cfg.Run
	run.Targets = []bench.Target{target}
	run.Out = stdout
	var rep bench.Report
	var err error
	if cfg.Orthanc {
		rep, err = bench.RunWithOrthanc(ctx, run)
	} else {
		rep, err = bench.Run(ctx, run)
	}
	if err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Errors != 0 {
			return fmt.Errorf("%s: %d requests failed, the first: %s", r.Target, r.Errors, r.FirstError)
		}
	}
	return nil
}

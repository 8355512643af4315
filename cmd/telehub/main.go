// Command telehub is the TeleHub FHIR R4 server.
//
//	telehub [serve] [flags]   run the server (the default subcommand)
//	telehub bench [flags]     measure a server's throughput, latency and memory
//	telehub load [flags]      load a deterministic synthetic population through the FHIR API
//	telehub admin …           manage user accounts, OAuth clients and signing keys
//	telehub help              list the subcommands
//
// Every subcommand documents its flags with -h.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/telehub/telehub/load"
)

func main() {
	tuneGC(os.Getenv)
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// subcommand runs with its own arguments and returns the process exit code.
type subcommand func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int

var subcommands = map[string]subcommand{
	"serve": runServe,
	"bench": runBench,
	"load":  load.Main,
	"admin": runAdmin,
}

// run dispatches to a subcommand; with none, or with flags first, it serves.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runServe(ctx, args, env, stdout, stderr)
	}
	if args[0] == "help" {
		usage(stdout)
		return 0
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "telehub: unknown subcommand %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd(ctx, args[1:], env, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: telehub [subcommand] [flags]

Subcommands:
  serve   run the FHIR server (the default)
  bench   measure a server's throughput, latency and memory
  load    load a deterministic synthetic population through the FHIR API
  admin   manage user accounts, OAuth clients and signing keys (admin user add, admin client add,
          admin keys rotate)

Run "telehub <subcommand> -h" for its flags.
`)
}

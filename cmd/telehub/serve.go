package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// runServe is `telehub serve`: it serves until SIGTERM or SIGINT, then shuts
// down gracefully. Exit code 0 after a clean shutdown, 1 on failure, 2 on
// bad flags.
func runServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseServeConfig(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "telehub serve: %v\n", err)
		return 2
	}
	logger, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "telehub serve: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := startServer(ctx, cfg, logger)
	if err != nil {
		logger.Error("start failed", "error", err)
		return 1
	}
	if err := srv.startDemo(ctx, cfg, stdout); err != nil {
		logger.Error("demo set-up failed", "error", err)
	}

	select {
	case <-ctx.Done():
		// A second signal now ends the process at once.
		stop()
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	case err := <-srv.served:
		srv.served <- err // shutdown collects it
		logger.Error("server stopped", "error", err)
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.shutdown(shutdownCtx); err != nil {
		logger.Error("shutdown", "error", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

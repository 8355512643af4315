package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"help"}, 0, "Subcommands:", ""},
		{"unknown subcommand", []string{"nope"}, 2, "", `unknown subcommand "nope"`},
		{"serve help", []string{"serve", "-h"}, 0, "", "TELEHUB_ADDR"},
		{"flags alone mean serve", []string{"-h"}, 0, "", "Usage: telehub serve"},
		{"bad serve flag", []string{"serve", "--log-format", "xml"}, 2, "", "--log-format"},
		{"bench help", []string{"bench", "-h"}, 0, "", "--url"},
		{"serve help documents the authorization server", []string{"serve", "-h"}, 0, "", "TELEHUB_BOOTSTRAP_CLIENT"},
		{"help lists admin", []string{"help"}, 0, "admin keys rotate", ""},
		{"admin user add help", []string{"admin", "user", "add", "-h"}, 0, "", "--totp-secret"},
		{"admin keys rotate help", []string{"admin", "keys", "rotate", "-h"}, 0, "", "TELEHUB_STORE"},
		{"bad bench flag", []string{"bench", "--concurrency", "0"}, 2, "", "must be positive"},
		{"profile of a remote server", []string{"bench", "--url", "http://127.0.0.1:1/fhir", "--cpuprofile", "cpu.out"}, 2, "", "--cpuprofile"},
		{"bench against nothing", []string{"bench", "--url", "http://127.0.0.1:1/fhir", "--duration", "1s"}, 1, "", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, envOf(nil), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
		})
	}
}

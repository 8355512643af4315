package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// admin runs `telehub admin args...` and returns its exit code and outputs.
func admin(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"admin"}, args...), envOf(env), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

var (
	printedPassword = regexp.MustCompile(`(?m)^password: (\S+)$`)
	printedTOTP     = regexp.MustCompile(`(?m)^TOTP secret: (\S+)$`)
	printedSecret   = regexp.MustCompile(`(?m)^client secret: (\S+)$`)
	keysPublished   = regexp.MustCompile(`(\d+) keys published`)
)

// TestAdminCommandsBeforeFirstStart administers a data directory no server
// has run on yet, then starts a server on it: it signs the user in through
// the client, serves the backend client, and publishes the rotated keys.
func TestAdminCommandsBeforeFirstStart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	env := map[string]string{"TELEHUB_DATA": data} // the environment names the data directory, as for serve

	code, out, errs := admin(t, env, "user", "add", "--username", "dr.house", "--name", "Gregory House", "--fhir-user", "Practitioner/123")
	password, secret := printedPassword.FindStringSubmatch(out), printedTOTP.FindStringSubmatch(out)
	if code != 0 || password == nil || secret == nil || !strings.Contains(out, "otpauth://totp/TeleHub:dr.house?") {
		t.Fatalf("user add: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, errs = admin(t, nil, "user", "add", "--data", data, "--username", "helene", "--password", "helene's long password",
		"--fhir-user", "Patient/p1")
	if code != 0 || printedPassword.MatchString(out) || printedTOTP.MatchString(out) {
		t.Fatalf("user add with a password: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	const redirect = "https://app.example/callback"
	code, out, errs = admin(t, env, "client", "add", "--id", "app", "--public", "--redirect-uri", redirect,
		"--scope", "openid fhirUser", "--scope", "user/*.rs,patient/*.rs")
	if code != 0 || !strings.Contains(out, "client app registered (none; grants authorization_code refresh_token") {
		t.Fatalf("client add --public: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, errs = admin(t, env, "client", "add", "--id", "svc", "--scope", "system/*.rs")
	svcSecret := printedSecret.FindStringSubmatch(out)
	if code != 0 || svcSecret == nil || !strings.Contains(out, "client_secret_basic; grants client_credentials") {
		t.Fatalf("client add confidential: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, errs = admin(t, env, "keys", "rotate")
	rotated := keysPublished.FindStringSubmatch(out)
	// The first use makes one key per algorithm (RS256, ES256, RS384,
	// ES384), the rotation one more each.
	if code != 0 || rotated == nil || rotated[1] != "8" {
		t.Fatalf("keys rotate: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	p := startInProcess(t, nil, "--data", data, "--demo")
	if p.demo != "" {
		t.Errorf("a store with accounts got the demo:\n%s", p.demo)
	}
	_, jwks := p.getJSON("/.well-known/jwks.json")
	if keys, _ := jwks["keys"].([]any); len(keys) != 8 {
		t.Errorf("jwks after rotation has %d keys, want 8", len(keys))
	}
	tok := p.codeFlow(login{clientID: "app", redirectURI: redirect, scope: "user/*.rs openid fhirUser",
		username: "dr.house", password: password[1], totp: totpCode(t, secret[1])})
	if c := claims(t, tok["id_token"].(string)); c["fhirUser"] != p.srv.baseURL+"/Practitioner/123" {
		t.Errorf("id_token fhirUser %v", c["fhirUser"])
	}
	tok = p.codeFlow(login{clientID: "app", redirectURI: redirect, scope: "patient/*.rs",
		username: "helene", password: "helene's long password"})
	if tok["scope"] != "patient/*.rs" {
		t.Errorf("patient's token scope %v", tok["scope"])
	}
	status, tok := p.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.rs"}}, "svc", svcSecret[1])
	if status != http.StatusOK {
		t.Errorf("client_credentials for the admin-made client: %d %v", status, tok)
	}
}

// TestAdminCommandErrors checks that wrong command lines exit 2 and failed
// operations 1, with a message on stderr.
func TestAdminCommandErrors(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if code, _, errs := admin(t, nil, "user", "add", "--data", data, "--username", "dup", "--password", "a long enough password"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no command", nil, 2, "Usage: telehub admin"},
		{"help", []string{"-h"}, 0, "keys rotate"},
		{"unknown command", []string{"user", "remove"}, 2, `unknown command "user remove"`},
		{"command help", []string{"client", "add", "-h"}, 0, "--redirect-uri"},
		{"missing username", []string{"user", "add", "--data", data, "--password", "a long enough password"}, 2, "--username is required"},
		{"existing user", []string{"user", "add", "--data", data, "--username", "dup", "--password", "a long enough password"}, 1, `user "dup" already exists`},
		{"short password", []string{"user", "add", "--data", data, "--username", "short", "--password", "short"}, 1, "at least 12 characters"},
		{"bad fhir user", []string{"user", "add", "--data", data, "--username", "x", "--fhir-user", "Observation/1"}, 1, "is not a Practitioner"},
		{"missing id", []string{"client", "add", "--data", data, "--scope", "system/*.rs"}, 2, "--id is required"},
		{"public with secret", []string{"client", "add", "--data", data, "--id", "c", "--public", "--secret", "s3cret-s3cret-s3cret"}, 2, "--public excludes"},
		{"public backend", []string{"client", "add", "--data", data, "--id", "c", "--public", "--scope", "system/*.rs"}, 1, "public client cannot use client_credentials"},
		{"bad scope", []string{"client", "add", "--data", data, "--id", "c", "--scope", "system/*.sr"}, 1, "not letters of"},
		{"bad store", []string{"keys", "rotate", "--store", "postgres://db"}, 2, "--store"},
		{"link without issuer", []string{"user", "link", "--data", data, "--identity", "810001234567", "--username", "dup"}, 2, "--oidc-issuer"},
		{"link without identity", []string{"user", "link", "--data", data, "--oidc-issuer", "https://idp.example", "--username", "dup"}, 2, "--identity"},
		{"link to nobody", []string{"user", "link", "--data", data, "--oidc-issuer", "https://idp.example", "--identity", "1", "--username", "ghost"}, 1, "ghost"},
	}
	// A link is made once per issuer and identity.
	env := map[string]string{"TELEHUB_OIDC_ISSUER": "https://idp.example"}
	if code, out, errs := admin(t, env, "user", "link", "--data", data, "--identity", "810001234567", "--username", "dup"); code != 0 ||
		!strings.Contains(out, "810001234567 at https://idp.example now signs in as dup") {
		t.Fatalf("user link: %d %s %s", code, out, errs)
	}
	if code, _, errs := admin(t, env, "user", "link", "--data", data, "--identity", "810001234567", "--username", "dup"); code != 1 {
		t.Errorf("second link of one identity: exit %d, want 1 (%s)", code, errs)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := admin(t, nil, tt.args...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantStderr) {
				t.Errorf("exit %d, want %d; stderr lacks %q?\n%s", code, tt.wantCode, tt.wantStderr, errs)
			}
		})
	}
}

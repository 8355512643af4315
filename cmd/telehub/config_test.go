package main

import (
	"bytes"
	"flag"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// envOf returns a lookup over a fixed environment.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseServeConfig(t *testing.T) {
	t.Parallel()
	defaults := serveConfig{
		Addr: ":8080", DataDir: "./data", MaxBody: 16 << 20, MaxConditionalDeletes: 100,
		PageSize: 20, MaxPageSize: 1000, LogFormat: "text", LogLevel: "info", ShutdownTimeout: 30 * time.Second,
		DICOMMaxUpload: 2 << 30,
		Federation:     federationConfig{Name: "Pro Santé Connect", Scopes: "openid", ACRValues: "eidas1", RequiredACR: "eidas1", Claim: "sub"},
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*serveConfig)
	}{
		{"defaults", nil, nil, func(*serveConfig) {}},
		{"flags", []string{"--addr", "127.0.0.1:9090", "--data", "/var/lib/telehub", "--max-body", "1024", "--log-format", "json", "--shutdown-timeout", "5s"}, nil,
			func(c *serveConfig) {
				c.Addr, c.DataDir, c.MaxBody, c.LogFormat, c.ShutdownTimeout = "127.0.0.1:9090", "/var/lib/telehub", 1024, "json", 5*time.Second
			}},
		{"environment", nil, map[string]string{
			"TELEHUB_ADDR": ":9000", "TELEHUB_STORE": "mongodb://db:27017/telehub", "TELEHUB_BASE_URL": "https://fhir.example.org/fhir",
			"TELEHUB_MAX_CONDITIONAL_DELETES": "5", "TELEHUB_LOG_LEVEL": "debug", "TELEHUB_PAGE_SIZE": "50",
		}, func(c *serveConfig) {
			c.Addr, c.Store, c.BaseURL, c.MaxConditionalDeletes, c.LogLevel, c.PageSize = ":9000", "mongodb://db:27017/telehub", "https://fhir.example.org/fhir", 5, "debug", 50
		}},
		{"flag beats environment", []string{"--addr", ":7000"}, map[string]string{"TELEHUB_ADDR": ":9000", "TELEHUB_DATA": "/srv"},
			func(c *serveConfig) { c.Addr, c.DataDir = ":7000", "/srv" }},
		{"authorization server", []string{"--demo"}, map[string]string{
			"TELEHUB_REGISTRATION_TOKEN": "reg-token", "TELEHUB_BOOTSTRAP_CLIENT": "ops:0123456789abcdef", "TELEHUB_DEMO": "false",
		}, func(c *serveConfig) {
			c.RegistrationToken, c.BootstrapClient, c.Demo = "reg-token", "ops:0123456789abcdef", "true"
		}},
		{"demo from the environment", nil, map[string]string{"TELEHUB_DEMO": "auto"}, func(c *serveConfig) { c.Demo = "auto" }},
		{"NATS and federation", []string{"--oidc-issuer", "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"}, map[string]string{
			"TELEHUB_NATS": "nats://n1:4222,nats://n2:4222", "TELEHUB_OIDC_CLIENT_ID": "telehub", "TELEHUB_OIDC_CLIENT_SECRET": "s3cret",
			"TELEHUB_OIDC_SCOPES": "openid scope_all", "TELEHUB_OIDC_CLAIM": "preferred_username",
		}, func(c *serveConfig) {
			c.NATS = "nats://n1:4222,nats://n2:4222"
			c.Federation.Issuer, c.Federation.ClientID, c.Federation.ClientSecret = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet", "telehub", "s3cret"
			c.Federation.Scopes, c.Federation.Claim = "openid scope_all", "preferred_username"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseServeConfig(tt.args, envOf(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseServeConfigRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad environment number", nil, map[string]string{"TELEHUB_MAX_BODY": "lots"}, "TELEHUB_MAX_BODY"},
		{"bad environment duration", nil, map[string]string{"TELEHUB_SHUTDOWN_TIMEOUT": "30"}, "TELEHUB_SHUTDOWN_TIMEOUT"},
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"stray argument", []string{"extra"}, nil, "extra"},
		{"bad address", []string{"--addr", "8080"}, nil, "--addr"},
		{"unknown store", []string{"--store", "postgres://db"}, nil, "--store"},
		{"sqlite without path", []string{"--store", "sqlite:"}, nil, "sqlite:"},
		{"negative body limit", []string{"--max-body", "-1"}, nil, "--max-body"},
		{"page size above the maximum", []string{"--page-size", "2000"}, nil, "--page-size"},
		{"unknown log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"unknown log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"base URL not ending with /fhir", []string{"--base-url", "https://fhir.example.org/api"}, nil, "must end with /fhir"},
		{"bootstrap client without secret", nil, map[string]string{"TELEHUB_BOOTSTRAP_CLIENT": "ops"}, "--bootstrap-client"},
		{"bootstrap client with a short secret", []string{"--bootstrap-client", "ops:short"}, nil, "16 characters"},
		{"unknown demo mode", []string{"--demo=yes"}, nil, "want true, false or auto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseServeConfig(tt.args, envOf(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestServeHelpDocumentsEveryFlag(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := parseServeConfig([]string{"-h"}, envOf(nil), &out)
	if err != flag.ErrHelp {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	var cfg serveConfig
	for _, e := range newServeFlags(flag.NewFlagSet("", flag.ContinueOnError), &cfg) {
		for _, want := range []string{"--" + e.flag, "environment: " + e.env} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("help lacks %q", want)
			}
		}
	}
}

func TestStoreTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		store, data          string
		wantKind, wantTarget string
	}{
		{"", "./data", storeSQLite, "data/telehub.db"},
		{"", "/var/lib/telehub", storeSQLite, "/var/lib/telehub/telehub.db"},
		{"sqlite:/tmp/x.db", "./data", storeSQLite, "/tmp/x.db"},
		{"mongodb://u:p@db:27017/telehub?replicaSet=rs0", "./data", storeMongo, "mongodb://u:p@db:27017/telehub?replicaSet=rs0"},
		{"mongodb+srv://cluster.example.org/telehub", "./data", storeMongo, "mongodb+srv://cluster.example.org/telehub"},
	}
	for _, tt := range tests {
		kind, target, err := serveConfig{Store: tt.store, DataDir: tt.data}.storeTarget()
		if err != nil || kind != tt.wantKind || target != tt.wantTarget {
			t.Errorf("store %q data %q: got %q %q %v, want %q %q", tt.store, tt.data, kind, target, err, tt.wantKind, tt.wantTarget)
		}
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, baseURL, listening, want string
	}{
		{":8080", "", "[::]:8080", "http://localhost:8080/fhir"},
		{"0.0.0.0:0", "", "0.0.0.0:41234", "http://localhost:41234/fhir"},
		{"127.0.0.1:0", "", "127.0.0.1:41234", "http://127.0.0.1:41234/fhir"},
		{"fhir.local:8080", "", "10.0.0.5:8080", "http://fhir.local:8080/fhir"},
		{":8080", "https://fhir.example.org/fhir/", "[::]:8080", "https://fhir.example.org/fhir"},
	}
	for _, tt := range tests {
		addr, err := net.ResolveTCPAddr("tcp", tt.listening)
		if err != nil {
			t.Fatal(err)
		}
		if got := (serveConfig{Addr: tt.addr, BaseURL: tt.baseURL}).baseURL(addr); got != tt.want {
			t.Errorf("addr %q base %q: got %q, want %q", tt.addr, tt.baseURL, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"mongodb://admin:s3cret@db:27017/telehub", "mongodb://admin:xxxxx@db:27017/telehub"},
		{"mongodb://db:27017/telehub", "mongodb://db:27017/telehub"},
		{"./data/telehub.db", "./data/telehub.db"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/telehub/telehub/smart"
)

// serveConfig is everything `telehub serve` is configured with.
type serveConfig struct {
	Addr                  string
	DataDir               string
	Store                 string
	BaseURL               string
	MaxBody               int64
	MaxConditionalDeletes int
	PageSize              int
	MaxPageSize           int
	LogFormat             string
	LogLevel              string
	ShutdownTimeout       time.Duration
	// RegistrationToken is the initial access token of dynamic client
	// registration; empty disables registration.
	RegistrationToken string
	// BootstrapClient is "id:secret" of a confidential client ensured at
	// start-up; empty for none.
	BootstrapClient string
	// Demo asks for the demo client and accounts on a store that has none.
	Demo demoMode
	// InsecureNoAuth serves every FHIR request without a token, as an
	// all-powerful caller: for development only.
	InsecureNoAuth bool
	// NATS is the URL of an external NATS cluster; empty starts one in process.
	NATS string
	// STUN and TURN are the ICE servers handed to video sessions; TURNSecret
	// is the static-auth-secret shared with the TURN server (coturn).
	STUN, TURN stringList
	TURNSecret string
	// DICOMMaxUpload bounds one STOW-RS request; DICOMOverwrite lets a STOW
	// replace an instance by different content.
	DICOMMaxUpload int64
	DICOMOverwrite bool
	// withoutAudit records nothing: only `telehub bench --security` sets it,
	// for its baseline; no flag does.
	withoutAudit bool
	// Federation configures sign-in through an upstream OpenID provider;
	// an empty issuer turns it off.
	Federation federationConfig
}

// federationConfig is the upstream OpenID provider (e.g. Pro Santé Connect).
type federationConfig struct {
	Issuer, Name, ClientID, ClientSecret, Scopes, ACRValues, RequiredACR, Claim string
}

// envFlag ties a flag to the environment variable it falls back to.
type envFlag struct {
	flag, env string
}

// newServeFlags declares the serve flags on fs, filling cfg, and returns the
// environment variable of each.
func newServeFlags(fs *flag.FlagSet, cfg *serveConfig) []envFlag {
	fs.StringVar(&cfg.Addr, "addr", ":8080", "`address` to listen on, host:port")
	fs.StringVar(&cfg.DataDir, "data", "./data", "`directory` for the embedded SQLite store")
	fs.StringVar(&cfg.Store, "store", "",
		"resource store: empty for SQLite in the data directory, sqlite:PATH, or a mongodb:// or mongodb+srv:// URI")
	fs.StringVar(&cfg.BaseURL, "base-url", "",
		"public `URL` of the FHIR endpoint (default http://localhost:PORT/fhir, PORT taken from --addr)")
	fs.Int64Var(&cfg.MaxBody, "max-body", 16<<20, "largest request body accepted, in `bytes` (larger ones get 413)")
	fs.IntVar(&cfg.MaxConditionalDeletes, "max-conditional-deletes", 100,
		"most resources one conditional delete may remove (more matches get 412)")
	fs.IntVar(&cfg.PageSize, "page-size", 20, "search and history page size when the client gives no _count")
	fs.IntVar(&cfg.MaxPageSize, "max-page-size", 1000, "largest search and history page size a client may ask for")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log `format`: text, or json (for production, one object per line)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second,
		"on SIGTERM or SIGINT, how long in-flight requests may take to finish")
	fs.StringVar(&cfg.RegistrationToken, "registration-token", "",
		"initial access `token` dynamic client registration (RFC 7591, POST /auth/register) requires; empty disables registration")
	fs.StringVar(&cfg.BootstrapClient, "bootstrap-client", "",
		"`id:secret` of a confidential client (client_credentials, client_secret_basic, every system/ scope) created at start-up\n"+
			"if absent; the secret needs 16 characters or more. Prefer the environment variable: flags show in process lists")
	fs.Var(&cfg.Demo, "demo",
		"create and print a demo SMART app and demo user accounts when the store has no client nor user yet:\n"+
			"true, false, or auto (only for the embedded SQLite store, and only when it holds no resource either)")
	fs.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", false,
		"DEVELOPMENT ONLY: serve every FHIR request without an access token, with every permission")
	fs.StringVar(&cfg.NATS, "nats", "",
		"`URL`s of an external NATS cluster (nats://host:4222, comma-separated); empty starts NATS in process,\n"+
			"its JetStream store in DATA/nats")
	fs.Var(&cfg.STUN, "stun", "STUN `URL`s handed to video sessions (stun:host:3478), repeatable or comma-separated")
	fs.Var(&cfg.TURN, "turn", "TURN `URL`s handed to video sessions (turn:host:3478?transport=udp, turns:host:5349), repeatable")
	fs.StringVar(&cfg.TURNSecret, "turn-secret", "",
		"static-auth-`secret` shared with the TURN server (coturn use-auth-secret); /signaling/turn derives time-limited credentials from it")
	fs.Int64Var(&cfg.DICOMMaxUpload, "dicom-max-upload", 2<<30, "largest STOW-RS request body in `bytes` (larger ones get 413)")
	fs.BoolVar(&cfg.DICOMOverwrite, "dicom-overwrite", false,
		"let a STOW-RS replace a stored DICOM instance by different content under the same SOP Instance UID")
	fs.StringVar(&cfg.Federation.Issuer, "oidc-issuer", "",
		"issuer `URL` of an upstream OpenID Connect provider professionals may sign in with (e.g. Pro Santé Connect);\n"+
			"register the redirect URI http(s)://HOST/auth/federated/callback there. Empty: no federation")
	fs.StringVar(&cfg.Federation.Name, "oidc-name", "Pro Santé Connect", "the upstream provider's `name` on the login page")
	fs.StringVar(&cfg.Federation.ClientID, "oidc-client-id", "", "TeleHub's client `id` at the upstream provider")
	fs.StringVar(&cfg.Federation.ClientSecret, "oidc-client-secret", "",
		"TeleHub's client `secret` at the upstream provider (prefer the environment variable)")
	fs.StringVar(&cfg.Federation.Scopes, "oidc-scopes", "openid", "space-separated `scopes` asked of the upstream provider (Pro Santé Connect: \"openid scope_all\")")
	fs.StringVar(&cfg.Federation.ACRValues, "oidc-acr-values", "eidas1", "acr_values `value` sent to the upstream provider")
	fs.StringVar(&cfg.Federation.RequiredACR, "oidc-required-acr", "eidas1", "comma-separated acr `values` accepted in the upstream id_token")
	fs.StringVar(&cfg.Federation.Claim, "oidc-claim", "sub",
		"upstream `claim` identifying the account (sub, or e.g. preferred_username for the RPPS number); link with telehub admin user link")
	return []envFlag{
		{"addr", "TELEHUB_ADDR"},
		{"data", "TELEHUB_DATA"},
		{"store", "TELEHUB_STORE"},
		{"base-url", "TELEHUB_BASE_URL"},
		{"max-body", "TELEHUB_MAX_BODY"},
		{"max-conditional-deletes", "TELEHUB_MAX_CONDITIONAL_DELETES"},
		{"page-size", "TELEHUB_PAGE_SIZE"},
		{"max-page-size", "TELEHUB_MAX_PAGE_SIZE"},
		{"log-format", "TELEHUB_LOG_FORMAT"},
		{"log-level", "TELEHUB_LOG_LEVEL"},
		{"shutdown-timeout", "TELEHUB_SHUTDOWN_TIMEOUT"},
		{"registration-token", "TELEHUB_REGISTRATION_TOKEN"},
		{"bootstrap-client", "TELEHUB_BOOTSTRAP_CLIENT"},
		{"demo", "TELEHUB_DEMO"},
		{"insecure-no-auth", "TELEHUB_INSECURE_NO_AUTH"},
		{"nats", "TELEHUB_NATS"},
		{"stun", "TELEHUB_STUN"},
		{"turn", "TELEHUB_TURN"},
		{"turn-secret", "TELEHUB_TURN_SECRET"},
		{"dicom-max-upload", "TELEHUB_DICOM_MAX_UPLOAD"},
		{"dicom-overwrite", "TELEHUB_DICOM_OVERWRITE"},
		{"oidc-issuer", "TELEHUB_OIDC_ISSUER"},
		{"oidc-name", "TELEHUB_OIDC_NAME"},
		{"oidc-client-id", "TELEHUB_OIDC_CLIENT_ID"},
		{"oidc-client-secret", "TELEHUB_OIDC_CLIENT_SECRET"},
		{"oidc-scopes", "TELEHUB_OIDC_SCOPES"},
		{"oidc-acr-values", "TELEHUB_OIDC_ACR_VALUES"},
		{"oidc-required-acr", "TELEHUB_OIDC_REQUIRED_ACR"},
		{"oidc-claim", "TELEHUB_OIDC_CLAIM"},
	}
}

// parseServeConfig reads the serve flags from args, falling back to the
// environment for each flag not given, then to the defaults.
func parseServeConfig(args []string, env func(string) string, output io.Writer) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("telehub serve", flag.ContinueOnError)
	fs.SetOutput(output)
	envs := newServeFlags(fs, &cfg)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: telehub serve [flags]\n\n"+
			"Runs the FHIR R4 server: FHIR at /fhir, probes at /healthz and /readyz, Prometheus metrics at /metrics,\n"+
			"and the SMART authorization server: /auth/..., /.well-known/openid-configuration, /.well-known/jwks.json\n"+
			"and /fhir/.well-known/smart-configuration. The FHIR API does not enforce access tokens yet.\n"+
			"Each flag falls back to an environment variable, then to its default.\n\nFlags:\n")
		printFlags(fs, envs)
	}
	if err := parseWithEnv(fs, args, envs, env); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

// parseWithEnv parses args, then sets each flag absent from them from its
// environment variable, so that flags win over the environment and the
// environment over defaults, and both are parsed by the flag's own rules.
func parseWithEnv(fs *flag.FlagSet, args []string, envs []envFlag, env func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, e := range envs {
		value := env(e.env)
		if given[e.flag] || value == "" {
			continue
		}
		if err := fs.Set(e.flag, value); err != nil {
			return fmt.Errorf("%s=%q: invalid value for --%s: %w", e.env, value, e.flag, err)
		}
	}
	return nil
}

// printFlags prints each flag with its environment variable and default.
func printFlags(fs *flag.FlagSet, envs []envFlag) {
	envOf := map[string]string{}
	for _, e := range envs {
		envOf[e.flag] = e.env
	}
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(fs.Output(), "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if env := envOf[f.Name]; env != "" {
			fmt.Fprintf(fs.Output(), "\n    \tenvironment: %s", env)
		}
		if f.DefValue != "" {
			fmt.Fprintf(fs.Output(), "\n    \tdefault: %s", f.DefValue)
		}
		fmt.Fprintln(fs.Output())
	})
}

func (c serveConfig) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: %w", c.Addr, err))
	}
	if _, _, err := c.storeTarget(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBody <= 0 {
		errs = append(errs, fmt.Errorf("--max-body must be positive, got %d", c.MaxBody))
	}
	if c.MaxConditionalDeletes <= 0 {
		errs = append(errs, fmt.Errorf("--max-conditional-deletes must be positive, got %d", c.MaxConditionalDeletes))
	}
	if c.PageSize <= 0 || c.MaxPageSize < c.PageSize {
		errs = append(errs, fmt.Errorf("need 0 < --page-size (%d) <= --max-page-size (%d)", c.PageSize, c.MaxPageSize))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout must be positive, got %s", c.ShutdownTimeout))
	}
	if _, err := newLogger(io.Discard, c.LogFormat, c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.BaseURL != "" && !strings.HasSuffix(strings.TrimRight(c.BaseURL, "/"), "/fhir") {
		// The authorization server lives beside the FHIR endpoint, at the
		// base URL without /fhir, and FHIR is always served at /fhir.
		errs = append(errs, fmt.Errorf("--base-url %q must end with /fhir", c.BaseURL))
	}
	if c.BootstrapClient != "" {
		if id, secret, ok := strings.Cut(c.BootstrapClient, ":"); !ok || id == "" || len(secret) < 16 {
			errs = append(errs, errors.New("--bootstrap-client must be id:secret with a secret of 16 characters or more"))
		}
	}
	return errors.Join(errs...)
}

// Store kinds.
const (
	storeSQLite = "sqlite"
	storeMongo  = "mongodb"
)

// storeTarget resolves --store into a backend and its path or URI.
func (c serveConfig) storeTarget() (kind, target string, err error) {
	switch s := c.Store; {
	case s == "":
		return storeSQLite, filepath.Join(c.DataDir, "telehub.db"), nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(s, "sqlite:")
		if path == "" {
			return "", "", errors.New("--store sqlite: needs a path, e.g. sqlite:./data/telehub.db")
		}
		return storeSQLite, path, nil
	case strings.HasPrefix(s, "mongodb://"), strings.HasPrefix(s, "mongodb+srv://"):
		return storeMongo, s, nil
	default:
		return "", "", fmt.Errorf("--store %q: want empty, sqlite:PATH or a mongodb:// URI", s)
	}
}

// baseURL is --base-url, or http://HOST:PORT/fhir for the address actually
// listened on (HOST is localhost unless -addr names a specific host).
func (c serveConfig) baseURL(listening net.Addr) string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	host, _, _ := net.SplitHostPort(c.Addr)
	_, port, _ := net.SplitHostPort(listening.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/fhir"
}

// serverURL is the server's public root, the issuer of its tokens: the FHIR
// base URL without its /fhir.
func serverURL(fhirBase string) string {
	return strings.TrimSuffix(fhirBase, "/fhir")
}

// demoMode is --demo: auto (the default), true or false.
type demoMode string

func (d *demoMode) String() string {
	if *d == "" {
		return "auto"
	}
	return string(*d)
}

func (d *demoMode) Set(value string) error {
	switch value {
	case "auto", "true", "false":
		*d = demoMode(value)
		return nil
	}
	return fmt.Errorf("want true, false or auto, got %q", value)
}

// IsBoolFlag lets --demo alone mean --demo=true.
func (d *demoMode) IsBoolFlag() bool { return true }

// enabled resolves auto for the store kind: the demo is for a first try of
// the embedded store, not for a shared production database.
func (d demoMode) enabled(storeKind string) bool {
	switch d {
	case "true":
		return true
	case "false":
		return false
	}
	return storeKind == storeSQLite
}

// newLogger builds the process logger from --log-format and --log-level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// redact hides the password of a store URI before it is logged.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.User == nil {
		return target
	}
	return u.Redacted()
}

// smartFederation is the smart configuration of the upstream provider, nil
// when none is configured.
func (f federationConfig) smartFederation() *smart.Federation {
	if f.Issuer == "" {
		return nil
	}
	var acr []string
	for _, v := range strings.Split(f.RequiredACR, ",") {
		if v = strings.TrimSpace(v); v != "" {
			acr = append(acr, v)
		}
	}
	return &smart.Federation{
		Name: f.Name, Issuer: f.Issuer, ClientID: f.ClientID, ClientSecret: f.ClientSecret,
		Scopes: strings.Fields(f.Scopes), ACRValues: f.ACRValues, RequiredACR: acr, Claim: f.Claim,
	}
}

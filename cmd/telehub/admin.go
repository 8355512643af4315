package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// adminCommand is one `telehub admin <object> <verb>`: its flags, declared on
// fs, and what it does with the authorization server over the opened store.
type adminCommand struct {
	summary string
	// flags declares the command's flags; those that configure the
	// authorization server itself (an upstream provider) go into auth.
	flags func(fs *flag.FlagSet, auth *authOptions) adminAction
}

// adminAction runs once the flags are parsed.
type adminAction func(ctx context.Context, auth *smart.Server, stdout io.Writer) error

var adminCommands = map[string]adminCommand{
	"user add":    {"create a user account that can sign in", userAddFlags},
	"client add":  {"register an OAuth client (a SMART app or a backend service)", clientAddFlags},
	"keys rotate": {"make new signing keys; the old ones stay published until their tokens expire", keysRotateFlags},
	"user link":   {"link an identity of the upstream OpenID provider to a user account", userLinkFlags},
}

// errUsage marks a command line that is wrong, as opposed to a failure.
var errUsage = errors.New("usage")

// runAdmin is `telehub admin <object> <verb> [flags]`: it opens the store
// (so it works before the first start, and beside a running server), does
// one thing through the smart Go API, and closes the store.
func runAdmin(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		adminUsage(stderr)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	name := args[0] + " " + args[1]
	cmd, ok := adminCommands[name]
	if !ok {
		fmt.Fprintf(stderr, "telehub admin: unknown command %q\n\n", name)
		adminUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("telehub admin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var target serveConfig
	fs.StringVar(&target.DataDir, "data", "./data", "`directory` of the embedded SQLite store")
	fs.StringVar(&target.Store, "store", "", "store: empty for SQLite in the data directory, sqlite:PATH, or a mongodb:// URI")
	var auth authOptions
	action := cmd.flags(fs, &auth)
	envs := []envFlag{{"data", "TELEHUB_DATA"}, {"store", "TELEHUB_STORE"}}
	if fs.Lookup("oidc-issuer") != nil {
		envs = append(envs, envFlag{"oidc-issuer", "TELEHUB_OIDC_ISSUER"})
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: telehub admin %s [flags]\n\n%s, in the store the server uses\n"+
			"(it may be running). --data and --store fall back to TELEHUB_DATA and TELEHUB_STORE, as for serve.\n\nFlags:\n",
			name, strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
		printFlags(fs, envs)
	}
	err := parseWithEnv(fs, args[2:], envs, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "telehub admin %s: %v\n", name, err)
		return 2
	}
	if auth.issuer != "" {
		// Links are keyed by issuer; nothing else of the provider is used here.
		auth.federation = &smart.Federation{Issuer: auth.issuer, ClientID: "telehub-admin"}
	}
	if err := runAdminAction(ctx, target, auth, action, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "telehub admin %s: %v\n", name, err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func runAdminAction(ctx context.Context, target serveConfig, opts authOptions, action adminAction, stdout, stderr io.Writer) (err error) {
	kind, path, err := target.storeTarget()
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	st, err := openStore(ctx, kind, path)
	if err != nil {
		return fmt.Errorf("open the store %s: %w", redact(path), err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the store: %w", cerr)
		}
	}()
	// The issuer does not matter to what admin commands do.
	auth, err := newAuthServer(st, "http://localhost/fhir", opts, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	return action(ctx, auth, stdout)
}

func adminUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: telehub admin <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(adminCommands))
	for name := range adminCommands {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-12s %s\n", name, adminCommands[name].summary)
	}
	fmt.Fprint(w, "\nRun \"telehub admin <command> -h\" for its flags.\n")
}

// stringList is a flag that may be repeated; each value may also hold
// several items separated by spaces or commas.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(value string) error {
	*l = append(*l, strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == ',' })...)
	return nil
}

func userAddFlags(fs *flag.FlagSet, _ *authOptions) adminAction {
	var nu smart.NewUser
	fs.StringVar(&nu.Username, "username", "", "the `name` the user signs in with (required)")
	fs.StringVar(&nu.Password, "password", "",
		"the `password`, 12 characters or more; empty: a random one, printed once. Flags show in process lists:\n"+
			"prefer an empty one and hand the printed password over")
	fs.StringVar(&nu.TOTPSecret, "totp-secret", "",
		"base32 TOTP `secret` (RFC 6238) of the second factor; empty for a professional (Practitioner, PractitionerRole):\n"+
			"a random one, printed once with its otpauth:// URI for authenticator apps")
	fs.StringVar(&nu.FHIRUser, "fhir-user", "", "the FHIR `reference` of the user: Practitioner/ID, PractitionerRole/ID, Patient/ID, RelatedPerson/ID or Person/ID")
	fs.StringVar(&nu.Name, "name", "", "display `name` of the user")
	return func(ctx context.Context, auth *smart.Server, stdout io.Writer) error {
		if nu.Username == "" {
			return fmt.Errorf("%w: --username is required", errUsage)
		}
		showPassword := nu.Password == ""
		if showPassword {
			nu.Password = randomPassword()
		}
		professional := smart.IsProfessional(nu.FHIRUser)
		showSecret := nu.TOTPSecret == "" && professional
		if showSecret {
			nu.TOTPSecret = newTOTPSecret()
		}
		u, err := auth.AddUser(ctx, nu)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("user %q already exists", nu.Username)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s created (fhirUser %s)\n", u.Username, orNone(u.FHIRUser))
		if showPassword {
			fmt.Fprintf(stdout, "password: %s\n", nu.Password)
		}
		if showSecret {
			fmt.Fprintf(stdout, "TOTP secret: %s\n%s\n", u.TOTPSecret, otpauthURI(u.Username, u.TOTPSecret))
		}
		return nil
	}
}

func clientAddFlags(fs *flag.FlagSet, _ *authOptions) adminAction {
	var (
		nc                      smart.NewClient
		public, secretPost      bool
		redirects, scopes, gran stringList
	)
	fs.StringVar(&nc.ID, "id", "", "the `client_id` (required)")
	fs.StringVar(&nc.Name, "name", "", "display `name`, shown on the login and consent pages")
	fs.StringVar(&nc.Secret, "secret", "",
		"client `secret` of a confidential client (client_secret_basic); without --secret, --public or --jwks-url\n"+
			"a random secret is made and printed once")
	fs.BoolVar(&secretPost, "secret-post", false, "the client sends its secret in the form (client_secret_post) rather than with HTTP Basic")
	fs.BoolVar(&public, "public", false, "a public client (a browser or native app without a secret: PKCE only)")
	fs.StringVar(&nc.JWKSURI, "jwks-url", "", "`URL` of the client's public keys: it authenticates with private_key_jwt (SMART Backend Services)")
	fs.Var(&redirects, "redirect-uri", "redirect `URI` of the authorization code grant (repeatable)")
	fs.Var(&scopes, "scope", "`scopes` the client may ask for, space- or comma-separated, repeatable (required);\n"+
		"e.g. \"openid fhirUser launch/patient patient/*.rs offline_access\" or \"system/*.rs\"")
	fs.Var(&gran, "grant", "grant `types` (repeatable): authorization_code, refresh_token, client_credentials;\n"+
		"default authorization_code and refresh_token with a redirect URI, else client_credentials")
	return func(ctx context.Context, auth *smart.Server, stdout io.Writer) error {
		if err := clientAuthMethod(&nc, public, secretPost); err != nil {
			return err
		}
		if len(scopes) == 0 {
			return fmt.Errorf("%w: --scope is required", errUsage)
		}
		nc.RedirectURIs, nc.Scopes, nc.GrantTypes = redirects, scopes, gran
		if len(nc.GrantTypes) == 0 {
			nc.GrantTypes = []string{smart.GrantClientCredentials}
			if len(nc.RedirectURIs) > 0 {
				nc.GrantTypes = []string{smart.GrantAuthorizationCode, smart.GrantRefreshToken}
			}
		}
		c, secret, err := auth.AddClient(ctx, nc)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("client %q already exists", nc.ID)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client %s registered (%s; grants %s; scopes %s)\n",
			c.ID, c.AuthMethod, strings.Join(c.GrantTypes, " "), strings.Join(c.Scopes, " "))
		if secret != "" && nc.Secret == "" {
			fmt.Fprintf(stdout, "client secret: %s\n", secret)
		}
		return nil
	}
}

// clientAuthMethod sets nc's token endpoint authentication from the flags.
func clientAuthMethod(nc *smart.NewClient, public, secretPost bool) error {
	switch {
	case nc.ID == "":
		return fmt.Errorf("%w: --id is required", errUsage)
	case public && (nc.Secret != "" || nc.JWKSURI != "" || secretPost):
		return fmt.Errorf("%w: --public excludes --secret, --secret-post and --jwks-url", errUsage)
	case nc.JWKSURI != "" && (nc.Secret != "" || secretPost):
		return fmt.Errorf("%w: --jwks-url excludes --secret and --secret-post", errUsage)
	case public:
		nc.AuthMethod = smart.AuthNone
	case nc.JWKSURI != "":
		nc.AuthMethod = smart.AuthPrivateKeyJWT
	case secretPost:
		nc.AuthMethod = smart.AuthSecretPost
	default:
		nc.AuthMethod = smart.AuthSecretBasic
	}
	return nil
}

func keysRotateFlags(*flag.FlagSet, *authOptions) adminAction {
	return func(ctx context.Context, auth *smart.Server, stdout io.Writer) error {
		if err := auth.Keys().Rotate(ctx); err != nil {
			return err
		}
		set, err := auth.Keys().PublicSet(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "signing keys rotated; %d keys published (the new ones and those still verifying issued tokens)\n"+
			"running servers pick the new keys up within a minute\n", set.Len())
		return nil
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// userLinkFlags: sign-ins through the upstream provider as --identity (the
// value of its account claim: the sub, or e.g. an RPPS number) become
// sign-ins as --username. Links are kept per issuer.
func userLinkFlags(fs *flag.FlagSet, auth *authOptions) adminAction {
	var identity, username string
	fs.StringVar(&auth.issuer, "oidc-issuer", "", "issuer `URL` of the upstream provider, as given to serve (required; TELEHUB_OIDC_ISSUER)")
	fs.StringVar(&identity, "identity", "", "the upstream account claim's `value` (required)")
	fs.StringVar(&username, "username", "", "the TeleHub account's `name` (required)")
	return func(ctx context.Context, srv *smart.Server, stdout io.Writer) error {
		if identity == "" || username == "" {
			return fmt.Errorf("%w: --identity and --username are required", errUsage)
		}
		if err := srv.LinkFederatedAccount(ctx, identity, username); err != nil {
			if errors.Is(err, smart.ErrNoFederation) {
				return fmt.Errorf("%w: --oidc-issuer (or TELEHUB_OIDC_ISSUER) is required", errUsage)
			}
			return err
		}
		fmt.Fprintf(stdout, "%s at %s now signs in as %s\n", identity, auth.issuer, username)
		return nil
	}
}

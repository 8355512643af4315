package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/web"
)

// The demo: a public SMART app and two accounts, linked to a demo
// Practitioner and a demo Patient, so that a first start can be signed in to
// at once.
const (
	demoClientID      = "demo-app"
	demoRedirectURI   = "http://localhost:8000/callback"
	demoPractitioner  = "demo-practitioner"
	demoPatient       = "demo-patient"
	demoPractitionerU = "dr.demo"
	demoPatientU      = "patient.demo"
)

var demoScopes = []string{
	"openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access", "online_access",
	"patient/*.cruds", "user/*.cruds",
}

// demoResources are written through the FHIR API, so that they are
// validated and indexed like any other.
var demoResources = []struct{ typ, id, body string }{
	{"Practitioner", demoPractitioner, `{"resourceType":"Practitioner","id":"demo-practitioner","active":true,` +
		`"name":[{"use":"official","family":"Demo","given":["Claire"],"prefix":["Dr"]}]}`},
	{"Patient", demoPatient, `{"resourceType":"Patient","id":"demo-patient","active":true,` +
		`"name":[{"use":"official","family":"Demo","given":["Paul"]}],"gender":"male","birthDate":"1980-04-12"}`},
}

// demoAccount is a demo user and the credentials shown once.
type demoAccount struct {
	username, password, totpSecret, fhirUser string
}

// startDemo seeds the demo when --demo asks for it and the store has no
// client nor account. Left to auto, it also wants a store without any
// resource: an existing deployment upgraded to a version with accounts
// does not get demo accounts it did not ask for.
func (s *server) startDemo(ctx context.Context, cfg serveConfig, out io.Writer) error {
	kind, _, err := cfg.storeTarget()
	if err != nil || !s.fresh || !cfg.Demo.enabled(kind) {
		return err
	}
	if cfg.Demo != "true" {
		res, err := s.store.Search(ctx, store.Query{Count: 1})
		if err != nil {
			return fmt.Errorf("demo: look for resources: %w", err)
		}
		if len(res.Resources) > 0 {
			s.logger.Info("no demo: the store already holds resources (--demo=true forces it)")
			return nil
		}
	}
	return s.seedDemo(ctx, out)
}

// seedDemo creates the demo client, resources and accounts, then prints
// them to out: the passwords and the TOTP secret are shown only there.
func (s *server) seedDemo(ctx context.Context, out io.Writer) error {
	for _, r := range demoResources {
		if err := s.putResource(ctx, r.typ, r.id, r.body); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	if _, _, err := s.auth.AddClient(ctx, smart.NewClient{
		ID: demoClientID, Name: "TeleHub demo app", AuthMethod: smart.AuthNone,
		RedirectURIs: []string{demoRedirectURI}, Scopes: demoScopes,
		GrantTypes: []string{smart.GrantAuthorizationCode, smart.GrantRefreshToken},
	}); errors.Is(err, store.ErrConflict) {
		// Another node sharing the store seeded the demo first.
		return nil
	} else if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	accounts := []demoAccount{
		{demoPractitionerU, randomPassword(), newTOTPSecret(), "Practitioner/" + demoPractitioner},
		{demoPatientU, randomPassword(), "", "Patient/" + demoPatient},
	}
	for _, a := range accounts {
		if _, err := s.auth.AddUser(ctx, smart.NewUser{
			Username: a.username, Password: a.password, TOTPSecret: a.totpSecret, FHIRUser: a.fhirUser,
		}); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	printDemo(out, s.baseURL, accounts)
	s.logger.Info("demo app and accounts created; their credentials are printed on standard output, once",
		"client_id", demoClientID, "users", []string{demoPractitionerU, demoPatientU})
	return nil
}

// putResource writes a resource through the FHIR layer's in-process API
// (the server itself acts: no token).
func (s *server) putResource(ctx context.Context, typ, id, body string) error {
	if _, err := s.api.Update(ctx, typ, id, []byte(body), 0); err != nil {
		return fmt.Errorf("put %s/%s: %w", typ, id, err)
	}
	return nil
}

func printDemo(out io.Writer, fhirBase string, accounts []demoAccount) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n==== TeleHub demo (created now; the passwords and the TOTP secret are not shown again) ====\n")
	fmt.Fprintf(&b, "FHIR base URL      %s\n", fhirBase)
	fmt.Fprintf(&b, "SMART discovery    %s/.well-known/smart-configuration\n", fhirBase)
	fmt.Fprintf(&b, "web app            %s%s (sign in with the users below)\n", serverURL(fhirBase), web.RedirectPath)
	fmt.Fprintf(&b, "SMART app          client_id=%s (public, PKCE S256) redirect_uri=%s\n", demoClientID, demoRedirectURI)
	for _, a := range accounts {
		fmt.Fprintf(&b, "user               username=%s password=%s fhirUser=%s\n", a.username, a.password, a.fhirUser)
		if a.totpSecret != "" {
			fmt.Fprintf(&b, "                   TOTP secret=%s\n", a.totpSecret)
			fmt.Fprintf(&b, "                   %s\n", otpauthURI(a.username, a.totpSecret))
		}
	}
	fmt.Fprintf(&b, "=============================================================================================\n\n")
	io.WriteString(out, b.String())
}

// randomPassword is a 24-character password from crypto/rand.
func randomPassword() string {
	return strings.ToLower(randomBase32(15))
}

// newTOTPSecret is a 160-bit TOTP secret (RFC 4226's recommended length).
func newTOTPSecret() string { return randomBase32(20) }

func randomBase32(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics if the system cannot supply)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// otpauthURI is the key URI authenticator apps read (from a QR code or
// pasted).
func otpauthURI(username, secret string) string {
	q := url.Values{"secret": {secret}, "issuer": {"TeleHub"}}
	return "otpauth://totp/" + url.PathEscape("TeleHub:"+username) + "?" + q.Encode()
}

package signalingtest

import (
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/telehub/telehub/smart/smarttest"
)

// TOTP is the practitioner's current one-time code.
func TOTP(t TB) string {
	t.Helper()
	code, err := totp.GenerateCode(TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// Token signs username in to the web app's client on node n through the
// authorization code flow with PKCE, as a browser would, granting every
// scope asked, and returns the access token.
func (n *Node) Token(t TB, username, scope string) string {
	t.Helper()
	otp := ""
	if username == PractitionerUser {
		otp = TOTP(t)
	}
	tok := smarttest.CodeFlow(t, smarttest.Login{
		Issuer: n.URL, Audience: n.Issuer + "/fhir", ClientID: WebClientID, RedirectURI: n.WebRedirectURI(), Scope: scope,
		Username: username, Password: Password, OTP: otp,
	})
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("token response without an access token: %v", tok)
	}
	return access
}

package smart

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/telehub/telehub/store"
)

// TestLockout drives failed logins through the login form: after five the
// account is locked, and then even the right password is refused.
func TestLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAppClient("app", AuthNone)
	e.addUser("target", "Patient/p1")
	e.addUser("bystander", "Patient/p2")
	_, challenge := pkce()
	params := e.authorizeParams("app", "patient/Observation.rs", challenge)
	for i := range maxFailures {
		resp, page := e.browser().login(params, "target", "wrong password", "")
		want := http.StatusUnauthorized
		if i == maxFailures-1 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want || !strings.Contains(page, `role="alert"`) {
			t.Fatalf("failure %d: %s, want %d with an error message", i+1, resp.Status, want)
		}
	}
	if resp, _ := e.browser().login(params, "target", testPassword, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password on a locked account: %s, want 429", resp.Status)
	}
	if resp, _ := e.browser().login(params, "bystander", testPassword, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another account: %s, want 303 (not locked)", resp.Status)
	}
	if resp, _ := e.browser().login(params, "nobody", testPassword, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown account: %s, want 401", resp.Status)
	}
}

// TestAddressThrottle checks that failed logins over many accounts from one
// address end up refused from that address, even for a good password.
func TestAddressThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxLoginFailuresPerAddress = 3 })
	e.addAppClient("app", AuthNone)
	e.addUser("good", "Patient/p1")
	_, challenge := pkce()
	params := e.authorizeParams("app", "patient/Observation.rs", challenge)
	for _, user := range []string{"a", "b", "c"} {
		if resp, _ := e.browser().login(params, user, "guess", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure for %s: %s, want 401", user, resp.Status)
		}
	}
	resp, page := e.browser().login(params, "good", testPassword, "")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "network") {
		t.Errorf("login after the address limit: %s, want 429", resp.Status)
	}
}

// TestAuthenticate checks the second factor and the failure count.
func TestAuthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("dr.a", "Practitioner/a")
	e.addUser("pat", "Patient/p")
	now := time.Now()
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(testTOTPSecret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name, user, password, otp string
		want                      error
	}{
		{"professional without code", "dr.a", testPassword, "", ErrInvalidCredentials},
		{"professional with a wrong code", "dr.a", testPassword, "000000", ErrInvalidCredentials},
		{"professional with an old code", "dr.a", testPassword, code(now.Add(-5 * time.Minute)), ErrInvalidCredentials},
		{"professional with the code", "dr.a", testPassword, code(now), nil},
		{"the same code again", "dr.a", testPassword, code(now), ErrInvalidCredentials},
		{"professional, wrong password, good code", "dr.a", "nope", code(now.Add(30 * time.Second)), ErrInvalidCredentials},
		{"patient without second factor", "pat", testPassword, "", nil},
		{"patient, wrong password", "pat", "nope", "", ErrInvalidCredentials},
		{"unknown user", "ghost", testPassword, "", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		u, err := e.srv.Authenticate(ctx, tt.user, tt.password, tt.otp)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && u.Username != tt.user {
			t.Errorf("%s: user %q", tt.name, u.Username)
		}
	}
	// A success resets the failure count.
	if u, _ := e.srv.GetUser(ctx, "pat"); u.Failures != 1 {
		t.Errorf("failures after one failure = %d, want 1", u.Failures)
	}
	if _, err := e.srv.Authenticate(ctx, "pat", testPassword, ""); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.srv.GetUser(ctx, "pat"); u.Failures != 0 {
		t.Errorf("failures after a success = %d, want 0", u.Failures)
	}
}

func TestAddUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		nu   NewUser
		ok   bool
	}{
		{"patient", NewUser{Username: "p", Password: testPassword, FHIRUser: "Patient/1"}, true},
		{"professional with TOTP", NewUser{Username: "d", Password: testPassword, FHIRUser: "Practitioner/1", TOTPSecret: testTOTPSecret}, true},
		{"professional without TOTP", NewUser{Username: "d2", Password: testPassword, FHIRUser: "PractitionerRole/1"}, false},
		{"bad TOTP secret", NewUser{Username: "d3", Password: testPassword, FHIRUser: "Practitioner/1", TOTPSecret: "not base32!"}, false},
		{"short password", NewUser{Username: "s", Password: "short", FHIRUser: "Patient/1"}, false},
		{"bad fhirUser", NewUser{Username: "b", Password: testPassword, FHIRUser: "Observation/1"}, false},
		{"duplicate", NewUser{Username: "p", Password: testPassword, FHIRUser: "Patient/1"}, false},
	}
	for _, tt := range tests {
		u, err := e.srv.AddUser(ctx, tt.nu)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
		if err == nil && (u.PasswordHash == tt.nu.Password || !strings.HasPrefix(u.PasswordHash, "$argon2id$")) {
			t.Errorf("%s: password stored as %q", tt.name, u.PasswordHash)
		}
	}
	if _, err := e.srv.AddUser(ctx, NewUser{Username: "p", Password: testPassword}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate user: %v, want ErrConflict", err)
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h := hashPassword("s3cret password")
	tests := []struct {
		hash, password string
		want           bool
	}{
		{h, "s3cret password", true},
		{h, "s3cret passwore", false},
		{h, "", false},
		{hashPassword("s3cret password"), "s3cret password", true},
		{"$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "x", false},
		{"garbage", "x", false},
	}
	for _, tt := range tests {
		if got := checkPassword(tt.hash, tt.password); got != tt.want {
			t.Errorf("checkPassword(%q, %q) = %v, want %v", tt.hash, tt.password, got, tt.want)
		}
	}
	if h == hashPassword("s3cret password") {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

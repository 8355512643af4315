package smart

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/telehub/telehub/store"
)

// Login failures: after maxFailures consecutive failures an account is
// locked for lockoutFor, whatever the password then given.
const (
	maxFailures = 5
	lockoutFor  = 15 * time.Minute
)

// Errors of Authenticate. Both are shown to the user as the same message,
// so that the login page does not tell which accounts exist.
var (
	ErrInvalidCredentials = errors.New("smart: invalid username, password or one-time code")
	ErrAccountLocked      = errors.New("smart: account locked after too many failed logins")
)

// User is an account that can log in at the authorization endpoint.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Name         string    `json:"name,omitempty"`
	PasswordHash string    `json:"password_hash"`
	FHIRUser     string    `json:"fhir_user,omitempty"`   // "Practitioner/123", "PractitionerRole/…", "Patient/…"
	TOTPSecret   string    `json:"totp_secret,omitempty"` // base32; required for professionals
	Failures     int       `json:"failures,omitempty"`
	LockedUntil  time.Time `json:"locked_until,omitzero"`
	Created      time.Time `json:"created"`
}

// Professional reports whether the account is a health professional's,
// which must log in with a second factor.
func (u *User) Professional() bool { return IsProfessional(u.FHIRUser) }

// IsProfessional reports whether the fhirUser reference ("Practitioner/12")
// names a health professional: a Practitioner or a PractitionerRole.
func IsProfessional(fhirUser string) bool {
	return strings.HasPrefix(fhirUser, "Practitioner/") || strings.HasPrefix(fhirUser, "PractitionerRole/")
}

// NewUser describes an account for AddUser (the admin command).
type NewUser struct {
	Username   string
	Password   string
	Name       string
	FHIRUser   string // a Practitioner, PractitionerRole or Patient reference
	TOTPSecret string // base32 (RFC 6238); required when FHIRUser is a professional
}

var fhirUserRef = regexp.MustCompile(`^(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)/[A-Za-z0-9\-.]{1,64}$`)

// AddUser creates an account. An existing username is store.ErrConflict.
func (s *Server) AddUser(ctx context.Context, nu NewUser) (*User, error) {
	if nu.Username == "" || strings.ContainsAny(nu.Username, " \t") {
		return nil, fmt.Errorf("smart: invalid username %q", nu.Username)
	}
	if len(nu.Password) < 12 {
		return nil, errors.New("smart: a password needs at least 12 characters")
	}
	if nu.FHIRUser != "" && !fhirUserRef.MatchString(nu.FHIRUser) {
		return nil, fmt.Errorf("smart: fhirUser %q is not a Practitioner, PractitionerRole, Patient, RelatedPerson or Person reference", nu.FHIRUser)
	}
	u := &User{
		ID: randomToken(12), Username: nu.Username, Name: nu.Name, PasswordHash: hashPassword(nu.Password),
		FHIRUser: nu.FHIRUser, TOTPSecret: strings.ToUpper(strings.ReplaceAll(nu.TOTPSecret, " ", "")), Created: time.Now().UTC(),
	}
	if u.TOTPSecret != "" {
		if _, err := totp.GenerateCode(u.TOTPSecret, time.Now()); err != nil {
			return nil, fmt.Errorf("smart: invalid TOTP secret: %w", err)
		}
	} else if u.Professional() {
		return nil, errors.New("smart: a professional account needs a TOTP secret (strong authentication)")
	}
	if err := s.recs.put(ctx, kindUser, u.Username, 1, u, time.Time{}); err != nil {
		return nil, fmt.Errorf("smart: add user %s: %w", u.Username, err)
	}
	return u, nil
}

// GetUser returns the account username, or an error wrapping store.ErrNotFound.
func (s *Server) GetUser(ctx context.Context, username string) (*User, error) {
	var u User
	if _, err := s.recs.get(ctx, kindUser, username, &u); err != nil {
		return nil, fmt.Errorf("smart: user %s: %w", username, err)
	}
	return &u, nil
}

// Authenticate checks a login: password, then the TOTP code when the
// account has a second factor. Consecutive failures lock the account; a
// success resets the count. A TOTP code is accepted once only.
func (s *Server) Authenticate(ctx context.Context, username, password, otp string) (*User, error) {
	for {
		var u User
		rec, err := s.recs.get(ctx, kindUser, username, &u)
		if errors.Is(err, store.ErrNotFound) {
			checkPassword(dummyHash, password)
			return nil, ErrInvalidCredentials
		}
		if err != nil {
			return nil, fmt.Errorf("smart: authenticate %s: %w", username, err)
		}
		now := time.Now()
		if now.Before(u.LockedUntil) {
			return nil, ErrAccountLocked
		}
		ok := checkPassword(u.PasswordHash, password) && s.checkOTP(ctx, &u, otp, now)
		if ok && u.Failures == 0 {
			return &u, nil
		}
		if ok {
			u.Failures, u.LockedUntil = 0, time.Time{}
		} else {
			u.Failures++
			if u.Failures >= maxFailures {
				u.Failures, u.LockedUntil = 0, now.Add(lockoutFor)
				s.log.Warn("account locked after failed logins", "user", username)
			}
		}
		err = s.recs.put(ctx, kindUser, username, rec.Version+1, &u, time.Time{})
		if errors.Is(err, store.ErrConflict) {
			continue // a concurrent login changed the count: count again
		}
		if err != nil {
			return nil, fmt.Errorf("smart: authenticate %s: %w", username, err)
		}
		if !ok {
			if !u.LockedUntil.IsZero() {
				return nil, ErrAccountLocked
			}
			return nil, ErrInvalidCredentials
		}
		return &u, nil
	}
}

// checkOTP checks the TOTP code of an account that has a second factor, and
// records it so that it cannot be replayed.
func (s *Server) checkOTP(ctx context.Context, u *User, code string, now time.Time) bool {
	if u.TOTPSecret == "" {
		return true
	}
	if !totp.Validate(code, u.TOTPSecret) {
		return false
	}
	// A code is valid for its 30 s step and one step either side.
	err := s.recs.put(ctx, kindOTP, u.ID+":"+code, 1, struct{}{}, now.Add(2*time.Minute))
	return err == nil
}

package smart

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/telehub/telehub/store"
)

// idTokenTTL is the lifetime of OpenID Connect id_tokens.
const idTokenTTL = time.Hour

// grant is what a user (or a backend client) authorized: it travels from
// the consent to the authorization code, then to refresh tokens.
type grant struct {
	ClientID string        `json:"client_id"`
	UserID   string        `json:"user_id,omitempty"`
	Username string        `json:"username,omitempty"`
	Name     string        `json:"name,omitempty"`
	FHIRUser string        `json:"fhir_user,omitempty"`
	Scope    string        `json:"scope"`
	Launch   LaunchContext `json:"launch"`
	AuthTime time.Time     `json:"auth_time,omitzero"`
	Nonce    string        `json:"nonce,omitempty"`
}

func (g *grant) subject() string {
	if g.UserID != "" {
		return g.UserID
	}
	return g.ClientID
}

// refreshRecord is a refresh token as stored (under its hash).
type refreshRecord struct {
	Grant   grant     `json:"grant"`
	Family  string    `json:"family"` // every token rotated from one grant shares it
	Used    bool      `json:"used,omitempty"`
	Online  bool      `json:"online,omitempty"`
	Expires time.Time `json:"expires"`
}

// familyRecord marks a grant's refresh tokens; revoking it revokes them
// all, and the access tokens issued under the grant that have not expired.
type familyRecord struct {
	ClientID string        `json:"client_id"`
	Revoked  bool          `json:"revoked,omitempty"`
	Access   []issuedToken `json:"access,omitempty"`
}

// issuedToken is an access token issued under a grant, kept until it
// expires so that revoking the grant can revoke it.
type issuedToken struct {
	JTI     string    `json:"jti"`
	Expires time.Time `json:"exp"`
}

// AccessToken is a verified access token.
type AccessToken struct {
	ID        string // jti
	Subject   string // the user's account id, or the client id of a backend service
	ClientID  string
	Scopes    []Scope
	Patient   string
	Encounter string
	FHIRUser  string
	IssuedAt  time.Time
	Expires   time.Time
}

// Grants returns the access decisions of the token's scopes.
func (t *AccessToken) Grants() Grants { return Grants{Scopes: t.Scopes, Patient: t.Patient} }

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken       string `json:"access_token"`
	TokenType         string `json:"token_type"`
	ExpiresIn         int    `json:"expires_in"`
	Scope             string `json:"scope"`
	RefreshToken      string `json:"refresh_token,omitempty"`
	IDToken           string `json:"id_token,omitempty"`
	Patient           string `json:"patient,omitempty"`
	Encounter         string `json:"encounter,omitempty"`
	FHIRContext       any    `json:"fhirContext,omitempty"`
	NeedPatientBanner *bool  `json:"need_patient_banner,omitempty"`
	SmartStyleURL     string `json:"smart_style_url,omitempty"`

	grant  grant       // what was issued, for the audit trail
	access issuedToken // the access token's id and expiry
}

// issue makes the tokens of g: an access token, an id_token when openid and
// a user are in it, and a refresh token of f when f is set.
func (s *Server) issue(ctx context.Context, g grant, f *family) (*tokenResponse, error) {
	access, issued, err := s.signAccessToken(ctx, g)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTokenTTL.Seconds()), Scope: g.Scope,
		Patient: g.Launch.Patient, Encounter: g.Launch.Encounter, SmartStyleURL: g.Launch.SmartStyleURL,
		grant: g, access: issued,
	}
	if len(g.Launch.FHIRContext) > 0 {
		resp.FHIRContext = g.Launch.FHIRContext
	}
	if g.Launch.Patient != "" {
		banner := g.Launch.NeedPatientBanner
		resp.NeedPatientBanner = &banner
	}
	scopes := strings.Fields(g.Scope)
	if g.UserID != "" && slices.Contains(scopes, "openid") {
		if resp.IDToken, err = s.signIDToken(ctx, g, slices.Contains(scopes, "fhirUser"), slices.Contains(scopes, "profile")); err != nil {
			return nil, err
		}
	}
	if f != nil {
		if resp.RefreshToken, err = s.newRefreshToken(ctx, g, *f); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *Server) signAccessToken(ctx context.Context, g grant) (string, issuedToken, error) {
	now := time.Now()
	issued := issuedToken{JTI: randomToken(16), Expires: now.Add(s.cfg.AccessTokenTTL).Truncate(time.Second)}
	b := jwt.NewBuilder().Issuer(s.paths.issuer).Subject(g.subject()).Audience([]string{s.paths.fhir}).
		IssuedAt(now).NotBefore(now).Expiration(issued.Expires).JwtID(issued.JTI).
		Claim("client_id", g.ClientID).Claim("scope", g.Scope)
	if g.Launch.Patient != "" {
		b = b.Claim("patient", g.Launch.Patient)
	}
	if g.Launch.Encounter != "" {
		b = b.Claim("encounter", g.Launch.Encounter)
	}
	if g.FHIRUser != "" {
		b = b.Claim("fhirUser", g.FHIRUser)
	}
	signed, err := s.sign(ctx, b, jwa.SignatureAlgorithm(s.cfg.AccessTokenAlg), "at+jwt")
	return signed, issued, err
}

func (s *Server) signIDToken(ctx context.Context, g grant, withFHIRUser, withProfile bool) (string, error) {
	now := time.Now()
	b := jwt.NewBuilder().Issuer(s.paths.issuer).Subject(g.UserID).Audience([]string{g.ClientID}).
		IssuedAt(now).Expiration(now.Add(idTokenTTL)).Claim("auth_time", g.AuthTime.Unix())
	if g.Nonce != "" {
		b = b.Claim("nonce", g.Nonce)
	}
	if withFHIRUser && g.FHIRUser != "" {
		b = b.Claim("fhirUser", s.paths.fhir+"/"+g.FHIRUser)
	}
	if withProfile && g.Name != "" {
		b = b.Claim("name", g.Name)
	}
	return s.sign(ctx, b, jwa.RS256, "JWT")
}

// sign builds the token and signs it with the newest key for alg.
func (s *Server) sign(ctx context.Context, b *jwt.Builder, alg jwa.SignatureAlgorithm, typ string) (string, error) {
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("smart: build token: %w", err)
	}
	key, err := s.keys.signer(ctx, alg)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, typ); err != nil {
		return "", fmt.Errorf("smart: sign token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key.private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("smart: sign token: %w", err)
	}
	return string(signed), nil
}

// ErrInvalidToken is returned (wrapped) by VerifyAccessToken for any token
// that is not a valid, unexpired, unrevoked access token of this server.
var ErrInvalidToken = errors.New("smart: invalid access token")

// VerifyAccessToken checks a bearer token: signature by one of the server's
// keys, issuer, audience, lifetime, and revocation. The FHIR layer calls it
// on every request.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*AccessToken, error) {
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if hdr.Type() != "at+jwt" {
		return nil, fmt.Errorf("%w: not an access token", ErrInvalidToken)
	}
	key, err := s.keys.publicKey(ctx, hdr.KeyID())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if hdr.Algorithm() != key.alg {
		return nil, fmt.Errorf("%w: algorithm %s does not match its key", ErrInvalidToken, hdr.Algorithm())
	}
	tok, err := jwt.Parse([]byte(token), jwt.WithKey(key.alg, key.public), jwt.WithValidate(true),
		jwt.WithIssuer(s.paths.issuer), jwt.WithAudience(s.paths.fhir), jwt.WithAcceptableSkew(30*time.Second),
		jwt.WithRequiredClaim(jwt.ExpirationKey), jwt.WithRequiredClaim(jwt.JwtIDKey))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if revoked, err := s.Revoked(ctx, tok.JwtID()); err != nil {
		return nil, err
	} else if revoked {
		return nil, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	at := &AccessToken{
		ID: tok.JwtID(), Subject: tok.Subject(), IssuedAt: tok.IssuedAt(), Expires: tok.Expiration(),
		ClientID: stringClaim(tok, "client_id"), Patient: stringClaim(tok, "patient"),
		Encounter: stringClaim(tok, "encounter"), FHIRUser: stringClaim(tok, "fhirUser"),
	}
	if at.Scopes, err = ParseScopes(stringClaim(tok, "scope")); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return at, nil
}

func stringClaim(tok jwt.Token, name string) string {
	v, _ := tok.Get(name)
	s, _ := v.(string)
	return s
}

// family is a grant's chain of refresh tokens: every token rotated from one
// authorization shares its id and its expiry, fixed at the authorization
// (OfflineTTL for offline_access, OnlineTTL for online_access).
type family struct {
	ID      string
	Online  bool
	Expires time.Time
}

// newRefreshToken stores and returns a refresh token of g in f.
func (s *Server) newRefreshToken(ctx context.Context, g grant, f family) (string, error) {
	token := randomToken(32)
	rec := refreshRecord{Grant: g, Family: f.ID, Online: f.Online, Expires: f.Expires}
	if err := s.recs.put(ctx, kindRefresh, hashToken(token), 1, rec, f.Expires); err != nil {
		return "", fmt.Errorf("smart: store refresh token: %w", err)
	}
	return token, nil
}

// newFamily starts the refresh token family of a grant.
func (s *Server) newFamily(ctx context.Context, clientID string, online bool) (*family, error) {
	ttl := s.cfg.OfflineTTL
	if online {
		ttl = s.cfg.OnlineTTL
	}
	f := &family{ID: randomToken(16), Online: online, Expires: time.Now().Add(ttl)}
	if err := s.recs.put(ctx, kindFamily, f.ID, 1, familyRecord{ClientID: clientID}, f.Expires); err != nil {
		return nil, fmt.Errorf("smart: store refresh family: %w", err)
	}
	return f, nil
}

// revokeFamily revokes every refresh token of a grant, and the access
// tokens issued under it that have not expired yet (RFC 7009 2.1, RFC 6749
// 4.1.2 for a replayed code).
func (s *Server) revokeFamily(ctx context.Context, family string) error {
	for {
		var f familyRecord
		rec, err := s.recs.get(ctx, kindFamily, family, &f)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("smart: revoke family: %w", err)
		}
		if f.Revoked {
			return nil
		}
		f.Revoked = true
		err = s.recs.put(ctx, kindFamily, family, rec.Version+1, f, rec.Expires)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("smart: revoke family: %w", err)
		}
		return s.revokeIssued(ctx, f.Access)
	}
}

// revokeIssued revokes the access tokens of a grant that are still live.
func (s *Server) revokeIssued(ctx context.Context, tokens []issuedToken) error {
	now, revoked := time.Now(), false
	for _, t := range tokens {
		if !t.Expires.After(now) {
			continue
		}
		err := s.recs.put(ctx, kindRevoked, t.JTI, 1, struct{}{}, t.Expires.Add(time.Minute))
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("smart: revoke access token: %w", err)
		}
		revoked = true
	}
	if !revoked {
		return nil
	}
	return s.bumpRevocationEpoch(ctx)
}

// trackAccessToken notes an access token issued under a grant, so that
// revoking the grant revokes it; expired ones are dropped. A grant revoked
// meanwhile gets the token revoked at once.
func (s *Server) trackAccessToken(ctx context.Context, family string, t issuedToken) error {
	for {
		var f familyRecord
		rec, err := s.recs.get(ctx, kindFamily, family, &f)
		if errors.Is(err, store.ErrNotFound) {
			return s.revokeIssued(ctx, []issuedToken{t})
		}
		if err != nil {
			return fmt.Errorf("smart: track access token: %w", err)
		}
		if f.Revoked {
			return s.revokeIssued(ctx, []issuedToken{t})
		}
		now := time.Now()
		f.Access = slices.DeleteFunc(f.Access, func(x issuedToken) bool { return !x.Expires.After(now) })
		f.Access = append(f.Access, t)
		err = s.recs.put(ctx, kindFamily, family, rec.Version+1, f, rec.Expires)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

// familyRevoked reports whether family has been revoked (or has expired).
func (s *Server) familyRevoked(ctx context.Context, family string) (bool, error) {
	var f familyRecord
	_, err := s.recs.get(ctx, kindFamily, family, &f)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("smart: refresh family: %w", err)
	}
	return f.Revoked, nil
}

// Package authz carries the caller of a request through TeleHub's APIs (FHIR,
// DICOMweb, signaling, subscriptions): who they are, what their access token
// grants, and why they ask. The Authenticator middleware verifies the bearer
// token once per request and puts a Principal in the request's context; each
// API then asks the Principal's Grants what it may do, and the consent
// policy and audit recorder (interfaces here, implemented by packages
// consent and audit) what it may see and what must be recorded.
//
// Verifying a token costs a signature check (tens of microseconds for
// ES256 or RS384); CachingVerifier pays it once per token and still notices a
// revocation within seconds.
//
// Keeping these few types in one small package lets every API enforce the
// same rules without importing one another.
package authz

import (
	"context"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/smart"
)

// Principal is the verified caller of one request.
type Principal struct {
	// TokenID is the access token's jti ("" under --insecure-no-auth).
	TokenID string
	// Subject is the user's account id, or the client id of a backend service.
	Subject string
	// ClientID is the OAuth client the token was issued to.
	ClientID string
	// FHIRUser is the user's resource ("Practitioner/12", "Patient/7"); empty
	// for backend services.
	FHIRUser string
	// Patient and Encounter are the token's launch context (ids, not references).
	Patient   string
	Encounter string
	// Grants answers what the token's scopes allow.
	Grants smart.Grants
	// Purpose is the purpose of use the request states (a code of
	// http://terminology.hl7.org/CodeSystem/v3-ActReason); "ETREAT" asks
	// for break-the-glass access (see package consent).
	Purpose string
	// Address is the client's network address.
	Address string
	// Insecure marks the all-powerful principal of --insecure-no-auth.
	Insecure bool
}

// PurposeEmergency is the purpose of use that asks for break-the-glass access.
const PurposeEmergency = "ETREAT"

// PurposeHeader is the request header in which a client states its purpose
// of use for one request.
const PurposeHeader = "X-Purpose-Of-Use"

// IsProfessional reports whether the principal is a signed-in health
// professional (fhirUser a Practitioner or PractitionerRole).
func (p *Principal) IsProfessional() bool {
	return smart.IsProfessional(p.FHIRUser)
}

// Agent is the principal as an audit agent.
func (p *Principal) Agent() audit.Agent {
	user := p.FHIRUser
	name := p.Subject
	return audit.Agent{User: user, UserName: name, Client: p.ClientID, Address: p.Address}
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of the request, or nil when the request
// went through no Authenticator (in-process callers and unit tests).
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// ConsentPolicy decides, from patients' Consent resources and care
// relations, whose data a principal may not see.
type ConsentPolicy interface {
	// Restrictions returns what p may not see. It is called once per
	// request that touches patient data; implementations cache.
	Restrictions(ctx context.Context, p *Principal) (Restrictions, error)
}

// Restrictions is a consent policy's answer for one principal.
type Restrictions struct {
	// DeniedPatients lists the ids of patients whose consent closes their
	// data (their Patient resource and everything in their compartment) to
	// the principal.
	DeniedPatients []string
	// Overridden lists the patients whose deny the principal set aside by
	// breaking the glass (Purpose ETREAT): their data are open, and each
	// access must be audited as break-the-glass.
	Overridden []string
}

// Auditor records audit events, fail-closed: when Record returns an error
// the request must fail. *audit.Recorder implements it.
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// TokenVerifier verifies bearer access tokens; *smart.Server implements it.
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*smart.AccessToken, error)
}

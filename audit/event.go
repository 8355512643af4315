package audit

import (
	"encoding/base64"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Code systems the events use.
const (
	systemEventType     = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemRESTful       = "http://hl7.org/fhir/restful-interaction"
	systemDICOM         = "http://dicom.nema.org/resources/ontology/DCM"
	systemParticipation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	systemEntityType    = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemObjectRole    = "http://terminology.hl7.org/CodeSystem/object-role"
	systemSourceType    = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemActReason     = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	// SubtypeSystem codes the events BALP does not name.
	SubtypeSystem = "https://telehub.dev/fhir/CodeSystem/audit-event-subtype"
	// ClientIDSystem is the identifier system of OAuth client ids (agent.who.identifier).
	ClientIDSystem = "https://telehub.dev/fhir/sid/client-id"
)

// Outcome is AuditEvent.outcome.
type Outcome string

// The outcomes TeleHub records.
const (
	Success        Outcome = "0"  // the action succeeded
	MinorFailure   Outcome = "4"  // refused or failed for a reason the client caused (4xx)
	SeriousFailure Outcome = "8"  // the server failed (5xx)
	MajorFailure   Outcome = "12" // the server is unusable
)

// OutcomeOf maps an HTTP status to an Outcome.
func OutcomeOf(status int) Outcome {
	switch {
	case status < 400:
		return Success
	case status < 500:
		return MinorFailure
	default:
		return SeriousFailure
	}
}

// Agent is who acted: the user, the client application and the network
// address it came from. Any of them may be empty.
type Agent struct {
	// User is the user's FHIR reference (the fhirUser claim), e.g. "Practitioner/12".
	User string
	// UserName is a display name for the user (the login name when there is no fhirUser).
	UserName string
	// Client is the OAuth client id of the application.
	Client string
	// Address is the client's network address (IP or host name).
	Address string
}

// Target is the resource an interaction touched.
type Target struct {
	Type    string
	ID      string
	Version int64 // 0: the current version
}

func (t Target) reference() string {
	if t.ID == "" {
		return t.Type
	}
	var buf [64]byte
	return string(t.appendReference(buf[:0]))
}

// appendReference appends the reference to t: "Type/id", with
// "/_history/version" when the version is set.
func (t Target) appendReference(dst []byte) []byte {
	dst = append(dst, t.Type...)
	if t.ID == "" {
		return dst
	}
	dst = append(append(dst, '/'), t.ID...)
	if t.Version > 0 {
		dst = strconv.AppendInt(append(dst, "/_history/"...), t.Version, 10)
	}
	return dst
}

// Event is one AuditEvent ready to be recorded (see Recorder.Record). It
// holds what its builder was given (a recipe), from which the AuditEvent
// follows: the trail keeps that, and renders the JSON when it is read
// (see "Records" in the package documentation).
type Event struct {
	recipe recipe
}

// JSON returns the event as an R4 AuditEvent without id, meta or chain
// extensions (what the Recorder adds).
func (e Event) JSON() ([]byte, error) {
	res, err := e.recipe.build()
	if err != nil {
		return nil, err
	}
	return res.appendJSON(make([]byte, 0, 2048)), nil
}

// The JSON shapes of an AuditEvent, members in R4 order. omitempty keeps
// empty values out: FHIR JSON refuses them. The tags say what
// auditEvent.appendJSON (encode.go) writes, and its test checks it
// against encoding/json.
type auditEvent struct {
	ResourceType   string      `json:"resourceType"`
	Type           coding      `json:"type"`
	Subtype        []coding    `json:"subtype,omitempty"`
	Action         string      `json:"action,omitempty"`
	Recorded       string      `json:"recorded"`
	Outcome        Outcome     `json:"outcome,omitempty"`
	OutcomeDesc    string      `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []concept   `json:"purposeOfEvent,omitempty"`
	Agent          []agentJSON `json:"agent"`
	Source         sourceJSON  `json:"source"`
	Entity         []entity    `json:"entity,omitempty"`

	// recordedAt is Recorded as a time, for the index (not serialised).
	recordedAt time.Time
	// parts is where the builders put what the event points to.
	parts *eventParts
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type network struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type agentJSON struct {
	Type         *concept   `json:"type,omitempty"`
	Who          *reference `json:"who,omitempty"`
	Name         string     `json:"name,omitempty"`
	Requestor    bool       `json:"requestor"`
	Network      *network   `json:"network,omitempty"`
	PurposeOfUse []concept  `json:"purposeOfUse,omitempty"`
}

type sourceJSON struct {
	Site     string    `json:"site,omitempty"`
	Observer reference `json:"observer"`
	Type     []coding  `json:"type,omitempty"`
}

type entity struct {
	What        *reference `json:"what,omitempty"`
	Type        *coding    `json:"type,omitempty"`
	Role        *coding    `json:"role,omitempty"`
	Description string     `json:"description,omitempty"`
	Query       string     `json:"query,omitempty"`
	Detail      []detail   `json:"detail,omitempty"`
}

type detail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

// The entity type and role codings carry no display: each display would be
// one more index row (":text") per entity, on the busiest write path.
var (
	typeREST         = coding{System: systemEventType, Code: "rest", Display: "Restful Operation"}
	typeUserAuth     = coding{System: systemDICOM, Code: "110114", Display: "User Authentication"}
	typeSecurity     = coding{System: systemDICOM, Code: "110113", Display: "Security Alert"}
	roleSource       = concept{Coding: []coding{{System: systemDICOM, Code: "110153", Display: "Source Role ID"}}}
	roleDestination  = concept{Coding: []coding{{System: systemDICOM, Code: "110152", Display: "Destination Role ID"}}}
	roleRecipient    = concept{Coding: []coding{{System: systemParticipation, Code: "IRCP", Display: "information recipient"}}}
	roleAuthor       = concept{Coding: []coding{{System: systemParticipation, Code: "AUT", Display: "author (originator)"}}}
	entityPerson     = coding{System: systemEntityType, Code: "1"}
	entitySystem     = coding{System: systemEntityType, Code: "2"}
	roleEntPatient   = coding{System: systemObjectRole, Code: "1"}
	roleEntResource  = coding{System: systemObjectRole, Code: "4"}
	roleEntQuery     = coding{System: systemObjectRole, Code: "24"}
	roleEntSecurity  = coding{System: systemObjectRole, Code: "13"}
	purposeEmergency = concept{Coding: []coding{{System: systemActReason, Code: "ETREAT", Display: "Emergency Treatment"}}}

	subtypeLogin         = coding{System: systemDICOM, Code: "110122", Display: "Login"}
	subtypeTokenIssued   = coding{System: SubtypeSystem, Code: "token-issued", Display: "Access token issued"}
	subtypeTokenRevoked  = coding{System: SubtypeSystem, Code: "token-revoked", Display: "Token revoked"}
	subtypeConsent       = coding{System: SubtypeSystem, Code: "consent-decision", Display: "Consent decision"}
	subtypeBreakTheGlass = coding{System: SubtypeSystem, Code: "break-the-glass", Display: "Break-the-glass access"}
	serverSource         = sourceJSON{
		Observer: reference{Display: "TeleHub"},
		Type:     []coding{{System: systemSourceType, Code: "4", Display: "Application Server"}},
	}
)

// restfulSubtype is the subtype of a RESTful interaction (read, vread,
// search-type, search-system, create, update, delete).
func restfulSubtype(code string) coding { return coding{System: systemRESTful, Code: code} }

// eventParts holds what an event's slices and pointers point to,
// allocated together: an event is built once per audited request.
type eventParts struct {
	subtype  [1]coding
	agents   [3]agentJSON
	userRole concept
	user     reference
	client   reference
	clientID identifier
	network  network
	entities [2]entity
	patient  reference
	target   reference
}

// newEvent starts an event recorded at now (UTC, to the millisecond).
func newEvent(now time.Time, typ coding, subtype coding, action string, outcome Outcome, who Agent, userRole concept) auditEvent {
	parts := &eventParts{subtype: [1]coding{subtype}, userRole: userRole}
	return auditEvent{
		ResourceType: "AuditEvent",
		Type:         typ,
		Subtype:      parts.subtype[:],
		Action:       action,
		Recorded:     now.Format("2006-01-02T15:04:05.000Z"),
		recordedAt:   now,
		Outcome:      outcome,
		Agent:        agents(parts, who),
		Source:       serverSource,
		parts:        parts,
	}
}

// agents lists the user (when known), the client application (the Source
// Role ID, BALP's pattern even when data flows to the client) and the
// server, in parts.
func agents(parts *eventParts, who Agent) []agentJSON {
	out := parts.agents[:0]
	hasUser := who.User != "" || who.UserName != ""
	if hasUser {
		a := agentJSON{Type: &parts.userRole, Name: who.UserName, Requestor: true}
		if who.User != "" {
			parts.user = reference{Reference: who.User}
			a.Who = &parts.user
		}
		out = append(out, a)
	}
	if who.Client != "" || who.Address != "" || !hasUser {
		a := agentJSON{Type: &roleSource, Requestor: !hasUser}
		if who.Client != "" {
			parts.clientID = identifier{System: ClientIDSystem, Value: who.Client}
			parts.client = reference{Identifier: &parts.clientID}
			a.Who = &parts.client
		}
		if who.Address != "" {
			parts.network = network{Address: who.Address, Type: networkType(who.Address)}
			a.Network = &parts.network
		}
		out = append(out, a)
	}
	return append(out, agentJSON{Type: &roleDestination, Who: &serverReference, Requestor: false})
}

// serverReference is the server as an agent.
var serverReference = reference{Display: "TeleHub"}

// networkType codes an address as an IP address ("2") or a machine name ("1").
func networkType(address string) string {
	if _, err := netip.ParseAddr(address); err == nil {
		return "2" // the common case, without a port: nothing to split
	}
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil {
		return "2"
	}
	return "1"
}

func patientEntity(patient *reference) entity {
	return entity{What: patient, Type: &entityPerson, Role: &roleEntPatient}
}

func withPatient(e *auditEvent, patient string) {
	if patient != "" {
		e.Entity = append(e.Entity, patientEntity(&reference{Reference: patient}))
	}
}

func restful(at time.Time, code, action string, who Agent, what Target, patient string, outcome Outcome, userRole concept) auditEvent {
	e := newEvent(at, typeREST, restfulSubtype(code), action, outcome, who, userRole)
	// One allocation for the entities and their references.
	parts := &struct {
		list              [2]entity
		patient, targeted reference
	}{}
	e.Entity = parts.list[:0]
	if patient != "" {
		parts.patient = reference{Reference: patient}
		e.Entity = append(e.Entity, patientEntity(&parts.patient))
	}
	if what.Type != "" {
		parts.targeted = reference{Reference: what.reference()}
		e.Entity = append(e.Entity, entity{What: &parts.targeted, Type: &entitySystem, Role: &roleEntResource})
	}
	return e
}

// Read audits a read (or a vread when what.Version is set) of what, about
// patient ("Patient/id", or "" when none).
func Read(who Agent, what Target, patient string, outcome Outcome) Event {
	return newRecipe(builtRead, who, what, patient, outcome, "", false)
}

// Create audits the creation of what.
func Create(who Agent, what Target, patient string, outcome Outcome) Event {
	return newRecipe(builtCreate, who, what, patient, outcome, "", false)
}

// Update audits an update (or patch) of what.
func Update(who Agent, what Target, patient string, outcome Outcome) Event {
	return newRecipe(builtUpdate, who, what, patient, outcome, "", false)
}

// Delete audits the deletion of what.
func Delete(who Agent, what Target, patient string, outcome Outcome) Event {
	return newRecipe(builtDelete, who, what, patient, outcome, "", false)
}

// Search audits a search of resourceType ("" for a whole-system search)
// with query (the query string as received, e.g. "code=1234&_count=10").
// BALP codes a query as action E (execute) with the query in base64.
func Search(who Agent, resourceType, query, patient string, outcome Outcome) Event {
	return newRecipe(builtSearch, who, Target{Type: resourceType}, patient, outcome, query, false)
}

func searchEvent(at time.Time, code string, who Agent, resourceType, query, patient string, outcome Outcome) auditEvent {
	e := newEvent(at, typeREST, restfulSubtype(code), "E", outcome, who, roleRecipient)
	withPatient(&e, patient)
	q := entity{Type: &entitySystem, Role: &roleEntQuery, Description: query}
	if resourceType != "" {
		q.Description = resourceType + "?" + query
	}
	if query != "" {
		q.Query = base64.StdEncoding.EncodeToString([]byte(query))
	}
	e.Entity = append(e.Entity, q)
	return e
}

// Login audits a login attempt; reason says why it failed (or how it
// succeeded, e.g. the authentication method) and may be empty.
func Login(success bool, who Agent, reason string) Event {
	outcome := Success
	if !success {
		outcome = MinorFailure
	}
	return newRecipe(builtLogin, who, Target{}, "", outcome, reason, false)
}

func login(at time.Time, outcome Outcome, who Agent, reason string) auditEvent {
	e := newEvent(at, typeUserAuth, subtypeLogin, "E", outcome, who, roleAuthor)
	e.OutcomeDesc = reason
	return e
}

// TokenIssued audits the issue of an access token to who.Client for
// who.User, with its scopes, in the context of patient (or "").
func TokenIssued(who Agent, scopes, patient string) Event {
	return newRecipe(builtTokenIssued, who, Target{}, patient, Success, scopes, false)
}

func tokenIssued(at time.Time, who Agent, scopes, patient string) auditEvent {
	e := newEvent(at, typeUserAuth, subtypeTokenIssued, "C", Success, who, roleRecipient)
	withPatient(&e, patient)
	if scopes != "" {
		e.Entity = append(e.Entity, entity{Type: &entitySystem, Role: &roleEntSecurity, Description: "access token",
			Detail: []detail{{Type: "scope", ValueString: scopes}}})
	}
	return e
}

// TokenRevoked audits the revocation of a token (tokenID: its jti or a
// fingerprint, never the token itself) by who.
func TokenRevoked(who Agent, tokenID string) Event {
	return newRecipe(builtTokenRevoked, who, Target{}, "", Success, tokenID, false)
}

func tokenRevoked(at time.Time, who Agent, tokenID string) auditEvent {
	e := newEvent(at, typeUserAuth, subtypeTokenRevoked, "D", Success, who, roleAuthor)
	t := entity{Type: &entitySystem, Role: &roleEntSecurity, Description: "token"}
	if tokenID != "" {
		t.Detail = []detail{{Type: "jti", ValueString: tokenID}}
	}
	e.Entity = append(e.Entity, t)
	return e
}

// ConsentDecision audits a consent decision about patient's data: consent
// is the Consent that decided ("Consent/id", or "" when none applied), what
// the data asked for, permit the decision.
func ConsentDecision(who Agent, patient, consent string, what Target, permit bool) Event {
	return newRecipe(builtConsentDecision, who, what, patient, Success, consent, permit)
}

func consentDecision(at time.Time, who Agent, patient, consent string, what Target, permit bool) auditEvent {
	decision := "deny"
	if permit {
		decision = "permit"
	}
	e := newEvent(at, typeSecurity, subtypeConsent, "E", Success, who, roleRecipient)
	e.OutcomeDesc = decision
	withPatient(&e, patient)
	if consent != "" {
		e.Entity = append(e.Entity, entity{What: &reference{Reference: consent}, Type: &entitySystem, Role: &roleEntSecurity,
			Detail: []detail{{Type: "decision", ValueString: decision}}})
	}
	if what.Type != "" {
		e.Entity = append(e.Entity, entity{What: &reference{Reference: what.reference()}, Type: &entitySystem, Role: &roleEntResource})
	}
	return e
}

// BreakTheGlass audits an emergency access to patient's data overriding
// consent, with the reason the user gave; the purpose of the event and of
// the requesting agent is ETREAT.
func BreakTheGlass(who Agent, patient, reason string) Event {
	return newRecipe(builtBreakTheGlass, who, Target{}, patient, Success, reason, false)
}

func breakTheGlass(at time.Time, who Agent, patient, reason string) auditEvent {
	e := newEvent(at, typeSecurity, subtypeBreakTheGlass, "E", Success, who, roleRecipient)
	e.PurposeOfEvent = []concept{purposeEmergency}
	for i := range e.Agent {
		if e.Agent[i].Requestor {
			e.Agent[i].PurposeOfUse = []concept{purposeEmergency}
		}
	}
	e.OutcomeDesc = reason
	withPatient(&e, patient)
	return e
}

// IsProtected reports whether resources of type typ are audit records, which
// the REST layer must never update, patch or delete.
func IsProtected(typ string) bool { return typ == "AuditEvent" }

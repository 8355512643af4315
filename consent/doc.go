// Package consent enforces patients' privacy consents: from the Consent
// resources in the store and the care relations of the caller, it tells the
// FHIR layer whose data a caller may not see (authz.ConsentPolicy), and it
// runs the break-the-glass path of emergency telemedicine.
//
// # Who is subject to consent
//
// Consent restricts users who are not the patient: health professionals
// (fhirUser a Practitioner or PractitionerRole) and other signed-in users
// (RelatedPerson, Person). It does not restrict:
//
//   - patients: a patient token is already limited by its scopes to the
//     patient's own compartment, and a patient's consent does not restrict
//     the patient;
//   - backend services (system scopes, no fhirUser): they are trusted
//     systems (a hospital information system, the DICOM bridge) acting under
//     their own agreements, and they are audited;
//   - the development principal of --insecure-no-auth.
//
// # The model: opt-out
//
// With no Consent, access is permitted (opt-out, as French law organises
// the sharing of health data between professionals): a patient closes their
// data with a Consent. The Consents that count are those with status
// active, scope patient-privacy
// (http://terminology.hl7.org/CodeSystem/consentscope) and a patient.
//
// A Consent's provision tree is evaluated for the caller. A provision
// applies when its period (if any) contains now, its actors (if any) name
// one of the caller's identities, and its purposes (if any) contain the
// purpose of use of the request. The caller's identities are its fhirUser
// and, for a Practitioner, its PractitionerRoles and their Organizations
// (for a PractitionerRole, its Practitioner and Organization). A request
// that states no purpose of use is taken as TREAT (treatment). The most
// specific provision that applies decides: a nested provision that applies
// overrides its parent; a provision without a type inherits its parent's;
// a root that does not apply means the Consent says nothing of the caller.
// Between several applicable siblings, and between several Consents of one
// patient, a decision that names the caller (an actor matched) outranks one
// that does not, and a deny outranks a permit of the same rank: so a permit
// naming the caller lifts a general deny, and a deny naming the caller
// stands against a general permit.
//
// The Restrictions contract speaks of whole patients. So a deny provision
// limited to some data or actions (class, code, data, dataPeriod,
// securityLabel, action) is enforced on the whole patient, and a permit so
// limited does not lift a deny: when in doubt, the data stay closed.
//
// A caller in a care relation with the patient keeps access despite a deny,
// as French law allows within the care team: a participant member of a
// CareTeam of the patient (not inactive or entered-in-error), a participant
// of an Encounter of the patient (not cancelled or entered-in-error), or the
// requester or performer of a ServiceRequest for the patient (not revoked or
// entered-in-error), by its Practitioner or PractitionerRole reference (an
// Organization is not a care relation).
//
// # Break-the-glass
//
// A health professional whose request states the purpose of use ETREAT
// (authz.PurposeEmergency) breaks the glass: the patients that would be
// denied are returned as Overridden instead. The first time a token breaks
// the glass for a patient, the policy records an audit.BreakTheGlass event
// and tells the patient by writing, through the FHIR API it is given
// (UseResources), a Communication (status completed,
// subject and recipient the patient, the professional as sender, a text
// saying who accessed their data under emergency and when). The
// once-per-token-and-patient marker is a store record when the store keeps
// records, so several nodes agree. Both are fail-closed: when either cannot
// be written, Restrictions fails and the request with it.
//
// A deny is recorded as an audit.ConsentDecision the first time the policy
// finds it for a token (once per token and patient, on this node): so a
// caller's first request after signing in records one event per patient
// whose Consent closes their data to it.
//
// # Cost and staleness
//
// Restrictions runs on every request of a restricted caller. The active
// patient-privacy Consents are kept in memory, reduced to their provision
// trees, and refreshed incrementally (the Consent history since the last
// refresh) when older than Options.TTL; evaluating them for a caller is
// then a walk in memory. The care relations are searched only when a
// Consent denies the caller some patient: the caller's own relations of
// each kind (up to 1,000), or beyond that the denied patients' relations,
// a hundred patients a search. The answer is
// cached per token and purpose for Options.TTL. Invalidate (the FHIR layer
// calls it after writing a Consent, CareTeam, Encounter, ServiceRequest or
// PractitionerRole) drops both at once on this node; a write through another
// node is seen here within TTL (5 seconds by default).
package consent

// Package security checks, from the outside, that the FHIR API enforces
// access tokens: a real server (the FHIR layer and the SMART authorization
// server on one loopback port, over HTTP, with the audit trail) is sent
// forged, expired, revoked and foreign tokens, and a patient's token trying
// to reach another patient's data by every path FHIR offers (read, search,
// chains, _include, _revinclude, history, compartments, Bundles,
// conditional writes). Each row asserts the refusal and that nothing of the
// other patient leaked: not in the body, not in a total, not in an include.
//
// It holds only tests. The authorization server's own attacks (PKCE,
// redirect_uri, replayed client assertions, brute-force logins, jku) are
// tested in package smart.
package security

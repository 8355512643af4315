// Package smart checks TeleHub's SMART App Launch authorization server from
// the outside, with clients no one on the project wrote: the fhirclient
// library (SMART Health IT's JavaScript client) running a standalone launch
// with PKCE in headless Chromium, a backend-services client signing its
// assertions with jose, and an Inferno-like list of checks (discovery,
// PKCE refusals, token response, refresh, introspection, revocation and the
// 401 that follows on the FHIR API).
//
// It holds only tests. They start a real TeleHub (the FHIR API with token
// enforcement and the authorization server, on SQLite) on a loopback port,
// and run the Node scripts beside this file with the npm packages of
// conformance/node. Without node or chromium they skip, unless
// TELEHUB_REQUIRE_E2E=1.
package smart

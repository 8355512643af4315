// Package conformance checks the whole FHIR server from the outside, the way
// a client sees it: a real server on a loopback port, over HTTP, on every
// storage backend (SQLite and MongoDB through FerretDB).
//
// It holds only tests: the R4 specification's examples stored and read back,
// a table of bad requests and the errors they must get, concurrent versioned
// updates, and a real third-party FHIR client (fhir-kit-client, in node/)
// driving the REST interactions. What these tests check is what "a core FHIR
// R4 REST server" means for TeleHub.
package conformance

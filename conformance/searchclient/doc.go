// Package searchclient checks TeleHub's search with a real third-party FHIR
// client. Its test starts a TeleHub FHIR server on an SQLite store, loads a
// deterministic synthetic population (package population) through the FHIR
// API (package load), and runs search.mjs, which drives the server with
// fhir-kit-client from npm: chains, reverse chains (_has), _include and
// _revinclude (with :iterate), _sort on one and several keys, paging
// through every next link, _count, _summary=count, _total, token, date,
// string, reference and quantity parameters with prefixes and modifiers,
// system search across types, compartment searches and Patient/$everything.
//
// The expected answers are computed in Go from the resources the generator
// produced, never by asking the server: the same id sets, the sort order
// across pages, no duplicate or gap between pages, the totals and the
// included resources of every page. While the client pages, a writer adds
// resources that sort before and after the page being read, to check that
// paging by cursor neither repeats nor skips what existed throughout.
//
// The package holds tests only; it needs Node.js and the packages installed
// in conformance/node, and skips without them unless TELEHUB_REQUIRE_E2E=1.
package searchclient

// Package model parses, validates and serialises FHIR R4 resources, and
// reduces stored resources for _summary and _elements.
//
// Parse wraps the google/fhir/go JSON codec (jsonformat, R4), which checks
// elements, primitive formats, codes of required bindings, mandatory
// elements and reference target types. The library is lenient in a few
// places where FHIR JSON is not (element names of the wrong case, duplicate
// members, empty or null values, which it would silently drop); a byte-level
// pre-check rejects those, and checks that a narrative is an XHTML div
// without active content. Every failure a client caused is an *Error with
// the element path.
//
// # Canonical JSON
//
// Marshal returns the client's own JSON, compacted, with resourceType, id
// and meta first; meta's versionId and lastUpdated are the ones SetMeta
// gave, the rest of the client's meta is kept. That is what the store
// keeps and reads serve byte for byte. It is lossless because Parse has
// already proved the body valid: the library accepts it, and the strict
// pre-check refuses what the library would silently drop or merge
// (duplicate members, empty and null values, misnamed elements), so the
// bytes say exactly what the parsed resource says. Decimals (1.50),
// instants with their offset and precision, and narratives stay as
// written. All 706 of the specification's 711 examples that validate come
// back equal as JSON, and the canonical form is a fixed point: parsing and
// marshalling it again gives the same bytes (TestSpecExamplesRoundTrip).
// The library's own serialisation was used before and measured: it cost
// 100 to 200 µs per resource (a fifth of a Patient write's server CPU) for
// nothing the client's bytes lack.
//
// Stamp gives the canonical JSON of a body the server built itself and
// vouches for, without parsing it; Members and Items walk canonical JSON
// (compact, valid) without decoding it, for code that changes a large
// stored resource a part at a time.
//
// # Concurrency
//
// The codec (one Unmarshaller) is built once and shared: it holds only
// configuration. A Resource is not safe for concurrent use.
//
// # Summary and elements
//
// Summary and Elements work on JSON bytes with encoding/json, never on the
// proto, so the read path does not parse. Which elements are summary or
// mandatory comes from a table generated from the R4 StructureDefinitions
// (go generate; see internal/gen) and embedded in the binary.
package model

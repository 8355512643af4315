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
// Marshal returns the library's serialisation of the parsed resource:
// compact, members sorted, narrative markup unescaped. That is what the
// store keeps and reads serve byte for byte. The alternative (keep the
// client's bytes and splice meta in) was considered and measured against:
// the library keeps decimals as written (1.50 stays 1.50), instants with
// their original offset and precision, and narratives untouched, so all 706
// of the specification's 711 examples that validate come back equal as JSON
// (TestSpecExamplesRoundTrip); the other five break R4 rules and are
// rejected. The library's output is therefore lossless for valid input and
// has one form per content, which the client's bytes would not.
//
// # Concurrency
//
// The codec (one Unmarshaller, one Marshaller) is built once and shared: it
// holds only configuration. A Resource is not safe for concurrent use;
// Marshal rewrites its references in place while serialising.
//
// # Summary and elements
//
// Summary and Elements work on JSON bytes with encoding/json, never on the
// proto, so the read path does not parse. Which elements are summary or
// mandatory comes from a table generated from the R4 StructureDefinitions
// (go generate; see internal/gen) and embedded in the binary.
package model

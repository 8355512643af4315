// Package population generates a deterministic synthetic population of
// FHIR R4 resources for loading and search benchmarks: organisations with
// FINESS numbers, practitioners with RPPS numbers and their roles, then
// patients with French identities (accented names, addresses in French
// cities, +33 phone numbers, a NIR-based INS with its identity status and a
// local IPP), each followed by their clinical record: conditions (SNOMED CT
// and ICD-10), appointments, encounters (teleconsultations, ambulatory
// visits...), observations with LOINC codes and UCUM quantities,
// medication requests (ATC), service requests and imaging studies.
//
// The same seed and options always give the same bytes. Every resource has
// a client-assigned id (pat-000123, obs-000123-04...), so loading with PUT
// is idempotent, and the stream's order keeps references valid when loaded
// in order: a resource only refers to resources emitted before it.
//
// Each patient's content comes from random streams seeded by (seed, patient
// number), independent of every other patient, so the shape of the whole
// population (and Total) is known without generating it.
package population

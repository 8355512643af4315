// Package dicomweb is TeleHub's DICOMweb origin server: STOW-RS to store
// instances, QIDO-RS to search them, WADO-RS and WADO-URI to retrieve them
// (whole objects, metadata, bulk data, frames, rendered images), all under
// /dicom-web, for the PACS and viewers of tele-radiology.
//
// Storage is split in two, so that neither backend holds what it is bad at:
//
//   - the DICOM files themselves go to a Blobs store: a folder of the data
//     directory (DirBlobs) or MongoDB GridFS (GridFSBlobs), streamed, never
//     held in memory whole. On a folder, the instances a STOW request
//     commits together are written end to end into one file, a pack, as
//     the parts come (a part that is refused is cut off its end), and
//     each instance record names its pack and its range in it; packs are
//     created ahead of use, their folder entries synced a few at a time,
//     so that storing a request's instances syncs one file. On GridFS each
//     instance is a blob of its own, under a key holding its digest;
//   - the attributes QIDO matches on go to a store.Store of their own (the
//     DICOM index), as "resources" of three types, DicomStudy, DicomSeries and
//     DicomInstance, whose bodies are their DICOM JSON attributes and whose
//     store.IndexEntry values are the matching keys. Both TeleHub backends
//     (SQLite, MongoDB) answer QIDO through store.Search that way, with the
//     machinery the FHIR API already relies on.
//
// A STOW request costs one index transaction, not one per instance: its
// blobs are written as the parts come and made durable together (the pack
// synced, or each GridFS upload completed), then their instance records
// and the series and study records they change (counts kept
// incrementally, compare-and-set; commits into one study take turns on a
// node) are committed at once, every 200 instances for very large
// requests. Nothing is answered 200 before both are durable, as far as
// the index store makes its commits durable (SQLite's synchronous=NORMAL:
// a process crash loses nothing, an operating system crash may lose the
// last commits, never leave a record naming bytes that were not synced).
// WADO-RS announces the length of its multipart body (the index holds
// every file's size), so that the files go to the socket with sendfile,
// from files kept open while consecutive instances share a pack; the file
// list of a retrieved study is kept, under the version of its study
// record, until the study changes.
//
// Every stored study is mirrored, before STOW answers, by a FHIR
// ImagingStudy written through the in-process FHIR API (fhir.Server), linked
// to its Patient (found by PatientID or INS, or created as a provisional
// identity), to the ServiceRequest of its accession number, and to an
// Endpoint that points back at this server; those links are looked up
// while the request's instances are committed. It is updated with
// If-Match, in rounds, one at a time per study on a node: a round merges
// the instances of every STOW into the study waiting for it (and waits for
// those already committing) into the series the resource lists, and the
// series are rebuilt from the index only when its instance count then
// disagrees with the index's (a concurrent STOW on another node not
// merged yet, or an earlier update that failed). The resource is stored
// spliced (store.Splice): its outline (the resource with an empty instance
// list in each series) names the pieces that hold each series' instances,
// written once to the index's store, so the FHIR server's store must read
// them there (store.WithPieces, which New checks). A round reads the
// outline as stored, writes a piece of the instances it adds (merged with
// the pieces their numbers fall among, if any), and the new outline; it has
// the FHIR layer validate the outline and index the added instances
// (fhir.UpdateGenerated with a Growth), the store keeping the previous
// version's entries (a store.PartialIndex write). What a round reads,
// holds and writes thus follows what it adds, not the study: never the
// other instances, nor a parsed model of the study, nor all its index
// entries (studydoc.go). The instances' words are not indexed for _content
// and _text: they are found by instance and dicom-class.
//
// Access follows the ImagingStudy scopes of the caller's token, its patient
// context and the patients' consent; every store, query and retrieval is
// audited, fail-closed.
//
// # Routes (under /dicom-web)
//
//	POST /studies[/{study}]                         STOW-RS
//	GET  /studies, /series, /instances,             QIDO-RS
//	     /studies/{study}/series, /studies/{study}/instances,
//	     /studies/{study}/series/{series}/instances
//	GET  /studies/{study}[/series/{series}[/instances/{instance}]]
//	                                                WADO-RS, the files as stored
//	GET  …/metadata                                 DICOM JSON, bulk data by URI
//	GET  …/instances/{instance}/frames/{list}       frames
//	GET  …/instances/{instance}/bulkdata/{tag}      a top-level binary value
//	GET  …/rendered, …/thumbnail                    JPEG or PNG (package render)
//	GET  /wado?requestType=WADO&…                   WADO-URI
//
// # Behaviour worth knowing
//
//   - STOW answers 200 when every part is stored, 202 when some failed or
//     were stored with a warning, 409 when none was; FailureReason 0xC000
//     for a part that is not DICOM, truncated or lacks a UID, 0xA900 for a
//     Study Instance UID other than the URL's, 0x0111 for other content
//     under a stored SOP Instance UID (unless Options.Overwrite), 0x0124
//     for a patient the caller may not store for, or a study that exists
//     when the token may create but not update ImagingStudy, 0xA700 when the blob
//     store fails, 0x0110 when the index does. The same file again is
//     accepted and changes nothing. WarningReason 0xB000 says the instance
//     is stored but its ImagingStudy could not be brought in step.
//   - Files are served in their stored transfer syntax: there is no
//     transcoding, so an Accept naming another one gets 406. Native frames
//     are application/octet-stream; encapsulated ones keep their codec's
//     media type (image/jpeg, image/jls, image/jp2…), except that JPEG
//     baseline frames are decoded to native pixels for a client that
//     accepts application/octet-stream only.
//   - QIDO matches person names without regard to case or accents; a study
//     or series search may use keys of the levels above it; keys of lower
//     levels are ignored with a Warning header, as PS3.18 allows. A page
//     stops at limit (at most 1000) with a Warning when more remain.
//   - A Patient created from DICOM data (no Patient matched the PatientID
//     or INS) is tagged as a provisional identity: meta.tag
//     SystemIdentityReliability#PROV. Its id is derived from its identifier,
//     so concurrent STOWs create it once.
//   - The ImagingStudy of a study has the Study Instance UID as its id
//     (unless one already carried its urn:dicom:uid identifier); TeleHub
//     manages its identifiers, status, subject, basedOn, endpoint, started,
//     modality, counts and series, and keeps the other elements. What
//     others add inside a series or an instance it lists (a laterality, a
//     title) is kept until that instance is stored again, or the series
//     are rebuilt from the index.
package dicomweb

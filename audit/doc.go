// Package audit records TeleHub's audit trail: one FHIR R4 AuditEvent, shaped
// after IHE BALP (Basic Audit Log Patterns), for every RESTful interaction,
// login, token issue and revocation, consent decision and break-the-glass
// access. A patient searches AuditEvent?patient=… like any other resource;
// where the events are kept depends on the deployment: in a trail store of
// their own beside the data directory's SQLite store (one node, see "The
// trail store"), or in a store several nodes may share (MongoDB, or an
// SQLite file named by the server's --store: see "Recording through a
// journal").
//
// # Builders
//
// Read, Search, Create, Update, Delete, Login, TokenIssued, TokenRevoked,
// ConsentDecision and BreakTheGlass turn small typed inputs (who: Agent;
// what: Target or a query; the patient; the Outcome) into an Event. The
// RESTful ones follow BALP: type "rest" (audit-event-type), subtype from
// restful-interaction, action C/R/U/D/E, the client as Source Role ID
// (DICOM 110153), the server as Destination Role ID (110152), the user as a
// requestor agent, the patient entity (audit-entity-type 1, object-role 1),
// the data entity (2, 4) or the query entity (2, 24, the query in base64).
// The security events use DICOM's User Authentication (110114, Login
// 110122) and Security Alert (110113); what BALP does not name (token
// issue/revocation, consent decision, break-the-glass) is coded in
// https://telehub.dev/fhir/CodeSystem/audit-event-subtype.
//
// An Event holds what its builder was given (its recipe: the builder, the
// agent, the target, the patient, the outcome, a text such as the query,
// the time): the builders are pure functions of it, so the recipe is the
// whole event. The trail stores it as such (see "Records"); for a store,
// the event's JSON is produced in canonical form (what model.Parse then
// Marshal would give), written by hand rather than through encoding/json,
// and its index entries directly from the typed event (what search.Extract
// would give), not by parsing and extracting at run time: both would cost
// more CPU than the read being audited. The tests hold them together:
// every builder's output validates through model.Parse and comes back byte
// for byte from Marshal, the hand-written encoder gives what encoding/json
// gives, and every entry of Extract's is either in the index or found by
// the search for it as LeanQuery rewrites it.
//
// # A lean index
//
// Each index entry costs a B-tree insert in a store (and a posting in the
// trail), which is most of the cost of recording an event there. So an
// AuditEvent is indexed only by the
// parameters in Searchable: date, patient, agent, entity, type, subtype,
// action, outcome and source (with _id and _lastUpdated, which every
// resource has). The others (address, agent-name, agent-role, alias,
// entity-name, entity-role, entity-type, policy, site) find nothing on
// AuditEvent; the REST layer should report them as unsupported.
//
// Within those, the entries a search can do without are left out, and the
// searches rewritten to match (LeanQuery; the REST layer searches through
// LeanSearch, so every search, chain, _has, include and compartment gets
// the rewriting):
//
//   - the bare forms of references and client ids: `patient=p1` also
//     looks for Patient/p1, `entity=o1` for every "Type/o1" of the
//     parameter's target types, `agent:identifier=app` for the client id
//     system's "system|app";
//   - type, subtype, action and outcome: the builders fix the first three
//     together (a read is type rest, subtype read, action R) and the
//     outcome is one of four codes, so one entry of KindParam names the
//     kind and the outcome, and a condition on any of the four (codes,
//     ":text", ":not", ":missing", value sets) becomes the list of kinds
//     whose entries would have matched it.
//
// A backend client's read of an Observation has seven entries (its kind,
// its client, the date, the patient, the two entities as "Type/id", and
// its sequence), where the extractor's entries for the same parameters
// were nineteen. The rewritten
// searches keep the original conditions among their alternatives, so
// AuditEvents indexed by the extractor (created through the API, or
// reindexed) are found as before. AuditEvents cannot be sorted by type,
// subtype, action or outcome (Sortable): the REST layer reports such a
// sort as unsupported.
//
// # Recording: fail-closed group commit
//
// A Recorder has one writer goroutine (but for a trail whose syncs are
// deferred, see below). Record hands it an event and blocks until the
// event is durably committed, returning the error otherwise, so the
// request being audited fails when its audit cannot be written. The
// writer takes every event waiting at that moment and writes them in one
// store.Commit (one transaction, one fsync for all); on a store without
// transactions it writes them one by one. Reads run at thousands per second
// and each needs an audit record: one transaction per event would cost more
// than the read itself.
//
// # The trail store
//
// Even with the lean index and large batches, putting an event in the
// SQLite store costs about forty microseconds of CPU, not much less than
// the read it audits, and each of its commits makes the clinical readers'
// connections drop their page caches. The embedded deployment (SQLite, one
// node) therefore keeps its AuditEvents in a Trail, storage of their own in
// the data directory, which the recorder appends to (Options.Trail) and
// which WithTrail puts beside the SQLite store.
//
// The trail is a sequence of events numbered from 0 in append order,
// grouped in blocks of TrailOptions.BlockSize (32 K) events. The open
// block is a log file of journal frames (CRC-checked: a chained event's
// record, see "Records"; an event created through the API, its stored JSON
// and its index entries, its id and lastUpdated among them) and, in
// memory, its postings: for each parameter and normalised value, the
// events holding it (appended in order, so sorted), and each range entry
// (date, number, quantity) with its event. Append copies the frames of a
// batch into the log, mapped in memory and allocated on disk ahead of them
// (on Linux; elsewhere it writes them: see blockLog), and syncs the log
// (or, with SyncInterval, at most that long after: the durability of the
// SQLite store's own commits), and the events are searchable as soon as
// it returns: Recorder.Sync has nothing to wait for. With deferred syncs there is nothing to group, so Record
// chains and appends its event itself under a lock, instead of handing it
// to the writer goroutine: that saves two goroutine switches per event.
// Either way the event's record is written straight into its frame in the
// batch's buffer.
//
// The open block's postings are made on demand, not as events are
// appended: the first search (or read by id) after appends, and the seal,
// make those of the events appended since, from their frames in the log,
// as a restart does (openBlock.catchUp). An append is on the path of
// every audited request, and in the served process a posting made there,
// between requests, cost three times what it costs in one pass over the
// log, where the block's maps stay in the processor's cache: `telehub
// bench --security` showed the audit's share of a read fall by about a
// third. A block's maps start at the sizes of the last block sealed, so
// that they do not grow as they fill. The pass copies no string it does
// not keep: the records' strings share the memory of its copy of the log,
// and the postings copy the values they see for the first time
// (recordIndexer). A search that comes after many
// appends makes their postings while appends wait for it, as they wait
// for any search of the trail: at most a block's, tens of milliseconds.
//
// # Records
//
// A chained event is stored in the trail as its record: its recipe, its
// sequence, lastUpdated and hash, a hundred-odd bytes where its JSON is
// about two kilobytes (recipe.go gives the layout; its first byte, never
// "{", tells it from JSON). Every byte an event costs is hashed, checked,
// copied into the operating system's cache and written to disk at the
// next sync; a read's audit was mostly that. A record is rendered when it
// is read (Read, search, history): the builder makes the event again from
// the recipe, in the envelope (id, meta, chain extensions) a store's
// chained event has, so the trail's AuditEvents read exactly as a store's.
// Its index entries are made from it when its postings are (and at
// replay): its frame keeps none. Its hash is SHA-256(previous event's hash || the record's
// bytes before the hash), the hash its rendered JSON states: the record is
// what was written, and any change to one of its bytes breaks its hash
// (TestRecordDamage). The renderer must therefore keep making the same
// JSON from a record of a given version: a change to a builder's output is
// a new record version. Events appended before records (and copied from
// the store) keep their JSON and its hash rule; Verify tells the two apart.
//
// A full block is sealed in the background while the next one fills: its
// log is synced and kept as the block's event file (its frames are never
// copied), and a block file indexing it is written beside it (a temporary
// file, synced, renamed): the frames' offsets, the lastUpdated column, the
// ids, the text keys "param\x00value" in order with their events as
// delta-varint lists, and the range entries per parameter. Sealed blocks
// are mapped in memory, read-only: the trail holds only their headers,
// and the operating system keeps in its cache what is read often. Until
// its file is in place, a full block is searched from memory as the open
// one is.
//
// At start the sealed blocks are mapped and the logs without a block file
// replayed, in the trail's order: a full one is sealed again (its seal was
// interrupted; blocks are sealed concurrently, so a later one may be
// sealed already), the last one is the open block. A frame torn by a crash (its write never
// acknowledged) can only end the last log, and is cut off; a frame whose
// CRC fails with frames after it was changed in place: it is kept, for
// Verify to report (reads do not check the CRC, the chain does). One
// process at a time may open a trail.
//
// A search runs on each block: a condition is the union of the postings
// of the values it matches (an exact value is one lookup; a prefix, a
// :contains or :missing scans the parameter's values; a range condition
// scans the parameter's range entries), :not the complement, a clause the
// union of its conditions, the query their intersection. The matches come
// in trail order (oldest first, the order of sequence numbers and of
// lastUpdated), which is the order without _sort and, after the sort keys,
// the order of ties: the SQLite store orders those by id instead, and
// "audit-10" sorts before "audit-9". Without _sort the scan stops once the
// page is full; a sorted search collects the matches with their sort
// values (as the SQLite store defines them) and sorts them. Paging by
// cursor is stable: the cursor holds the last match's sort values and
// position, and new events come after every existing one.
//
// WithTrail sends everything about AuditEvent to the trail (read, vread of
// version 1, search, type and instance history, creation through the API:
// AuditEvents are never updated or deleted) and everything else to the
// store, and resolves what crosses between them: a chain from AuditEvent
// (AuditEvent?patient.identifier=…) runs its search first and becomes the
// references it found; a chain to AuditEvent from another type, or a
// _has:AuditEvent, runs the AuditEvent part on the trail and becomes the
// references, or the ids, it found (up to 10,000, beyond which the search
// is refused as too costly); _include and _revinclude are separate searches
// of one type each, and compartments searches of AuditEvent or of several
// types. A search of AuditEvent with other types (_type, Patient/x/*,
// $everything, a system search) gives the store's matches, then the
// trail's, and pages by a cursor that says which part it is in; it cannot
// be sorted (refused as not supported). The system history merges both,
// newest first. _has on AuditEvent (another resource referencing an
// event) is refused. A commit holding AuditEvents and other resources is
// not atomic across the trail and the store.
//
// # Data from before the trail
//
// A data directory whose SQLite store holds AuditEvents from before the
// trail has them copied into it, oldest first, at the first start
// (WithTrail): indexed by the extractor, since their lean entries are not
// kept in the store, with their sequence entry, so that the chain goes on
// in the trail from the last sequence. A record (kind "audit.trail", key
// "migrated") marks the copy done; an interrupted copy resumes, skipping
// what the trail has. The store keeps its copies (its history is never
// rewritten) but they are no longer read: searches of AuditEvent go to the
// trail, and the system history skips them. A journal left by the
// recorder of before is indexed into the store first (the server does it
// before WithTrail).
//
// # Recording through a journal
//
// Several nodes may share a store (MongoDB, or one SQLite file) and its
// chain. With
// Options.JournalDir set, Record appends the event (its JSON and index
// entries, in a CRC-checked frame) to a node-local append-only journal,
// one write and one fsync for every event waiting at that moment, and
// returns once the event is synced: fail-closed as before, and more
// durable than a commit in SQLite's WAL mode, which syncs at checkpoints
// only. A background indexer reads the journal behind the writer and
// moves the events into the store in batches of up to MaxBatch, as the
// chain below (when idle, it lets events gather for 50 ms first, so that a
// quiet server does not pay a transaction per event); the cost of indexing
// is deferred off the request path and paid in large batches, not avoided.
//
// The journal is a folder of segment files (a new one per start and every
// SegmentSize bytes); an indexed segment is removed. The indexer keeps its
// position in a "position" file, written after each batch without fsync:
// after a crash or a power loss, the last batches may be indexed a second
// time (the trail then holds an event twice, never misses one). A frame
// torn by a crash (its write never acknowledged) ends its segment. Under a
// sustained load the trail is indexed more slowly than it is journaled:
// once PaceBacklog bytes wait, Record waits for the indexer before it
// appends, so writers are slowed to the pace of the indexer instead of
// failing. When the store stops taking events (the indexer has not moved
// for StallTimeout), or once MaxBacklog bytes wait, Record fails with
// ErrBacklog. Each node has its own
// journal folder; the chain is computed by the indexer when it appends to
// the store, so several nodes still share one chain.
//
// AuditEvents reach the store after Record returns: a search of AuditEvent
// (and $verify-audit) should call Recorder.Sync first, which returns once
// everything recorded before it is in the store.
//
// # The chain
//
// Every event the Recorder writes carries two extensions:
//
//   - https://telehub.dev/fhir/StructureDefinition/audit-sequence
//     (valueDecimal, an integer): its position in the chain, from 1;
//   - https://telehub.dev/fhir/StructureDefinition/audit-hash
//     (valueBase64Binary): SHA-256(previous event's hash || the event's
//     stored JSON without this extension), the previous hash of event 1
//     being 32 zero bytes; for an event the trail stores as a record, the
//     record's bytes take the JSON's place (see "Records").
//
// The hash extension is always the last member of the extension array, so
// "the JSON without it" is the stored bytes with exactly that member cut
// out; any change to any byte of an event, meta included, breaks its hash,
// and a change that re-hashes one event breaks the next one's.
//
// The event's id is derived from its sequence ("audit-<n>", see EventID) and
// every event is created at version 1. That makes the store's own
// compare-and-set the serialisation point between several TeleHub nodes
// sharing a store: two nodes that both try to append sequence n both create
// AuditEvent/audit-n, and the loser gets store.ErrConflict, re-reads the
// tail and retries with the next free sequence numbers. The chain head
// (sequence and hash of the last event) is kept as a store.Records record
// (kind "audit.chain", key "head"), advanced with compare-and-set after each
// batch. The head is not what serialises the writers (the event ids are), so
// it need not share the events' transaction; that is why a record was
// chosen over a resource committed in the same batch: it works the same on
// a backend without multi-write transactions (MongoDB standalone), and it is
// never visible through FHIR (a resource would show in system-wide history
// and search). A node that finds events beyond the head (another node
// crashed between its batch and its head update) rolls forward over them.
// The head anchors the end of the chain: deleting the last events is
// detected because the head still names them.
//
// Each chained event also has an index entry SequenceParam (a number) so
// that Verify can find chained events beyond a gap.
//
// With the trail, its single writer chains each event as it appends it
// (sequence, hash and meta.lastUpdated are in the logged record), and
// takes its tail from the trail's last chained event at start. The head
// record is written at most once a second and when the
// recorder closes, not after each append (that would be an SQLite commit
// per event): it lags by up to a second, or more after a crash, and Verify
// checks the events beyond it as it checks events beyond any lagging head,
// by the SequenceParam entries. A truncation of the trail is detected
// unless it removes only events of the last second.
//
// Verify walks the chain from 1, recomputes each hash (over a trail
// event's record, or over a JSON body without its hash extension), and
// reports the first break: a modified event (hash mismatch, or a version other than 1: chained
// events are written once), a missing sequence number (deleted), an event
// at the wrong position (reordered), or a head that does not match. It
// reads the events a page at a time by id (one search per 256 events), so
// its memory does not grow with the chain; through WithTrail it reads the
// trail's frames, records as they are stored.
//
// AuditEvents cannot be updated or deleted through the API: the REST layer
// asks IsProtected.
package audit

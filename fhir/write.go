package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/telehub/telehub/fhir/fhirpatch"
	"github.com/telehub/telehub/fhir/jsonpatch"
	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// commitAttempts bounds the read-modify-write retries of a write without
// If-Match that lost a race to a concurrent writer.
const commitAttempts = 4

// call is one write interaction as the client asked for it, from an HTTP
// request or a Bundle entry.
type call struct {
	method string // POST, PUT, PATCH or DELETE
	typ    string
	id     string // empty for create and conditional interactions
	// criteria select the target of a conditional update, patch or delete.
	criteria    url.Values
	conditional bool
	// body is the resource (POST, PUT) or the patch document (PATCH).
	body []byte
	// fhirPatch tells a FHIRPath Patch (a Parameters resource) from a JSON Patch.
	fhirPatch   bool
	ifMatch     string
	ifNoneExist string
	// generated is set for UpdateGenerated: body is its outline.
	generated *Generated
}

// change is a call resolved against the store (which resource, which
// version it replaces) and, once built, the writes that carry it out.
type change struct {
	call    *call
	id      string
	current *store.Resource // current version of the target; nil when never stored
	// found is the match of a conditional create: nothing is written.
	found *store.Resource
	// targets are the current versions a delete removes.
	targets []store.Resource
	writes  []store.Write
}

// result is what a committed change answers.
type result struct {
	status   int
	resource *store.Resource // the version written or found; nil when none
	message  string          // for OperationOutcome answers
}

// resolve finds the target of a write call and checks its preconditions.
func (s *Server) resolve(ctx context.Context, cl *call) (*change, error) {
	switch cl.method {
	case http.MethodPost:
		return s.resolveCreate(ctx, cl)
	case http.MethodPut:
		return s.resolveUpdate(ctx, cl)
	case http.MethodPatch:
		return s.resolvePatch(ctx, cl)
	case http.MethodDelete:
		return s.resolveDelete(ctx, cl)
	}
	return nil, newError(http.StatusMethodNotAllowed, codeNotSupported, "method %s is not a write", cl.method)
}

func (s *Server) resolveCreate(ctx context.Context, cl *call) (*change, error) {
	ch := &change{call: cl, id: newID()}
	if cl.ifNoneExist == "" {
		return ch, nil
	}
	criteria, err := parseCriteria(cl.ifNoneExist)
	if err != nil {
		return nil, err
	}
	matches, err := s.match(ctx, smart.Create, cl.typ, criteria, 1)
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 0:
		return ch, nil
	case 1:
		ch.id, ch.found = matches[0].ID, &matches[0]
		return ch, nil
	}
	return nil, newError(http.StatusPreconditionFailed, codeDuplicate, "If-None-Exist criteria match more than one %s", cl.typ)
}

// conditionalTarget is the one resource a conditional update or patch acts
// on: nil when the criteria match none, 412 when they match several.
func (s *Server) conditionalTarget(ctx context.Context, cl *call) (*store.Resource, error) {
	matches, err := s.match(ctx, callInteraction(cl.method), cl.typ, cl.criteria, 1)
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 0:
		return nil, nil
	case 1:
		return &matches[0], nil
	}
	return nil, newError(http.StatusPreconditionFailed, codeDuplicate, "the criteria match more than one %s", cl.typ)
}

func (s *Server) resolveUpdate(ctx context.Context, cl *call) (*change, error) {
	ch := &change{call: cl, id: cl.id}
	if cl.conditional {
		target, err := s.conditionalTarget(ctx, cl)
		if err != nil {
			return nil, err
		}
		if target == nil {
			// No match: create, with the client's id if the body has one.
			ch.id = bodyID(cl.body)
			if ch.id == "" {
				ch.id = newID()
				return ch, checkIfMatch(cl.ifMatch, nil)
			}
			if !validID(ch.id) {
				return nil, badRequest(codeValue, "invalid resource id %q", ch.id)
			}
			current, err := s.current(ctx, cl.typ, ch.id)
			if err != nil {
				return nil, err
			}
			if current != nil && !current.Deleted {
				// The spec's rule: the id exists but the criteria do not select it.
				return nil, newError(http.StatusConflict, codeConflict, "the criteria match nothing but %s/%s exists", cl.typ, ch.id)
			}
			ch.current = current
			return ch, checkIfMatch(cl.ifMatch, current)
		}
		ch.id, ch.current = target.ID, target
		return ch, checkIfMatch(cl.ifMatch, ch.current)
	}
	// An update needs the current version, not its body: read as stored,
	// a spliced body (store.Splice) is neither assembled nor needs its
	// pieces, so that an update can replace one whose piece is lost.
	current, err := s.stored(ctx, cl.typ, ch.id)
	if err != nil {
		return nil, err
	}
	ch.current = current
	return ch, checkIfMatch(cl.ifMatch, current)
}

func (s *Server) resolvePatch(ctx context.Context, cl *call) (*change, error) {
	ch := &change{call: cl, id: cl.id}
	if cl.conditional {
		target, err := s.conditionalTarget(ctx, cl)
		if err != nil {
			return nil, err
		}
		if target == nil {
			return nil, newError(http.StatusNotFound, codeNotFound, "the criteria match no %s", cl.typ)
		}
		ch.id, ch.current = target.ID, target
		return ch, checkIfMatch(cl.ifMatch, ch.current)
	}
	current, err := s.current(ctx, cl.typ, cl.id)
	if err != nil {
		return nil, err
	}
	if current == nil {
		return nil, newError(http.StatusNotFound, codeNotFound, "%s/%s is not known", cl.typ, cl.id)
	}
	if current.Deleted {
		return nil, newError(http.StatusGone, codeDeleted, "%s/%s is deleted", cl.typ, cl.id)
	}
	ch.current = current
	return ch, checkIfMatch(cl.ifMatch, current)
}

func (s *Server) resolveDelete(ctx context.Context, cl *call) (*change, error) {
	ch := &change{call: cl, id: cl.id}
	if cl.conditional {
		limit := s.opts.MaxConditionalDeletes
		matches, err := s.match(ctx, smart.Delete, cl.typ, cl.criteria, limit)
		if err != nil {
			return nil, err
		}
		if len(matches) > limit {
			return nil, newError(http.StatusPreconditionFailed, codeTooCostly, "the criteria match more than %d resources", limit)
		}
		if len(matches) == 1 {
			if err := checkIfMatch(cl.ifMatch, &matches[0]); err != nil {
				return nil, err
			}
		}
		ch.targets = matches
		return ch, nil
	}
	current, err := s.stored(ctx, cl.typ, cl.id) // as an update does
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(cl.ifMatch, current); err != nil {
		return nil, err
	}
	if current != nil && !current.Deleted {
		ch.current = current
		ch.targets = []store.Resource{*current}
	}
	return ch, nil
}

// current reads the current version of a resource; nil when never stored.
func (s *Server) current(ctx context.Context, typ, id string) (*store.Resource, error) {
	return currentWith(ctx, typ, id, s.store.Read)
}

// stored is current with a spliced body as stored, not assembled (see
// store.Splice).
func (s *Server) stored(ctx context.Context, typ, id string) (*store.Resource, error) {
	return currentWith(ctx, typ, id, s.readStored)
}

// readStored is the store's Read, but for a spliced body, which it gives as
// stored (store.PieceReader).
func (s *Server) readStored(ctx context.Context, typ, id string) (*store.Resource, error) {
	if s.pieces != nil {
		return s.pieces.ReadStored(ctx, typ, id)
	}
	return s.store.Read(ctx, typ, id)
}

func currentWith(ctx context.Context, typ, id string, read func(context.Context, string, string) (*store.Resource, error)) (*store.Resource, error) {
	res, err := read(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fhir: read %s/%s: %w", typ, id, err)
	}
	return res, nil
}

// match finds the current resources that conditional criteria select, at
// most limit+1 so that callers can tell "more than limit". Every criterion
// must be understood: ignoring one would widen the match. The search sees
// only what the request's token may touch with interaction i, so that a
// conditional write cannot reveal resources outside it.
func (s *Server) match(ctx context.Context, i smart.Interaction, typ string, criteria url.Values, limit int) ([]store.Resource, error) {
	criteria, custom := s.splitCustom(typ, criteria)
	plan := s.registry.Parse(typ, criteria)
	s.applyCustom(typ, custom, plan)
	if len(plan.Ignored) > 0 {
		ig := plan.Ignored[0]
		return nil, badRequest(codeNotSupported, "search parameter %q cannot be used as a condition: %s", ig.Param, ig.Message)
	}
	if len(plan.Query.Clauses) == 0 {
		return nil, badRequest(codeRequired, "conditional interaction without search criteria")
	}
	q := plan.Query
	q.Count, q.Offset, q.Total = limit+1, 0, false
	if err := s.restrict(ctx, i, &q, criteria, true); err != nil {
		return nil, err
	}
	res, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("fhir: conditional search %s: %w", typ, err)
	}
	return res.Resources, nil
}

// parseCriteria reads the search part of If-None-Exist or of a conditional
// URL ("identifier=x", "?identifier=x" or "Patient?identifier=x").
func parseCriteria(s string) (url.Values, error) {
	if _, after, ok := strings.Cut(s, "?"); ok {
		s = after
	}
	v, err := url.ParseQuery(s)
	if err != nil {
		return nil, badRequest(codeInvalid, "malformed search criteria %q", s)
	}
	return v, nil
}

// checkIfMatch enforces If-Match against the current version (412 when it
// differs or nothing is stored).
func checkIfMatch(ifMatch string, current *store.Resource) error {
	if ifMatch == "" {
		return nil
	}
	want, ok := parseETag(ifMatch)
	if !ok {
		return badRequest(codeValue, "malformed If-Match %q: expected W/\"version\"", ifMatch)
	}
	if current == nil || current.VersionID != want {
		return newError(http.StatusPreconditionFailed, codeConflict, "If-Match %s does not match the current version", ifMatch)
	}
	return nil
}

// parseETag reads W/"3", "3" or 3.
// parseETag reads an entity tag naming a version: W/"n" or "n" (RFC 9110
// §8.8.3; the quotes are part of the syntax, so W/2 is refused).
func parseETag(tag string) (int64, bool) {
	tag = strings.TrimSpace(tag)
	tag = strings.TrimPrefix(tag, "W/")
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64)
	return v, err == nil && v > 0
}

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// bodyID returns the id of a resource body without parsing it as FHIR.
func bodyID(body []byte) string {
	var doc struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &doc)
	return doc.ID
}

// build turns a resolved change into store writes stamped at now: the one
// parse, Marshal and index extraction of the write path.
func (s *Server) build(ctx context.Context, ch *change, now time.Time) error {
	cl := ch.call
	switch cl.method {
	case http.MethodPost:
		if ch.found != nil {
			return nil
		}
		return s.buildResource(ch, cl.body, now, http.StatusBadRequest)
	case http.MethodPut:
		if cl.generated != nil {
			return s.buildGenerated(ctx, ch, now)
		}
		return s.buildResource(ch, cl.body, now, http.StatusBadRequest)
	case http.MethodPatch:
		patched, err := applyPatch(ch.current.Body, cl.body, cl.fhirPatch)
		if err != nil {
			return fmt.Errorf("fhir: patch %s/%s: %w", cl.typ, ch.id, err)
		}
		return s.buildResource(ch, patched, now, http.StatusUnprocessableEntity)
	case http.MethodDelete:
		for _, t := range ch.targets {
			ch.writes = append(ch.writes, store.Write{
				Type: t.Type, ID: t.ID, Version: t.VersionID + 1,
				LastUpdated: now, Deleted: true, Method: http.MethodDelete,
			})
		}
		return nil
	}
	return newError(http.StatusMethodNotAllowed, codeNotSupported, "method %s is not a write", cl.method)
}

// applyPatch applies a JSON Patch or a FHIRPath Patch to a stored body. A
// patch that does not apply is the client's: 422.
func applyPatch(body, patch []byte, fhirPatch bool) ([]byte, error) {
	if fhirPatch {
		patched, err := fhirpatch.Apply(body, patch)
		var pe *fhirpatch.Error
		if errors.As(err, &pe) {
			if pe.Operation < 0 {
				// The Parameters document itself is unusable: a bad request.
				return nil, badRequest(codeInvalid, "FHIRPath Patch: %s", pe.Message)
			}
			return nil, newError(http.StatusUnprocessableEntity, codeProcessing, "FHIRPath Patch operation %d: %s", pe.Operation, pe.Message)
		}
		return patched, err
	}
	patched, err := jsonpatch.Apply(body, patch)
	var pe *jsonpatch.Error
	if errors.As(err, &pe) {
		if pe.Malformed {
			// RFC 5789 §2.2: a malformed patch document is a bad request; 422
			// is for a well-formed patch that cannot be applied.
			return nil, badRequest(codeInvalid, "JSON Patch: %s", pe.Error())
		}
		return nil, newError(http.StatusUnprocessableEntity, codeProcessing, "JSON Patch: %s", pe.Error())
	}
	return patched, err
}

// buildResource validates a resource body and makes its write. invalidStatus
// is the status of a body that does not validate (400, or 422 after a patch).
func (s *Server) buildResource(ch *change, body []byte, now time.Time, invalidStatus int) error {
	cl := ch.call
	r, err := model.Parse(body)
	if err != nil {
		return parseError(err, invalidStatus)
	}
	if r.Type() != cl.typ {
		return newError(invalidStatus, codeInvalid, "the resource is a %s, the URL names %s", r.Type(), cl.typ)
	}
	switch cl.method {
	case http.MethodPost:
		// The server assigns the id of a created resource; a client's is ignored.
		r.SetID(ch.id)
	case http.MethodPut:
		if id := r.ID(); id == "" && !cl.conditional {
			return badRequest(codeRequired, "the resource has no id (Resource.id is required on update)")
		} else if id != "" && id != ch.id {
			return badRequest(codeInvalid, "the resource id %q does not match the URL's %q", id, ch.id)
		}
		r.SetID(ch.id)
	case http.MethodPatch:
		if r.ID() != ch.id {
			return newError(http.StatusUnprocessableEntity, codeInvalid, "the patch changes the resource id")
		}
	}
	version := int64(1)
	if ch.current != nil {
		version = ch.current.VersionID + 1
	}
	r.SetMeta(version, now)
	out, err := r.Marshal()
	if err != nil {
		return fmt.Errorf("fhir: build %s/%s: %w", cl.typ, ch.id, err)
	}
	index, err := s.indexEntries(cl.typ, out)
	if err != nil {
		return fmt.Errorf("fhir: build %s/%s: %w", cl.typ, ch.id, err)
	}
	ch.writes = []store.Write{{
		Type: cl.typ, ID: ch.id, Version: version, LastUpdated: now,
		Method: cl.method, Body: out, Index: index,
	}}
	return nil
}

// parseError answers a model.Parse failure with the element path as the
// issue's expression.
func parseError(err error, status int) error {
	var me *model.Error
	if !errors.As(err, &me) {
		return fmt.Errorf("fhir: parse: %w", err)
	}
	code := codeInvalid
	if me.Syntax {
		code = codeStructure
	}
	ae := newError(status, code, "%s", me.Message)
	if me.Path != "" {
		ae.expression = []string{me.Path}
		ae.message = me.Path + ": " + me.Message
	}
	for _, extra := range me.Issues[min(1, len(me.Issues)):] {
		is := issue{Severity: "error", Code: code, Diagnostics: extra.Message}
		if extra.Path != "" {
			is.Expression = []string{extra.Path}
			is.Diagnostics = extra.Path + ": " + extra.Message
		}
		ae.more = append(ae.more, is)
	}
	return ae
}

// commit stores the writes of one interaction: atomically when the store
// can, one by one otherwise (a multiple conditional delete on a store
// without transactions).
func (s *Server) commit(ctx context.Context, writes []store.Write) error {
	if len(writes) == 0 {
		return nil
	}
	if len(writes) == 1 || s.store.SupportsTransactions() {
		if err := s.store.Commit(ctx, writes); err != nil {
			return err
		}
		s.noteWrites(writes)
		return nil
	}
	for _, w := range writes {
		if err := s.store.Commit(ctx, []store.Write{w}); err != nil {
			return err
		}
		s.noteWrites([]store.Write{w})
	}
	return nil
}

// apply runs one write call: resolve, build, commit, retrying a
// read-modify-write that lost a race unless the client pinned a version.
func (s *Server) apply(ctx context.Context, cl *call) (*change, error) {
	if err := protectedWrite(cl); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		ch, err := s.resolve(ctx, cl)
		if err != nil {
			return nil, err
		}
		if err := protectedChange(ch); err != nil {
			return nil, err
		}
		if err := s.build(ctx, ch, now()); err != nil {
			return nil, err
		}
		if err := s.authorizeChange(ctx, ch); err != nil {
			return nil, err
		}
		err = s.commit(ctx, ch.writes)
		if err == nil {
			return ch, nil
		}
		if errors.Is(err, store.ErrIndexNotKept) && cl.generated != nil && cl.generated.Growth != nil {
			cl.generated.Growth = nil // index it whole
			continue
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("fhir: %s %s/%s: %w", cl.method, cl.typ, ch.id, err)
		}
		if cl.ifMatch != "" {
			return nil, newError(http.StatusPreconditionFailed, codeConflict, "If-Match %s: the resource was changed concurrently", cl.ifMatch)
		}
		if attempt == commitAttempts {
			return nil, newError(http.StatusConflict, codeConflict, "%s/%s was changed concurrently; retry", cl.typ, ch.id)
		}
	}
}

// now is the timestamp of a write: UTC, millisecond precision, as stored.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// result says what a committed change answers.
func (ch *change) result() result {
	cl := ch.call
	switch cl.method {
	case http.MethodPost:
		if ch.found != nil {
			return result{status: http.StatusOK, resource: ch.found, message: "a matching resource exists; nothing created"}
		}
		return result{status: http.StatusCreated, resource: written(ch.writes[0]), message: "created"}
	case http.MethodPut:
		status := http.StatusOK
		if ch.current == nil || ch.current.Deleted {
			status = http.StatusCreated
		}
		return result{status: status, resource: written(ch.writes[0]), message: "updated"}
	case http.MethodPatch:
		return result{status: http.StatusOK, resource: written(ch.writes[0]), message: "patched"}
	}
	if len(ch.writes) == 0 {
		return result{status: http.StatusOK, message: "nothing to delete"}
	}
	last := ch.writes[len(ch.writes)-1]
	return result{status: http.StatusOK, resource: written(last), message: fmt.Sprintf("deleted %d resource(s)", len(ch.writes))}
}

// written is the stored version a write becomes.
func written(w store.Write) *store.Resource {
	return &store.Resource{
		Type: w.Type, ID: w.ID, VersionID: w.Version, LastUpdated: w.LastUpdated,
		Deleted: w.Deleted, Method: w.Method, Body: w.Body,
	}
}

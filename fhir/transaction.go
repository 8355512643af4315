package fhir

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// bundleIn is the part of a batch or transaction Bundle the server reads.
// Entry resources are kept as bytes: each is validated on its own by
// model.Parse when its write is built.
type bundleIn struct {
	ResourceType string    `json:"resourceType"`
	Type         string    `json:"type"`
	Entry        []entryIn `json:"entry"`
}

type entryIn struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *requestIn      `json:"request"`
}

type requestIn struct {
	Method          string `json:"method"`
	URL             string `json:"url"`
	IfNoneMatch     string `json:"ifNoneMatch"`
	IfModifiedSince string `json:"ifModifiedSince"`
	IfMatch         string `json:"ifMatch"`
	IfNoneExist     string `json:"ifNoneExist"`
}

// step is one Bundle entry on its way through a batch or transaction.
type step struct {
	where   string // "Bundle.entry[3]", for messages
	fullURL string
	req     requestIn
	// For reads: the target and parameters of the GET.
	typ, id, vid string
	params       url.Values
	// For writes: the call, and the resource as the client sent it (before
	// references are rewritten).
	cl       *call
	resource []byte
	ch       *change
	out      entryOut
}

func (st *step) isWrite() bool { return st.cl != nil }

// processing order the specification fixes for transactions.
var methodRank = map[string]int{
	http.MethodDelete: 0, http.MethodPost: 1, http.MethodPut: 2, http.MethodPatch: 2,
	http.MethodGet: 3, http.MethodHead: 3,
}

// bundle answers POST /fhir: a batch or a transaction Bundle.
func (s *Server) bundle(c echo.Context) error {
	body, err := s.resourceBody(c)
	if err != nil {
		return err
	}
	var b bundleIn
	if err := json.Unmarshal(body, &b); err != nil {
		return parseError(&model.Error{Message: "malformed JSON: " + jsonMessage(err), Syntax: true}, http.StatusBadRequest)
	}
	if b.ResourceType != "Bundle" {
		return badRequest(codeInvalid, "POST to the base URL takes a batch or transaction Bundle, not a %q", b.ResourceType)
	}
	pref := parsePrefer(c.Request().Header)
	var out []byte
	switch b.Type {
	case "transaction":
		c.Set(InteractionKey, "transaction")
		out, err = s.transaction(c, b.Entry, pref)
	case "batch":
		out, err = s.batch(c, b.Entry, pref)
	default:
		return badRequest(codeInvalid, "Bundle.type must be batch or transaction, not %q", b.Type)
	}
	if err != nil {
		return err
	}
	return send(c, http.StatusOK, out)
}

// jsonMessage describes a JSON decoding error without Go type names.
func jsonMessage(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("unexpected %s at %q", te.Value, te.Field)
	}
	return "cannot decode the Bundle"
}

// newStep reads one entry's request into a step.
func (s *Server) newStep(i int, e entryIn) (*step, error) {
	st := &step{where: fmt.Sprintf("Bundle.entry[%d]", i), fullURL: e.FullURL}
	if e.Request == nil || e.Request.Method == "" || e.Request.URL == "" {
		return st, badRequest(codeRequired, "%s: request.method and request.url are required", st.where)
	}
	st.req = *e.Request
	path, query, hasQuery, err := s.splitEntryURL(st.req.URL)
	if err != nil {
		return st, within(st.where, err)
	}
	if len(path) > 0 && !model.IsResourceType(path[0]) {
		return st, badRequest(codeNotSupported, "%s: unknown resource type %q in request.url", st.where, path[0])
	}
	if len(path) > 1 && !validID(path[1]) {
		return st, badRequest(codeValue, "%s: invalid resource id %q in request.url (or an interaction Bundles do not carry)", st.where, path[1])
	}
	method := strings.ToUpper(st.req.Method)
	if method == http.MethodGet || method == http.MethodHead {
		return st, st.readTarget(path, query)
	}
	cl := &call{method: method, ifMatch: st.req.IfMatch, ifNoneExist: st.req.IfNoneExist}
	switch {
	case method == http.MethodPost && len(path) == 1:
		cl.typ = path[0]
	case (method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete) && len(path) == 2:
		cl.typ, cl.id = path[0], path[1]
	case (method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete) && len(path) == 1 && hasQuery:
		cl.typ, cl.criteria, cl.conditional = path[0], query, true
	default:
		return st, badRequest(codeNotSupported, "%s: %s %s is not a supported interaction", st.where, st.req.Method, st.req.URL)
	}
	switch method {
	case http.MethodPost, http.MethodPut:
		if len(e.Resource) == 0 {
			return st, badRequest(codeRequired, "%s: %s needs a resource", st.where, method)
		}
		st.resource = e.Resource
	case http.MethodPatch:
		patch, fhirPatch, err := entryPatch(e.Resource)
		if err != nil {
			return st, within(st.where, err)
		}
		cl.body, cl.fhirPatch = patch, fhirPatch
	}
	st.cl = cl
	return st, nil
}

// readTarget records what a GET entry reads: a resource, a version or a search.
func (st *step) readTarget(path []string, query url.Values) error {
	st.params = query
	switch {
	case len(path) == 0, len(path) == 1:
		if len(path) == 1 {
			st.typ = path[0]
		}
	case len(path) == 2:
		st.typ, st.id = path[0], path[1]
	case len(path) == 4 && path[2] == "_history":
		st.typ, st.id, st.vid = path[0], path[1], path[3]
	default:
		return badRequest(codeNotSupported, "%s: GET %s is not supported in a Bundle", st.where, st.req.URL)
	}
	return nil
}

// splitEntryURL splits a request.url (relative, or absolute under BaseURL)
// into path segments and query.
func (s *Server) splitEntryURL(raw string) (path []string, query url.Values, hasQuery bool, err error) {
	p, q, hasQuery := strings.Cut(raw, "?")
	p = strings.TrimPrefix(p, s.opts.BaseURL)
	if strings.Contains(p, "://") {
		return nil, nil, false, badRequest(codeNotSupported, "request.url %q is not on this server", raw)
	}
	p = strings.TrimPrefix(p, "/")
	if hasQuery {
		if query, err = url.ParseQuery(q); err != nil {
			return nil, nil, false, badRequest(codeInvalid, "malformed query in request.url %q", raw)
		}
	}
	if p != "" {
		path = strings.Split(p, "/")
	}
	return path, query, hasQuery, nil
}

// entryPatch reads the patch a Bundle entry carries: a Parameters resource
// (FHIRPath Patch) or a Binary holding a JSON Patch.
func entryPatch(resource []byte) (patch []byte, fhirPatch bool, err error) {
	var doc struct {
		ResourceType string `json:"resourceType"`
		ContentType  string `json:"contentType"`
		Data         string `json:"data"`
	}
	if err := json.Unmarshal(resource, &doc); err != nil {
		return nil, false, badRequest(codeStructure, "PATCH entries carry a Parameters (FHIRPath Patch) or a Binary (JSON Patch)")
	}
	switch doc.ResourceType {
	case "Parameters":
		return resource, true, nil
	case "Binary":
	default:
		return nil, false, badRequest(codeNotSupported, "PATCH entries carry a Parameters (FHIRPath Patch) or a Binary (JSON Patch), not %q", doc.ResourceType)
	}
	if doc.ContentType != mediaJSONPatch {
		return nil, false, newError(http.StatusUnsupportedMediaType, codeNotSupported, "patch content type %q is not supported", doc.ContentType)
	}
	patch, err = base64.StdEncoding.DecodeString(doc.Data)
	if err != nil {
		return nil, false, badRequest(codeValue, "Binary.data is not base64")
	}
	return patch, false, nil
}

// transaction runs every entry or none: all writes go to the store in one
// Commit. A store without multi-resource transactions refuses the
// interaction (400, not-supported) before anything is done.
func (s *Server) transaction(c echo.Context, entries []entryIn, pref prefer) ([]byte, error) {
	if !s.store.SupportsTransactions() {
		return nil, badRequest(codeNotSupported, "this server's store cannot commit several resources atomically: transaction Bundles are not supported (use a batch)")
	}
	steps := make([]*step, len(entries))
	for i, e := range entries {
		st, err := s.newStep(i, e)
		if err != nil {
			return nil, err
		}
		steps[i] = st
	}
	// A read the token may not do fails the transaction before any write.
	a := accessOf(c.Request().Context())
	for _, st := range steps {
		if st.isWrite() || a == nil {
			continue
		}
		i, types := smart.Read, []string{st.typ}
		if st.id == "" {
			i = smart.Search
		}
		if st.typ == "" {
			types = nil // a system search: restricted to what the token reaches
		}
		for _, t := range types {
			if _, err := a.decide(i, t, st.params); err != nil {
				return nil, within(st.where, err)
			}
		}
	}
	ordered := append([]*step(nil), steps...)
	sort.SliceStable(ordered, func(i, j int) bool {
		return methodRank[strings.ToUpper(ordered[i].req.Method)] < methodRank[strings.ToUpper(ordered[j].req.Method)]
	})
	ctx := c.Request().Context()
	if err := s.commitTransaction(ctx, ordered); err != nil {
		return nil, err
	}
	for _, st := range ordered {
		if st.isWrite() {
			st.out = s.writeEntry(st.ch.result(), pref)
		} else {
			st.out = s.readEntry(c, st)
		}
	}
	noteSteps(c, steps)
	return s.responseBundle("transaction-response", steps)
}

// commitTransaction resolves, builds and commits the writes of a
// transaction, retrying when a concurrent writer won a race and no entry
// pinned a version with ifMatch.
func (s *Server) commitTransaction(ctx context.Context, ordered []*step) error {
	pinned := false
	for _, st := range ordered {
		if st.isWrite() && st.cl.ifMatch != "" {
			pinned = true
		}
	}
	for attempt := 1; ; attempt++ {
		writes, err := s.prepareTransaction(ctx, ordered)
		if err != nil {
			return err
		}
		err = s.store.Commit(ctx, writes)
		switch {
		case err == nil:
			s.noteWrites(writes)
			return nil
		case errors.Is(err, store.ErrTransactionsUnsupported):
			return badRequest(codeNotSupported, "this server's store cannot commit several resources atomically: transaction Bundles are not supported")
		case !errors.Is(err, store.ErrConflict):
			return fmt.Errorf("fhir: transaction commit: %w", err)
		case pinned || attempt == commitAttempts:
			return newError(http.StatusConflict, codeConflict, "a resource of the transaction was changed concurrently; nothing was stored")
		}
	}
}

// prepareTransaction resolves every write entry, assigns identities,
// rewrites references between entries and builds the writes.
func (s *Server) prepareTransaction(ctx context.Context, ordered []*step) ([]store.Write, error) {
	identities := map[string]string{} // fullUrl → Type/id
	seen := map[string]string{}       // Type/id → entry that writes it
	for _, st := range ordered {
		if !st.isWrite() {
			continue
		}
		cl := *st.cl
		if st.resource != nil {
			cl.body = st.resource
		}
		ch, err := s.resolve(ctx, &cl)
		if err == nil {
			err = protectedChange(ch)
		}
		if err != nil {
			return nil, within(st.where, err)
		}
		st.ch = ch
		if st.fullURL != "" && (cl.method == http.MethodPost || cl.method == http.MethodPut) {
			identities[st.fullURL] = cl.typ + "/" + ch.id
		}
		for _, key := range ch.keys() {
			if other, dup := seen[key]; dup {
				return nil, badRequest(codeDuplicate, "%s and %s both change %s", other, st.where, key)
			}
			seen[key] = st.where
		}
	}
	refs := &referenceResolver{s: s, ctx: ctx, identities: identities, cache: map[string]string{}}
	var builds []*step
	for _, st := range ordered {
		if !st.isWrite() {
			continue
		}
		if st.resource != nil {
			body, err := rewriteReferences(st.resource, refs.resolve)
			if err != nil {
				return nil, within(st.where, err)
			}
			st.ch.call.body = body
		}
		builds = append(builds, st)
	}
	if err := s.buildAll(ctx, builds, now()); err != nil {
		return nil, err
	}
	// One forbidden entry fails the whole transaction.
	for _, st := range builds {
		if err := s.authorizeChange(ctx, st.ch); err != nil {
			return nil, within(st.where, err)
		}
	}
	var writes []store.Write
	for _, st := range builds {
		writes = append(writes, st.ch.writes...)
	}
	return writes, nil
}

// buildAll builds the changes of a transaction on every core: parsing,
// marshalling and index extraction are most of a transaction's CPU time and
// each change is independent. The first failure in processing order wins.
func (s *Server) buildAll(ctx context.Context, steps []*step, stamp time.Time) error {
	errs := make([]error, len(steps))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	workers := min(runtime.GOMAXPROCS(0), len(steps))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(steps) {
					return
				}
				errs[i] = s.build(ctx, steps[i].ch, stamp)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return within(steps[i].where, err)
		}
	}
	return nil
}

// keys names the resources a change writes, for duplicate detection.
func (ch *change) keys() []string {
	if ch.call.method == http.MethodDelete {
		keys := make([]string, 0, len(ch.targets))
		for _, t := range ch.targets {
			keys = append(keys, t.Type+"/"+t.ID)
		}
		return keys
	}
	if ch.found != nil {
		return nil
	}
	return []string{ch.call.typ + "/" + ch.id}
}

// batch runs every entry on its own, in Bundle order: a failed entry
// answers its OperationOutcome and the others go through.
func (s *Server) batch(c echo.Context, entries []entryIn, pref prefer) ([]byte, error) {
	steps := make([]*step, len(entries))
	for i, e := range entries {
		st, err := s.newStep(i, e)
		steps[i] = st
		if err != nil {
			st.out = s.errorEntry(c, err)
			continue
		}
		if !st.isWrite() {
			st.out = s.readEntry(c, st)
			continue
		}
		if st.resource != nil {
			st.cl.body = st.resource
		}
		ch, err := s.apply(c.Request().Context(), st.cl)
		if err != nil {
			st.out = s.errorEntry(c, within(st.where, err))
			continue
		}
		st.out = s.writeEntry(ch.result(), pref)
	}
	noteSteps(c, steps)
	return s.responseBundle("batch-response", steps)
}

func (s *Server) responseBundle(typ string, steps []*step) ([]byte, error) {
	b := newBundle(typ)
	b.Entry = make([]entryOut, len(steps))
	for i, st := range steps {
		b.Entry[i] = st.out
	}
	return b.marshal()
}

// writeEntry is the response entry of a committed write.
func (s *Server) writeEntry(res result, pref prefer) entryOut {
	e := entryOut{Response: &responseOut{Status: statusText(res.status)}}
	r := res.resource
	if r != nil {
		e.Response.Etag = etag(r.VersionID)
		e.Response.LastModified = instant(r.LastUpdated)
	}
	if r != nil && !r.Deleted {
		e.FullURL = s.resourceURL(r.Type, r.ID)
		e.Response.Location = r.Type + "/" + r.ID + "/_history/" + itoa(r.VersionID)
		if pref.ret != "minimal" && pref.ret != "OperationOutcome" {
			e.Resource = r.Body
		}
	}
	if r == nil || r.Deleted {
		e.Response.Status = statusText(http.StatusNoContent)
	}
	if pref.ret == "OperationOutcome" {
		e.Response.Outcome = infoOutcome(res.message)
	}
	return e
}

// errorEntry is the response entry of a failed batch entry (or read).
func (s *Server) errorEntry(c echo.Context, err error) entryOut {
	ae := s.internal(c, err)
	return entryOut{Response: &responseOut{Status: statusText(ae.status), Outcome: errorOutcome(ae)}}
}

// readEntry answers a GET entry: a read, a vread or a search.
func (s *Server) readEntry(c echo.Context, st *step) entryOut {
	ctx := c.Request().Context()
	if st.id == "" {
		base := s.opts.BaseURL
		if st.typ != "" {
			base += "/" + st.typ
		}
		body, err := s.search(ctx, searchSpec{typ: st.typ, base: base, params: st.params})
		if err != nil {
			return s.errorEntry(c, within(st.where, err))
		}
		return entryOut{Resource: body, Response: &responseOut{Status: statusText(http.StatusOK)}}
	}
	res, err := s.readAllowed(ctx, st.typ, st.id, st.vid)
	if err != nil {
		e := s.errorEntry(c, within(st.where, err))
		if res != nil {
			e.Response.Etag = etag(res.VersionID)
		}
		return e
	}
	e := entryOut{
		FullURL: s.resourceURL(res.Type, res.ID),
		Response: &responseOut{
			Status: statusText(http.StatusOK), Etag: etag(res.VersionID), LastModified: instant(res.LastUpdated),
		},
	}
	if notModified(st.req.IfNoneMatch, st.req.IfModifiedSince, res) {
		e.Response.Status = statusText(http.StatusNotModified)
		return e
	}
	body, err := shape(res.Body, st.params)
	if err != nil {
		return s.errorEntry(c, within(st.where, err))
	}
	e.Resource = body
	return e
}

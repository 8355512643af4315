// Package fhir is TeleHub's FHIR R4 REST layer: it maps the HTTP interactions
// of the specification (read, vread, create, update, patch, delete, history,
// search, batch, transaction, capabilities) onto a store.Store, answers
// OperationOutcomes for every error a client can cause, and publishes the
// CapabilityStatement of exactly what it wires.
//
// Writes go through two steps that single interactions and transaction
// Bundles share: a change is resolved and built (parse once, Marshal once,
// extract the search index once) into store.Writes, then committed. Reads
// serve the stored canonical JSON without parsing it. A resource another
// component generates, with a bulk that grows with its data (an
// ImagingStudy's instances), can be written through UpdateGenerated: an
// outline of it is parsed and validated, the bulk indexed in parts
// (generated.go).
//
// Choices the specification leaves open:
//   - An unknown resource type in the URL path is 404; in a body or a
//     Bundle entry's request.url it is 400.
//   - A transaction on a store without multi-resource transactions is
//     refused with 400 and a not-supported OperationOutcome (batch works);
//     the CapabilityStatement then does not list transaction.
//   - A successful delete answers 200 with an informational
//     OperationOutcome (204 with Prefer: return=minimal); deleting an absent
//     or already deleted resource writes no version.
//   - GET entries of a transaction run after its writes are committed: a
//     failed read is reported in its entry and does not undo the writes.
//   - Conditional interactions refuse criteria the search parser does not
//     fully understand (400), since ignoring one would widen the match.
//   - Search pages continue by the store's cursor: next links carry an
//     opaque _cursor (bound to the search's criteria and sort, 400
//     otherwise), stable while others write; such pages have no previous
//     link, which the specification allows. Pages asked for by _offset, and
//     history pages, keep offset links with previous links.
//   - _total defaults to accurate; _count=0 and _summary=count answer the
//     total alone. Unknown or malformed parameters are ignored and listed
//     in an OperationOutcome entry (the self link shows what was applied),
//     or refused with 400 under Prefer: handling=strict.
//   - _include and _revinclude (with :iterate, four rounds at most, and
//     "*") add at most Options.MaxIncluded resources to a page, with a
//     warning when cut.
//   - Compartment searches (Patient/1/Observation, Patient/1/*) and
//     Patient/$everything (instance and type level) read the compartment
//     definitions of package search; see compartment.go.
//   - _explain=true answers the store's plan of a search (store.Explainer)
//     as an informational OperationOutcome, without running it.
//   - Custom SearchParameters live in a layer beside the specification's
//     registry (custom.go); $reindex runs as a background job (reindex.go).
//
// Access control (access.go, access_write.go, guard.go), with Options.Auth:
//   - Every interaction but the CapabilityStatement needs a bearer token:
//     401 with WWW-Authenticate without a valid one; 403 when its scopes do
//     not grant the interaction on the type (SMART v2 letters: vread and
//     instance history are reads, patch an update, an update that creates
//     needs create).
//   - A token restricted to a compartment (patient/ scopes) or by a scope
//     query (patient/Observation.rs?category=laboratory) has the restriction
//     added to the store query as conditions, so totals and pages count
//     only what it may see; chains and _has see only what it may read, and
//     included resources pass the same rules. A resource outside the
//     restriction answers 404 on read, as if it did not exist, so that a
//     token cannot probe for other patients' data. Types outside the
//     compartment (Practitioner, Medication) are not visible to a
//     compartment-restricted token.
//   - A search across types by a compartment-restricted token narrows every
//     type to the compartment and leaves out the compartment's own Patient
//     (read it, or use $everything, which puts it first). Scope queries
//     apply to a search of their type alone (403 across types).
//   - Type and system history cannot be narrowed at the store: a token
//     restricted by compartment, scope query or consent gets 403 there;
//     instance history follows the read rules of the resource's current version.
//   - Writes: the version replaced must be within the token's reach (403
//     otherwise) and the version written too (a patient token cannot create
//     an Observation for another patient); conditional writes match only
//     what the token may touch. A transaction with one forbidden entry
//     fails whole with 403; a batch answers 403 in that entry.
//   - $reindex and SearchParameter writes need a system/ scope;
//     $verify-audit a token that reads every AuditEvent.
//   - Consent (Options.Consent): the denied patients' Patient resources and
//     compartments are excluded from searches as store conditions, and
//     answer 403 with an OperationOutcome on read and write.
//   - AuditEvents are append-only for everyone: update, patch and delete
//     answer 405. With Options.Audit every interaction (refusals included)
//     records its AuditEvent before the answer leaves; when recording fails
//     the answer is withheld and the request fails with 500. Searches
//     reach the store through audit.LeanSearch, which widens a search for
//     a bare code or id of AuditEvent to the forms the recorder indexes.
package fhir

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/internal/cors"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// InteractionKey is the echo context key holding the interaction name of the
// request ("read", "vread", "update", "patch", "delete", "create",
// "search-type", "search-system", "history-instance", "history-type",
// "history-system", "batch", "transaction", "capabilities"), set before the
// handler runs, for metrics. A Bundle POST is first marked "batch" and
// becomes "transaction" once its body says so.
const InteractionKey = "fhir.interaction"

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	Store store.Store
	// BaseURL is the public base of the FHIR endpoint, e.g.
	// "http://localhost:8080/fhir", without a trailing slash.
	BaseURL string
	// MaxBodyBytes bounds request bodies (default 16 MiB); larger ones get 413.
	MaxBodyBytes int64
	// MaxConditionalDeletes bounds a conditional delete (default 100); more
	// matches get 412.
	MaxConditionalDeletes int
	// DefaultPageSize and MaxPageSize bound search and history pages
	// (defaults 20 and 1000).
	DefaultPageSize, MaxPageSize int
	// MaxIncluded bounds the resources _include and _revinclude add to one
	// search page (default 1000); beyond it the page carries a warning.
	MaxIncluded int
	Logger      *slog.Logger
	// Auth authenticates every interaction but the CapabilityStatement
	// (401 without a valid bearer token); nil serves an open API, for
	// in-process tests only.
	Auth *authz.Authenticator
	// Consent closes patients' data to principals their consent denies;
	// nil applies no consent rule.
	Consent authz.ConsentPolicy
	// Audit records an AuditEvent for every interaction, before its answer
	// is sent (fail-closed); nil records nothing.
	Audit authz.Auditor
	// OAuth, when set, is described in the CapabilityStatement's security
	// section (SMART's oauth-uris extension).
	OAuth *smart.Endpoints
	// SubscriptionWebSocket, when set, is the URL of the websocket channel
	// of Subscriptions, advertised in the CapabilityStatement.
	SubscriptionWebSocket string
}

// Server serves the FHIR R4 REST API over a store.
type Server struct {
	opts  Options
	store store.Store
	// pieces reads spliced bodies (store.WithPieces below the store), nil
	// when the store assembles none.
	pieces   store.PieceReader
	log      *slog.Logger
	registry *search.Registry
	extract  *search.Extractor
	// bulkExtract indexes the bulk of a Generated resource: without its
	// words, which would make every version that changes the outline's
	// read and write them all again (see Generated).
	bulkExtract *search.Extractor
	custom      *customParams
	reindex     *reindexJobs
	capability  []byte
}

// New checks the options, fills the defaults and builds the CapabilityStatement.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("fhir: new server: no store")
	}
	if opts.BaseURL == "" {
		return nil, errors.New("fhir: new server: no base URL")
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.MaxConditionalDeletes <= 0 {
		opts.MaxConditionalDeletes = 100
	}
	if opts.DefaultPageSize <= 0 {
		opts.DefaultPageSize = 20
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	if opts.MaxIncluded <= 0 {
		opts.MaxIncluded = 1000
	}
	if opts.DefaultPageSize > opts.MaxPageSize {
		opts.DefaultPageSize = opts.MaxPageSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		// Searches go through audit.LeanSearch: the audit trail's events
		// are indexed without the bare forms of their tokens and references.
		opts: opts, store: audit.LeanSearch(opts.Store), log: opts.Logger, registry: search.DefaultRegistry(),
		custom: newCustomParams(), reindex: newReindexJobs(),
		// References to this server's own base URL index as Type/id.
		extract:     search.NewExtractor(search.DefaultRegistry(), search.WithBaseURL(opts.BaseURL)),
		bulkExtract: search.NewExtractor(search.DefaultRegistry(), search.WithBaseURL(opts.BaseURL), search.WithoutFullText()),
	}
	s.pieces, _ = store.As[store.PieceReader](s.store)
	capability, err := buildCapability(opts)
	if err != nil {
		return nil, fmt.Errorf("fhir: new server: %w", err)
	}
	s.capability = capability
	// The store is open: its active SearchParameters are searchable from the start.
	if err := s.loadSearchParameters(context.Background()); err != nil {
		return nil, fmt.Errorf("fhir: new server: %w", err)
	}
	return s, nil
}

// extractor is the index extractor of writes and _include.
func (s *Server) extractor() *search.Extractor { return s.extract }

// route is one URL pattern under /fhir and the interaction each method maps to.
type route struct {
	path    string
	methods map[string]routeHandler
}

type routeHandler struct {
	interaction string
	handle      func(echo.Context) error
}

func (s *Server) routes() []route {
	h := func(interaction string, fn func(echo.Context) error) routeHandler {
		return routeHandler{interaction, fn}
	}
	return []route{
		{"", map[string]routeHandler{
			http.MethodGet:  h("search-system", s.searchSystem),
			http.MethodPost: h("batch", s.bundle),
		}},
		{"/metadata", map[string]routeHandler{http.MethodGet: h("capabilities", s.metadata)}},
		{"/_history", map[string]routeHandler{http.MethodGet: h("history-system", s.historySystem)}},
		{"/_search", map[string]routeHandler{
			http.MethodGet:  h("search-system", s.searchSystem),
			http.MethodPost: h("search-system", s.searchSystem),
		}},
		{"/:type", map[string]routeHandler{
			http.MethodGet:    h("search-type", s.searchType),
			http.MethodPost:   h("create", s.createOrOperation),
			http.MethodPut:    h("update", s.conditionalUpdate),
			http.MethodPatch:  h("patch", s.conditionalPatch),
			http.MethodDelete: h("delete", s.conditionalDelete),
		}},
		{"/:type/_search", map[string]routeHandler{
			http.MethodGet:  h("search-type", s.searchType),
			http.MethodPost: h("search-type", s.searchType),
		}},
		{"/:type/_history", map[string]routeHandler{http.MethodGet: h("history-type", s.historyType)}},
		{"/:type/:id", map[string]routeHandler{
			http.MethodGet:    h("read", s.readOrOperation),
			http.MethodHead:   h("read", s.read),
			http.MethodPut:    h("update", s.update),
			http.MethodPatch:  h("patch", s.patch),
			http.MethodDelete: h("delete", s.delete),
		}},
		{"/:type/:id/:comp", map[string]routeHandler{
			http.MethodGet:  h("search-compartment", s.compartmentSearch),
			http.MethodPost: h("operation", s.instanceOperation),
		}},
		{"/:type/:id/_history", map[string]routeHandler{http.MethodGet: h("history-instance", s.historyInstance)}},
		{"/:type/:id/_history/:vid", map[string]routeHandler{
			http.MethodGet:  h("vread", s.vread),
			http.MethodHead: h("vread", s.vread),
		}},
	}
}

// corsPolicy lets SMART apps call the FHIR API from their pages.
var corsPolicy = cors.Policy{
	Methods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
	Headers: []string{"Authorization", "Content-Type", "Accept", "If-Match", "If-None-Match", "If-None-Exist",
		"If-Modified-Since", "Prefer", "X-Purpose-Of-Use"},
	Expose: []string{"Location", "Content-Location", "ETag", "Last-Modified", "WWW-Authenticate"},
}

var allMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// Mount registers every FHIR route under /fhir on e. Methods a route does
// not serve answer 405 and unknown paths 404, both with an OperationOutcome.
func (s *Server) Mount(e *echo.Echo) {
	g := e.Group("/fhir")
	g.Use(corsPolicy.Middleware())
	for _, rt := range s.routes() {
		paths := []string{rt.path}
		if rt.path == "" {
			// Clients address the base both as [base] and [base]/ (fhir-kit-client
			// posts Bundles to the latter).
			paths = append(paths, "/")
		}
		for _, path := range paths {
			for _, method := range allMethods {
				rh, ok := rt.methods[method]
				if !ok {
					g.Add(method, path, s.methodNotAllowed)
					continue
				}
				g.Add(method, path, s.wrap(rh))
			}
		}
	}
	g.RouteNotFound("/*", s.notFound)
}

// wrap marks the interaction and runs it through guard (authentication,
// access, audit), which enforces the answer format and turns errors into
// OperationOutcomes.
func (s *Server) wrap(rh routeHandler) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(InteractionKey, rh.interaction)
		return s.guard(c, rh)
	}
}

// operation returns the $operation a URL names in place of a type, an id
// or a compartment type, "" when none.
func operation(c echo.Context) string {
	for _, name := range []string{"type", "id", "comp"} {
		if v := c.Param(name); strings.HasPrefix(v, "$") {
			return v
		}
	}
	return ""
}

func isOperation(segment string) bool { return strings.HasPrefix(segment, "$") }

// servedOperations are the operations wired, by method.
var servedOperations = map[string][]string{
	http.MethodGet:  {opEverything, opReindex, opVerifyAudit},
	http.MethodPost: {opReindex, opVerifyAudit},
}

func servedOperation(method, op string) bool {
	return slices.Contains(servedOperations[method], op)
}

// readOrOperation serves GET [base]/Type/id, GET [base]/Patient/$everything
// and GET [base]/$reindex/job.
func (s *Server) readOrOperation(c echo.Context) error {
	switch {
	case c.Param("type") == opReindex:
		if err := accessOf(c.Request().Context()).requireSystem(smart.Update, "SearchParameter", "$reindex"); err != nil {
			return err
		}
		return s.reindexStatus(c)
	case isOperation(c.Param("type")):
		return s.notFound(c)
	case c.Param("id") == opEverything:
		return s.everythingType(c)
	}
	return s.read(c)
}

// createOrOperation serves POST [base]/Type and POST [base]/$reindex.
func (s *Server) createOrOperation(c echo.Context) error {
	switch c.Param("type") {
	case opReindex:
		return s.guardedReindex(c)
	case opVerifyAudit:
		return s.verifyAudit(c)
	}
	if isOperation(c.Param("type")) {
		return s.notFound(c)
	}
	return s.create(c)
}

// instanceOperation serves POST [base]/SearchParameter/id/$reindex.
func (s *Server) instanceOperation(c echo.Context) error {
	if c.Param("comp") == opReindex {
		return s.guardedReindex(c)
	}
	return s.methodNotAllowed(c)
}

func (s *Server) methodNotAllowed(c echo.Context) error {
	if op := operation(c); op != "" {
		return s.fail(c, newError(http.StatusNotFound, codeNotSupported, "operation %s is not supported", op))
	}
	return s.fail(c, newError(http.StatusMethodNotAllowed, codeNotSupported, "%s is not supported on %s", c.Request().Method, c.Request().URL.Path))
}

func (s *Server) notFound(c echo.Context) error {
	return s.fail(c, newError(http.StatusNotFound, codeNotFound, "no FHIR interaction at %s", c.Request().URL.Path))
}

// fail answers err as an OperationOutcome. Errors that are not an apiError
// are internal: logged, and answered 500 without their text.
func (s *Server) fail(c echo.Context, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.ErrorContext(c.Request().Context(), "fhir: internal error",
			"method", c.Request().Method, "path", c.Request().URL.Path, "error", err)
		ae = newError(http.StatusInternalServerError, codeException, "internal server error")
	}
	return send(c, ae.status, errorOutcome(ae))
}

// internal hides an internal error behind a generic message, for the
// places (Bundle entries) that answer an outcome instead of failing the request.
func (s *Server) internal(c echo.Context, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	s.log.ErrorContext(c.Request().Context(), "fhir: internal error", "path", c.Request().URL.Path, "error", err)
	return newError(http.StatusInternalServerError, codeException, "internal server error")
}

func (s *Server) metadata(c echo.Context) error {
	return send(c, http.StatusOK, s.capability)
}

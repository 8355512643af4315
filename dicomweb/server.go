package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/internal/cors"
	"github.com/telehub/telehub/store"
)

// Options configure a Server.
type Options struct {
	// Index holds the DICOM index (a store of its own, not the FHIR one's
	// database: see the package comment).
	Index store.Store
	// Blobs holds the DICOM files.
	Blobs Blobs
	// FHIR is the in-process FHIR API the ImagingStudy, Patient and
	// Endpoint resources are written through.
	FHIR *fhir.Server
	// BaseURL is the public base of the DICOMweb endpoint, ending in
	// "/dicom-web" (e.g. "http://localhost:8080/dicom-web"): RetrieveURLs,
	// BulkDataURIs and the Endpoint resource's address are built on it.
	BaseURL string
	// Auth authenticates every request (required; Insecure for development).
	Auth *authz.Authenticator
	// Consent, when set, hides the studies of patients whose consent denies
	// the caller.
	Consent authz.ConsentPolicy
	// Audit records every store, query and retrieval (required, fail-closed).
	Audit authz.Auditor
	// MaxUploadBytes bounds a STOW request body (default 2 GiB); larger
	// ones get 413.
	MaxUploadBytes int64
	// Overwrite lets a STOW replace a stored instance by different content
	// under the same SOP Instance UID (refused with 0x0111 otherwise).
	Overwrite bool
	// TempDir holds uploads while they are checked (default os.TempDir()),
	// unless Blobs is a DirBlobs: uploads are then written straight into
	// packs in its folder (see spool), so that storing one copies nothing.
	TempDir string
	Logger  *slog.Logger
}

// Server is the DICOMweb origin server.
type Server struct {
	opts Options
	idx  index
	fhir *fhir.Server
	log  *slog.Logger
	base string

	endpointMu sync.Mutex
	endpointID string // the Endpoint resource's id, once known

	studySyncs  studySyncs  // ImagingStudy updates, in rounds per study
	linkLookups linkLookups // the ImagingStudy links the STOWs in flight look up
	files       fileLists   // the file lists of recently retrieved studies
	// commitLocks make index commits into one study take turns (see commit).
	commitLocks stripedLocks
}

// New checks opts and returns a Server; Mount serves it.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Index == nil:
		return nil, errors.New("dicomweb: new server: no index store")
	case opts.Blobs == nil:
		return nil, errors.New("dicomweb: new server: no blob store")
	case opts.FHIR == nil:
		return nil, errors.New("dicomweb: new server: no FHIR server")
	case opts.FHIR.PieceStore() != opts.Index:
		// The ImagingStudies are written spliced, their pieces in the index.
		return nil, errors.New("dicomweb: new server: the FHIR server's store must read the pieces of spliced bodies from the index store (store.WithPieces)")
	case opts.Auth == nil:
		return nil, errors.New("dicomweb: new server: no authenticator (use an Insecure one for development)")
	case opts.Audit == nil:
		return nil, errors.New("dicomweb: new server: no auditor")
	case !strings.HasPrefix(opts.BaseURL, "http://") && !strings.HasPrefix(opts.BaseURL, "https://"):
		return nil, fmt.Errorf("dicomweb: new server: base URL %q is not an http(s) URL", opts.BaseURL)
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 2 << 30
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Server{opts: opts, idx: index{opts.Index}, fhir: opts.FHIR, log: opts.Logger,
		base: strings.TrimRight(opts.BaseURL, "/")}, nil
}

// corsPolicy lets image viewers running in a browser (OHIF and other
// DICOMweb clients) store, query and retrieve from their pages.
var corsPolicy = cors.Policy{
	Methods: []string{"GET", "POST", "OPTIONS"},
	Headers: []string{"Authorization", "Content-Type", "Accept", "X-Purpose-Of-Use"},
	Expose:  []string{"Content-Location", "Warning", "WWW-Authenticate"},
}

// Mount registers the DICOMweb routes under /dicom-web on e. CORS comes
// before authentication: preflights carry no token.
func (s *Server) Mount(e *echo.Echo) {
	g := e.Group("/dicom-web", corsPolicy.Middleware(), s.opts.Auth.Middleware())
	preflighted := map[string]bool{}
	route := func(method, path string, h echo.HandlerFunc) {
		g.Add(method, path, h)
		if !preflighted[path] {
			// Answered by corsPolicy's middleware; the route makes the
			// group's middleware run for OPTIONS on this path.
			g.OPTIONS(path, notPreflight)
			preflighted[path] = true
		}
	}
	route(http.MethodPost, "/studies", s.stow)
	route(http.MethodPost, "/studies/:study", s.stow)

	route(http.MethodGet, "/studies", s.qido(levelStudy))
	route(http.MethodGet, "/series", s.qido(levelSeries))
	route(http.MethodGet, "/instances", s.qido(levelInstance))
	route(http.MethodGet, "/studies/:study/series", s.qido(levelSeries))
	route(http.MethodGet, "/studies/:study/instances", s.qido(levelInstance))
	route(http.MethodGet, "/studies/:study/series/:series/instances", s.qido(levelInstance))

	route(http.MethodGet, "/studies/:study", s.retrieve)
	route(http.MethodGet, "/studies/:study/series/:series", s.retrieve)
	route(http.MethodGet, "/studies/:study/series/:series/instances/:instance", s.retrieve)
	route(http.MethodGet, "/studies/:study/metadata", s.metadata)
	route(http.MethodGet, "/studies/:study/series/:series/metadata", s.metadata)
	route(http.MethodGet, "/studies/:study/series/:series/instances/:instance/metadata", s.metadata)
	route(http.MethodGet, "/studies/:study/series/:series/instances/:instance/frames/:frames", s.frames)
	route(http.MethodGet, "/studies/:study/series/:series/instances/:instance/bulkdata/:tag", s.bulkdata)
	for _, kind := range []string{"rendered", "thumbnail"} {
		h := s.rendered(kind == "thumbnail")
		route(http.MethodGet, "/studies/:study/"+kind, h)
		route(http.MethodGet, "/studies/:study/series/:series/"+kind, h)
		route(http.MethodGet, "/studies/:study/series/:series/instances/:instance/"+kind, h)
		route(http.MethodGet, "/studies/:study/series/:series/instances/:instance/frames/:frames/"+kind, h)
	}
	route(http.MethodGet, "/wado", s.wadoURI)
}

// notPreflight answers an OPTIONS request that is not a CORS preflight:
// DICOMweb defines no OPTIONS interaction.
func notPreflight(c echo.Context) error {
	return fail(c, http.StatusMethodNotAllowed, "DICOMweb has no OPTIONS interaction")
}

// fail answers an error as an OperationOutcome, the way every TeleHub API does.
func fail(c echo.Context, status int, format string, args ...any) error {
	code := map[int]string{
		http.StatusBadRequest: "invalid", http.StatusForbidden: "forbidden", http.StatusNotFound: "not-found",
		http.StatusNotAcceptable: "not-supported", http.StatusConflict: "conflict",
		http.StatusRequestEntityTooLarge: "too-costly", http.StatusUnsupportedMediaType: "not-supported",
		http.StatusGone: "deleted", http.StatusMethodNotAllowed: "not-supported",
	}[status]
	if code == "" {
		code = "exception"
	}
	return authz.WriteOutcome(c, status, code, fmt.Sprintf(format, args...))
}

// internal logs err and answers 500 without its details.
func (s *Server) internal(c echo.Context, what string, err error) error {
	s.log.ErrorContext(c.Request().Context(), "dicomweb: "+what, "err", err)
	return fail(c, http.StatusInternalServerError, "%s failed", what)
}

// URLs of the resources, on the public base.
func (s *Server) studyURL(study string) string { return s.base + "/studies/" + study }
func (s *Server) seriesURL(study, series string) string {
	return s.studyURL(study) + "/series/" + series
}
func (s *Server) instanceURL(study, series, sop string) string {
	return s.seriesURL(study, series) + "/instances/" + sop
}

func detach(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/consent"
	"github.com/telehub/telehub/events"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/ops"
	"github.com/telehub/telehub/signaling"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/sqlite"
	"github.com/telehub/telehub/web"
)

// server is a running TeleHub: listener, HTTP server and store, wired together.
type server struct {
	logger *slog.Logger
	// store is the resource store as every component writes to it: each
	// commit publishes its change events on the bus. data is the same
	// store without the publishing, for the audit recorder, whose events
	// are not changes anyone subscribes to (embedded, data keeps the
	// AuditEvents in the audit trail: see audit.WithTrail).
	store    store.Store
	data     store.Store
	bus      *events.Bus
	subs     *events.Subscriptions
	dicom    *dicomStorage
	relay    *signaling.Relay
	http     *http.Server
	listener net.Listener
	baseURL  string
	auth     *smart.Server
	auditor  *audit.Recorder
	// trail keeps the AuditEvents of the embedded deployment (nil when
	// --store names the store, which nodes may share: they are in it).
	trail *audit.Trail
	// audits is what every component records to: the auditor, but for
	// the baseline of `telehub bench --security`.
	audits authz.Auditor
	api    *fhir.Server
	// fresh: the store held no OAuth client nor user account at start-up.
	fresh bool
	// served receives the result of http.Server.Serve once it returns.
	served chan error
}

// startServer listens, opens the store, wires the FHIR and operational
// layers onto echo, and starts serving in the background.
func startServer(ctx context.Context, cfg serveConfig, logger *slog.Logger) (*server, error) {
	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s := &server{logger: logger, listener: listener, baseURL: cfg.baseURL(listener.Addr()), served: make(chan error, 1)}

	kind, target, err := cfg.storeTarget()
	if err == nil {
		s.data, err = openStore(ctx, kind, target)
	}
	if err == nil && cfg.Store == "" {
		// The data directory's own store: this node alone writes it, so
		// its AuditEvents can live in the node's own files. A store named
		// by --store may be shared by several nodes, which must then share
		// one chain in it too.
		s.data, s.trail, err = withAuditTrail(ctx, s.data, cfg.DataDir)
	}
	if err != nil {
		listener.Close()
		return nil, err
	}
	s.bus, err = events.OpenBus(ctx, events.BusOptions{
		URL: cfg.NATS, DataDir: filepath.Join(cfg.DataDir, "nats"), Name: "telehub", Logger: logger,
	})
	if err != nil {
		listener.Close()
		s.data.Close()
		return nil, fmt.Errorf("NATS: %w", err)
	}
	s.dicom, err = openDICOMStorage(ctx, cfg, kind, target)
	if err != nil {
		listener.Close()
		s.closeComponents()
		return nil, err
	}
	// ImagingStudies are stored spliced, their pieces in the DICOM index
	// (see dicomweb): every reader above gets them whole.
	s.store = events.Publish(store.WithPieces(s.data, s.dicom.index), s.bus)
	handler, err := s.handler(ctx, cfg)
	if err == nil {
		err = s.prepareAuth(ctx, cfg)
	}
	if err != nil {
		listener.Close()
		s.closeComponents()
		return nil, err
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { s.served <- s.http.Serve(listener) }()
	logger.Info("telehub listening",
		"addr", listener.Addr().String(),
		"base_url", s.baseURL,
		"store", kind,
		"store_target", redact(target),
		"transactions", s.store.SupportsTransactions(),
		"nats", s.bus.ClientURL())
	return s, nil
}

// openStore opens the backend --store names; the SQLite file's directory is
// created if needed.
func openStore(ctx context.Context, kind, target string) (store.Store, error) {
	switch kind {
	case storeSQLite:
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return nil, fmt.Errorf("create the data directory: %w", err)
		}
		s, err := sqlite.Open(ctx, target)
		if err != nil {
			return nil, err
		}
		return s, nil
	case storeMongo:
		s, err := mongo.Open(ctx, target)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown store kind %q", kind)
	}
}

// handler builds the echo instance: operational middleware and endpoints,
// the FHIR routes under /fhir, and the authorization server's.
func (s *server) handler(ctx context.Context, cfg serveConfig) (http.Handler, error) {
	operations, err := ops.New(ops.Options{Logger: s.logger, Ready: readiness{s.store, s.bus}, InteractionKey: fhir.InteractionKey})
	if err != nil {
		return nil, err
	}
	// Every access to health data and every security event is recorded,
	// fail-closed, in a tamper-evident audit trail. Record returns once
	// the event is written, synced to disk within auditSync: the
	// durability of the SQLite store's own commits. Embedded, the events
	// go to the trail's own files; with a store named by --store (MongoDB,
	// or an SQLite file nodes may share), to a local journal first, then to
	// the shared store and its hash chain in the background.
	if cfg.withoutAudit {
		s.audits = discardAudit{}
	} else {
		opts := audit.Options{Trail: s.trail, Logger: operations.Logger()}
		if s.trail == nil {
			opts.JournalDir, opts.SyncInterval = filepath.Join(cfg.DataDir, auditJournal), auditSync
		}
		s.auditor, err = audit.NewRecorder(s.data, opts)
		if err != nil {
			return nil, err
		}
		s.audits = s.auditor
	}
	s.auth, err = newAuthServer(s.store, s.baseURL, authOptions{
		registrationToken: cfg.RegistrationToken, auditor: s.audits, federation: cfg.Federation.smartFederation(),
	}, operations.Logger())
	if err != nil {
		return nil, err
	}
	authn := &authz.Authenticator{
		// Each request of a token pays its signature check once; revocation
		// is still noticed within seconds.
		Verifier: &authz.CachingVerifier{Verifier: s.auth},
		Insecure: cfg.InsecureNoAuth,
		Realm:    s.baseURL,
		Logger:   operations.Logger(),
	}
	if cfg.InsecureNoAuth {
		s.logger.Warn("INSECURE: --insecure-no-auth is set: every FHIR request is served without an access token, " +
			"with every permission. Never use it outside development.")
	}
	// Patients' consents close their data to the professionals they deny
	// (break-the-glass aside, audited by the policy).
	policy := consent.New(s.store, consent.Options{Auditor: s.audits, Logger: operations.Logger()})
	if err := invalidateOnChange(s.bus, policy); err != nil {
		return nil, err
	}
	endpoints := s.auth.Endpoints()
	api, err := fhir.New(fhir.Options{
		Store:                 s.store,
		BaseURL:               s.baseURL,
		MaxBodyBytes:          cfg.MaxBody,
		MaxConditionalDeletes: cfg.MaxConditionalDeletes,
		DefaultPageSize:       cfg.PageSize,
		MaxPageSize:           cfg.MaxPageSize,
		// Its ErrorContext lines then carry the request id.
		Logger:                operations.Logger(),
		Auth:                  authn,
		Audit:                 s.audits,
		Consent:               policy,
		OAuth:                 &endpoints,
		SubscriptionWebSocket: webSocketURL(s.baseURL, events.WebSocketPath),
	})
	if err != nil {
		return nil, err
	}
	s.api = api
	// The break-the-glass Communications are written through the FHIR API.
	policy.UseResources(api)
	if err := s.followSearchParameters(); err != nil {
		return nil, err
	}
	s.subs, err = events.NewSubscriptions(ctx, events.SubscriptionOptions{
		Bus: s.bus, FHIR: api, Store: s.store, BaseURL: s.baseURL, Consent: policy, Logger: operations.Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	dicom, err := s.newDICOMweb(cfg, s.dicom, authn, policy)
	if err != nil {
		return nil, fmt.Errorf("DICOMweb: %w", err)
	}
	if s.relay, err = s.newRelay(cfg, authn); err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	operations.Register(e)
	api.Mount(e)
	s.auth.Mount(e)
	s.subs.Mount(e, authn)
	dicom.Mount(e)
	s.relay.Mount(e)
	web.Mount(e)
	return e, nil
}

// webSocketURL is the ws(s):// URL of path on the host of the FHIR base.
func webSocketURL(fhirBase, path string) string {
	u, err := url.Parse(fhirBase)
	if err != nil {
		return ""
	}
	u.Scheme = map[string]string{"https": "wss"}[u.Scheme]
	if u.Scheme == "" {
		u.Scheme = "ws"
	}
	u.Path, u.RawQuery = path, ""
	return u.String()
}

// readiness is ready when both the store and the bus answer.
type readiness struct {
	store store.Store
	bus   *events.Bus
}

func (r readiness) Ping(ctx context.Context) error {
	if err := r.store.Ping(ctx); err != nil {
		return err
	}
	return r.bus.Ping(ctx)
}

// prepareAuth notes whether the store is fresh (before anything registers
// a client), then ensures the bootstrap client.
func (s *server) prepareAuth(ctx context.Context, cfg serveConfig) error {
	rs, err := recordsOf(s.store)
	if err != nil {
		return err
	}
	has, err := hasAccounts(ctx, rs)
	if err != nil {
		return err
	}
	s.fresh = !has
	if err := ensureWebClient(ctx, s.auth, s.baseURL); err != nil {
		return fmt.Errorf("web app client: %w", err)
	}
	if cfg.BootstrapClient == "" {
		return nil
	}
	if err := s.auth.EnsureBootstrapClient(ctx, cfg.BootstrapClient); err != nil {
		return fmt.Errorf("bootstrap client: %w", err)
	}
	id, _, _ := strings.Cut(cfg.BootstrapClient, ":")
	s.logger.Info("bootstrap client ready", "client_id", id)
	return nil
}

// The audit trail's folders in the data directory.
const (
	auditTrail   = "audit-trail"
	auditJournal = "audit-journal"
)

// withAuditTrail opens the embedded deployment's audit trail and returns
// data with its AuditEvents kept there. A journal left by an earlier
// version (which indexed the events into the SQLite store) is indexed
// first, so that its events are among those copied into the trail.
func withAuditTrail(ctx context.Context, data store.Store, dataDir string) (store.Store, *audit.Trail, error) {
	if err := drainAuditJournal(ctx, data, filepath.Join(dataDir, auditJournal)); err != nil {
		data.Close()
		return nil, nil, err
	}
	trail, err := audit.OpenTrail(filepath.Join(dataDir, auditTrail), audit.TrailOptions{SyncInterval: auditSync})
	if err != nil {
		data.Close()
		return nil, nil, err
	}
	withTrail, err := audit.WithTrail(ctx, data, trail)
	if err != nil {
		trail.Close()
		data.Close()
		return nil, nil, err
	}
	return withTrail, trail, nil
}

// drainAuditJournal indexes into the store what a journal in dir holds,
// then removes the journal.
func drainAuditJournal(ctx context.Context, data store.Store, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	rec, err := audit.NewRecorder(data, audit.Options{JournalDir: dir})
	if err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	err = rec.Sync(ctx)
	rec.Close()
	if err != nil {
		return fmt.Errorf("audit journal: index what it holds: %w", err)
	}
	return os.RemoveAll(dir)
}

// auditSync is how long an audit event may stay in the operating system's
// cache before the journal is synced to disk.
const auditSync = 20 * time.Millisecond

// errShutdownTimeout reports requests still running when the shutdown timeout expired.
var errShutdownTimeout = errors.New("in-flight requests did not finish within the shutdown timeout")

// shutdown stops accepting connections, waits for in-flight requests until
// ctx ends (then cuts them), and closes the store once no request can use it.
func (s *server) shutdown(ctx context.Context) error {
	var errs []error
	// The relay's WebSockets are hijacked connections Shutdown would wait
	// for: their sessions are closed first (clients resume on another node).
	if s.relay != nil {
		if err := s.relay.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close signaling relay: %w", err))
		}
	}
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, errShutdownTimeout)
		if err := s.http.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connections: %w", err))
		}
	}
	if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	errs = append(errs, s.closeComponents()...)
	return errors.Join(errs...)
}

// closeComponents stops what runs beside the HTTP server, writers first:
// subscription delivery, the audit recorder, then the bus (which publishes
// what is still waiting) and the store.
func (s *server) closeComponents() []error {
	var errs []error
	if s.subs != nil {
		if err := s.subs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close subscriptions: %w", err))
		}
	}
	if s.auditor != nil {
		if err := s.auditor.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close audit recorder: %w", err))
		}
	}
	if s.dicom != nil {
		if err := s.dicom.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close DICOM storage: %w", err))
		}
	}
	if s.bus != nil {
		if err := s.bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close NATS: %w", err))
		}
	}
	if s.trail != nil {
		if err := s.trail.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close audit trail: %w", err))
		}
	}
	if err := s.data.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	return errs
}

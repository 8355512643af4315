// Package ops is the operational side of the TeleHub HTTP server: liveness and
// readiness probes, Prometheus metrics, request ids, access logs and panic
// recovery. It knows nothing of FHIR; the REST layer tells it which interaction
// a request was through an echo context key.
package ops

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Pinger is what readiness checks: typically the resource store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configures the operational middleware and endpoints.
type Options struct {
	// Logger receives access logs and recovered panics. Required.
	Logger *slog.Logger
	// Ready is pinged by /readyz; nil means always ready.
	Ready Pinger
	// InteractionKey is the echo context key under which handlers record the
	// name of the interaction they served ("read", "create", …). Requests that
	// leave it unset are counted as "other".
	InteractionKey string
}

// Ops holds the metrics registry and serves the operational endpoints.
type Ops struct {
	logger         *slog.Logger
	ready          Pinger
	interactionKey string
	metrics        *metrics
}

// Paths of the operational endpoints.
const (
	HealthPath  = "/healthz"
	ReadyPath   = "/readyz"
	MetricsPath = "/metrics"
)

// New builds the operational layer with its own Prometheus registry.
func New(opts Options) (*Ops, error) {
	if opts.Logger == nil {
		return nil, fmt.Errorf("ops: a logger is required")
	}
	m, err := newMetrics()
	if err != nil {
		return nil, fmt.Errorf("ops: metrics: %w", err)
	}
	return &Ops{
		logger:         slog.New(contextHandler{inner: opts.Logger.Handler()}),
		ready:          opts.Ready,
		interactionKey: opts.InteractionKey,
		metrics:        m,
	}, nil
}

// Logger is the logger to give request handlers: whatever it logs through a
// Context method (ErrorContext, LogAttrs…) with a request's context carries
// that request's id.
func (o *Ops) Logger() *slog.Logger {
	return o.logger
}

// Registry is the registry /metrics serves; other components may register
// their own collectors on it.
func (o *Ops) Registry() *prometheus.Registry {
	return o.metrics.registry
}

// Register installs the middleware on every route of e (request id, then
// access log and metrics, then panic recovery) and the operational endpoints.
func (o *Ops) Register(e *echo.Echo) {
	e.Use(o.requestID, o.observe, o.recoverPanics)
	e.GET(HealthPath, o.health)
	e.GET(ReadyPath, o.readiness)
	e.GET(MetricsPath, o.metricsHandler())
}

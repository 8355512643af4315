package ops

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// otherInteraction labels requests no FHIR interaction claimed.
const otherInteraction = "other"

// observe writes one access log line and records the metrics of every request.
// It resolves handler errors itself (through echo's error handler) so that the
// status it logs is the status the client got.
func (o *Ops) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		o.metrics.inFlight.Inc()
		defer o.metrics.inFlight.Dec()

		if err := next(c); err != nil {
			c.Error(err)
		}

		elapsed := time.Since(start)
		res := c.Response()
		interaction := o.interaction(c)
		code := strconv.Itoa(res.Status)
		o.metrics.requests.WithLabelValues(interaction, code).Inc()
		o.metrics.latency.WithLabelValues(interaction, code).Observe(elapsed.Seconds())

		req := c.Request()
		// The logger adds the request id from the context.
		o.logger.LogAttrs(req.Context(), accessLogLevel(c.Path(), res.Status), "request",
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("duration", elapsed),
			slog.String("interaction", interaction),
		)
		return nil
	}
}

// interaction is the name the FHIR layer recorded for this request, or "other".
func (o *Ops) interaction(c echo.Context) string {
	if o.interactionKey == "" {
		return otherInteraction
	}
	if name, ok := c.Get(o.interactionKey).(string); ok && name != "" {
		return name
	}
	return otherInteraction
}

// accessLogLevel keeps probes and scrapes, which arrive every few seconds, out
// of the default log, and makes server errors stand out.
func accessLogLevel(route string, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case route == HealthPath || route == ReadyPath || route == MetricsPath:
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}

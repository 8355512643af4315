package ops_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/ops"
)

// BenchmarkMiddleware measures what the operational layer adds to every
// request: request id, metrics, access log (enabled, to a discarding JSON
// handler) and panic recovery, around a handler that does nothing.
func BenchmarkMiddleware(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run("log level "+level.String(), func(b *testing.B) {
			logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
			o, err := ops.New(ops.Options{Logger: logger, InteractionKey: interactionKey})
			if err != nil {
				b.Fatal(err)
			}
			e := echo.New()
			o.Register(e)
			e.GET("/fhir/Patient/:id", func(c echo.Context) error {
				c.Set(interactionKey, "read")
				return c.NoContent(http.StatusOK)
			})
			req := httptest.NewRequest(http.MethodGet, "/fhir/Patient/1", nil)
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

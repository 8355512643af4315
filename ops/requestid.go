package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/labstack/echo/v4"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = echo.HeaderXRequestID

// maxRequestIDLen bounds an incoming request id; longer ones are replaced.
const maxRequestIDLen = 128

type contextKey struct{}

// requestInfo is what a request's context carries. The request's logger is
// derived on demand: most requests never log but the access log line, which
// is written without it.
type requestInfo struct {
	id     string
	logger *slog.Logger
}

// RequestID returns the id of the request ctx belongs to, or "" outside a request.
func RequestID(ctx context.Context) string {
	info, _ := ctx.Value(contextKey{}).(requestInfo)
	return info.id
}

// Logger returns a logger that tags every line with the request id of ctx;
// outside a request it returns slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	info, ok := ctx.Value(contextKey{}).(requestInfo)
	if !ok {
		return slog.Default()
	}
	return info.logger.With(requestIDAttr, info.id)
}

// WithRequest returns ctx carrying a request id and the logger Logger derives from.
func WithRequest(ctx context.Context, id string, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, contextKey{}, requestInfo{id: id, logger: logger})
}

// requestID takes the client's X-Request-Id when it is sane, or makes one up,
// echoes it in the response and puts it, with a logger, in the request context.
func (o *Ops) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(RequestIDHeader, id)
		req := c.Request()
		c.SetRequest(req.WithContext(WithRequest(req.Context(), id, o.logger)))
		return next(c)
	}
}

// saneRequestID accepts ids a log line and a header can carry verbatim:
// 1 to 128 characters of [A-Za-z0-9-_.].
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}

package ops

import (
	"context"
	"log/slog"
)

// requestIDAttr is the log attribute that carries the request id.
const requestIDAttr = "request_id"

// contextHandler adds the request id of the context to every record logged
// through a Context method (InfoContext, ErrorContext, LogAttrs…), so that
// handlers given the plain server logger still tag their lines.
type contextHandler struct {
	inner slog.Handler
	// hasID is set once the logger carries a request id of its own (With),
	// so that the id is not written twice.
	hasID bool
}

func (h contextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.hasID {
		if id := RequestID(ctx); id != "" {
			r = r.Clone()
			r.AddAttrs(slog.String(requestIDAttr, id))
		}
	}
	return h.inner.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	hasID := h.hasID
	for _, a := range attrs {
		hasID = hasID || a.Key == requestIDAttr
	}
	return contextHandler{inner: h.inner.WithAttrs(attrs), hasID: hasID}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{inner: h.inner.WithGroup(name), hasID: h.hasID}
}

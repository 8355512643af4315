package ops

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/labstack/echo/v4"
)

// internalErrorOutcome is what a client gets when a handler panics: a FHIR
// OperationOutcome that names the request id, never the stack.
const internalErrorOutcome = `{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception","diagnostics":%q}]}`

// recoverPanics turns a handler panic into a logged stack trace and a 500.
func (o *Ops) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r) // net/http's way to abort a response on purpose
			}
			ctx := c.Request().Context()
			Logger(ctx).ErrorContext(ctx, "handler panic",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = o.answerInternalError(c)
		}()
		return next(c)
	}
}

// answerInternalError writes the 500 OperationOutcome unless the handler had
// already started its response, in which case the connection is all we can end.
func (o *Ops) answerInternalError(c echo.Context) error {
	if c.Response().Committed {
		return errors.New("ops: handler panicked after writing its response")
	}
	id := RequestID(c.Request().Context())
	body := fmt.Sprintf(internalErrorOutcome, "internal server error (request id "+id+")")
	return c.Blob(http.StatusInternalServerError, "application/fhir+json; charset=utf-8", []byte(body))
}

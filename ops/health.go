package ops

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// readyTimeout bounds the readiness ping so a hung backend fails the probe
// instead of hanging it.
const readyTimeout = 2 * time.Second

type status struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// health answers liveness: the process serves HTTP.
func (o *Ops) health(c echo.Context) error {
	return c.JSON(http.StatusOK, status{Status: "ok"})
}

// readiness answers 200 when the store answers a ping, 503 otherwise.
func (o *Ops) readiness(c echo.Context) error {
	if o.ready == nil {
		return c.JSON(http.StatusOK, status{Status: "ok"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := o.ready.Ping(ctx); err != nil {
		Logger(ctx).WarnContext(ctx, "not ready", "error", err)
		return c.JSON(http.StatusServiceUnavailable, status{Status: "unavailable", Error: "store unreachable"})
	}
	return c.JSON(http.StatusOK, status{Status: "ok"})
}

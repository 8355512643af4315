package smart

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/store"
)

// kindAddress counts failed logins per client address.
const kindAddress = "smart.addrfail"

// addressWindow is the window failed logins per address are counted over.
const addressWindow = 15 * time.Minute

type addressFailures struct {
	Count int `json:"count"`
}

// clientAddress is the address logins are counted against: the one echo's
// IPExtractor finds when the deployment configured one (behind a trusted
// proxy), else the peer address; forwarding headers a client can forge are
// never trusted by default.
func clientAddress(c echo.Context) string {
	if c.Echo().IPExtractor != nil {
		return c.RealIP()
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// addressThrottled reports whether logins from addr are refused for now:
// too many failed in the window, whatever the accounts (password spraying,
// which the per-account lockout does not see).
func (s *Server) addressThrottled(ctx context.Context, addr string) (bool, error) {
	var f addressFailures
	_, err := s.recs.get(ctx, kindAddress, addr, &f)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("smart: login throttle: %w", err)
	}
	return f.Count >= s.cfg.MaxLoginFailuresPerAddress, nil
}

// countAddressFailure counts one failed login from addr; the window starts
// at the first failure.
func (s *Server) countAddressFailure(ctx context.Context, addr string) error {
	for {
		var f addressFailures
		rec, err := s.recs.get(ctx, kindAddress, addr, &f)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = s.recs.put(ctx, kindAddress, addr, 1, addressFailures{Count: 1}, time.Now().Add(addressWindow))
		case err != nil:
			return fmt.Errorf("smart: login throttle: %w", err)
		default:
			f.Count++
			err = s.recs.put(ctx, kindAddress, addr, rec.Version+1, f, rec.Expires)
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

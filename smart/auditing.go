package smart

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
)

// Auditor records the security events of the authorization server (logins,
// tokens issued and revoked), fail-closed: when Record returns an error the
// login or token request fails, so that no access is granted unrecorded.
// *audit.Recorder implements it. (authz.Auditor is the same contract; it
// cannot be used here because authz imports smart.)
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// record sends e to the configured Auditor, if any.
func (s *Server) record(ctx context.Context, e audit.Event) error {
	if s.cfg.Audit == nil {
		return nil
	}
	if err := s.cfg.Audit.Record(ctx, e); err != nil {
		return fmt.Errorf("smart: audit: %w", err)
	}
	return nil
}

// agentOf is who acted in a request about grant g (a user's or a backend
// service's), seen from c.
func agentOf(c echo.Context, g grant) audit.Agent {
	return audit.Agent{User: g.FHIRUser, UserName: g.Username, Client: g.ClientID, Address: clientAddress(c)}
}

// auditLogin records a login attempt at the authorization endpoint.
func (s *Server) auditLogin(c echo.Context, ok bool, clientID, username string, u *User, reason string) error {
	who := audit.Agent{UserName: username, Client: clientID, Address: clientAddress(c)}
	if u != nil {
		who.User, who.UserName = u.FHIRUser, u.Username
	}
	return s.record(c.Request().Context(), audit.Login(ok, who, reason))
}

// auditClientFailure records a failed client authentication at the token
// endpoint (a backend service's failed login, or someone guessing secrets)
// as a failed login of the client it claimed to be.
func (s *Server) auditClientFailure(c echo.Context, err error) error {
	var oe *oauthError
	if !errors.As(err, &oe) || oe.code != "invalid_client" {
		return nil
	}
	r := c.Request()
	id := r.PostFormValue("client_id")
	if basicID, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(basicID); err == nil {
			id = u
		}
	}
	who := audit.Agent{Client: id, Address: clientAddress(c)}
	return s.record(r.Context(), audit.Login(false, who, "client authentication at the token endpoint: "+oe.description))
}

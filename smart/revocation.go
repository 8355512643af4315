package smart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

// kindRevEpoch holds the revocation epoch (see RevocationEpoch).
const (
	kindRevEpoch = "smart.revepoch"
	revEpochKey  = "epoch"
)

type revEpoch struct {
	Epoch int64 `json:"epoch"`
}

// Revoked reports whether the access token whose jti is given was revoked:
// at the revocation endpoint, or with its grant (its refresh token revoked,
// reused, or its authorization code replayed). It is one record lookup: a cache of verified
// tokens (the FHIR layer keeps one, since VerifyAccessToken checks a
// signature) asks it, or polls RevocationEpoch, before trusting an entry.
func (s *Server) Revoked(ctx context.Context, jti string) (bool, error) {
	_, err := s.recs.rs.GetRecord(ctx, kindRevoked, jti)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("smart: check revocation: %w", err)
	}
}

// RevocationEpoch is a counter that grows each time an access token is
// revoked, on any node sharing the store. A cache of verified tokens polls
// it (say every second): while it has not moved, no cached token was
// revoked; when it moves, the cache drops its entries (or asks Revoked for
// each). It is 0 until the first revocation.
func (s *Server) RevocationEpoch(ctx context.Context) (int64, error) {
	var e revEpoch
	_, err := s.recs.get(ctx, kindRevEpoch, revEpochKey, &e)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("smart: revocation epoch: %w", err)
	}
	return e.Epoch, nil
}

// bumpRevocationEpoch moves the epoch on after a revocation.
func (s *Server) bumpRevocationEpoch(ctx context.Context) error {
	for {
		var e revEpoch
		rec, err := s.recs.get(ctx, kindRevEpoch, revEpochKey, &e)
		version := int64(1)
		switch {
		case err == nil:
			version = rec.Version + 1
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("smart: revocation epoch: %w", err)
		}
		e.Epoch++
		err = s.recs.put(ctx, kindRevEpoch, revEpochKey, version, e, time.Time{})
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

// revokeAccessToken marks an access token revoked until it expires, and
// audits it.
func (s *Server) revokeAccessToken(c echo.Context, at *AccessToken, who audit.Agent) error {
	ctx := c.Request().Context()
	err := s.recs.put(ctx, kindRevoked, at.ID, 1, struct{}{}, at.Expires.Add(time.Minute))
	if errors.Is(err, store.ErrConflict) {
		return nil // already revoked
	}
	if err != nil {
		return err
	}
	if err := s.bumpRevocationEpoch(ctx); err != nil {
		return err
	}
	return s.record(ctx, audit.TokenRevoked(who, at.ID))
}

// revokeFamilyAudited revokes a grant's refresh tokens and audits it; the
// token id recorded is the family's, never a token.
func (s *Server) revokeFamilyAudited(c echo.Context, family string, who audit.Agent) error {
	if err := s.revokeFamily(c.Request().Context(), family); err != nil {
		return err
	}
	return s.record(c.Request().Context(), audit.TokenRevoked(who, "refresh-family:"+family))
}

package smart

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// LaunchContext is the context an EHR launch (or the patient picker) gives
// an app; it comes back in the token response.
type LaunchContext struct {
	Patient           string            `json:"patient,omitempty"`   // a Patient id
	Encounter         string            `json:"encounter,omitempty"` // an Encounter id
	FHIRContext       []json.RawMessage `json:"fhirContext,omitempty"`
	NeedPatientBanner bool              `json:"need_patient_banner,omitempty"`
	SmartStyleURL     string            `json:"smart_style_url,omitempty"`
	Intent            string            `json:"intent,omitempty"`
	// User, when set, is the username the EHR launched the app for: another
	// account cannot take the launch over.
	User string `json:"user,omitempty"`
}

// CreateLaunch stores an EHR launch context and returns the opaque value
// the EHR passes to the app as its launch parameter. It expires after an
// hour.
func (s *Server) CreateLaunch(ctx context.Context, lc LaunchContext) (string, error) {
	for _, item := range lc.FHIRContext {
		if !json.Valid(item) {
			return "", fmt.Errorf("smart: launch fhirContext item is not JSON: %s", item)
		}
	}
	id := randomToken(24)
	if err := s.recs.put(ctx, kindLaunch, id, 1, lc, time.Now().Add(launchTTL)); err != nil {
		return "", fmt.Errorf("smart: create launch: %w", err)
	}
	return id, nil
}

// launchContext returns the context of launch id.
func (s *Server) launchContext(ctx context.Context, id string) (*LaunchContext, error) {
	var lc LaunchContext
	if _, err := s.recs.get(ctx, kindLaunch, id, &lc); err != nil {
		return nil, fmt.Errorf("smart: launch %s: %w", id, err)
	}
	return &lc, nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"unicode"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/web"
)

// recordsOf returns the part of st that holds the authorization server's
// state; both backends have it.
func recordsOf(st store.Store) (store.Records, error) {
	rs, ok := store.As[store.Records](st)
	if !ok {
		return nil, fmt.Errorf("the %T store cannot hold the authorization server's records", st)
	}
	return rs, nil
}

// authOptions are the parts of the authorization server's configuration
// that `serve` sets and `admin` leaves empty.
type authOptions struct {
	registrationToken string
	auditor           smart.Auditor
	federation        *smart.Federation
	// issuer is the upstream provider an admin command names (--oidc-issuer).
	issuer string
}

// newAuthServer builds the authorization server of a TeleHub whose FHIR
// endpoint is fhirBase, over st.
func newAuthServer(st store.Store, fhirBase string, opts authOptions, logger *slog.Logger) (*smart.Server, error) {
	rs, err := recordsOf(st)
	if err != nil {
		return nil, err
	}
	auth, err := smart.New(smart.Config{
		BaseURL:           serverURL(fhirBase),
		FHIRBaseURL:       fhirBase,
		Records:           rs,
		Patients:          patientDirectory{st},
		RegistrationToken: opts.registrationToken,
		Audit:             opts.auditor,
		Federation:        opts.federation,
		Logger:            logger,
	})
	if err != nil {
		return nil, fmt.Errorf("authorization server: %w", err)
	}
	return auth, nil
}

// accountKinds are the record kinds of smart's clients and user accounts;
// hasAccounts looks at them to tell a fresh store.
var accountKinds = []string{"smart.client", "smart.user"}

// hasAccounts reports whether the store holds any OAuth client or user
// account but the web app's, which every start registers.
func hasAccounts(ctx context.Context, rs store.Records) (bool, error) {
	for _, kind := range accountKinds {
		recs, err := rs.ListRecords(ctx, kind, "", 2)
		if err != nil {
			return false, fmt.Errorf("list %s records: %w", kind, err)
		}
		for _, r := range recs {
			if kind != "smart.client" || r.Key != web.ClientID {
				return true, nil
			}
		}
	}
	return false, nil
}

// patientDirectory is the patient picker's search, over the FHIR store.
type patientDirectory struct{ st store.Store }

// SearchPatients finds the patients whose names match every word of text
// (prefix, case and accent insensitive, as FHIR's name search), or the
// first ones when text is empty.
func (d patientDirectory) SearchPatients(ctx context.Context, text string, limit int) ([]smart.PatientSummary, error) {
	params := url.Values{}
	// Commas, backslashes, pipes and dollars mean something in a FHIR search
	// value; in the picker they are separators.
	words := strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(`,\|$`, r) })
	for _, word := range words {
		params.Add("name", word)
	}
	plan := search.Parse("Patient", params)
	if len(plan.Ignored) > 0 {
		return nil, fmt.Errorf("patient search %q: %s", text, plan.Ignored[0].Message)
	}
	q := plan.Query
	q.Count = limit
	res, err := d.st.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("patient search %q: %w", text, err)
	}
	out := make([]smart.PatientSummary, 0, len(res.Resources))
	for _, r := range res.Resources {
		out = append(out, summarisePatient(r))
	}
	return out, nil
}

// patientFields are the parts of a Patient the picker shows.
type patientFields struct {
	Name []struct {
		Use    string   `json:"use"`
		Text   string   `json:"text"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	BirthDate string `json:"birthDate"`
	Gender    string `json:"gender"`
}

// summarisePatient picks the official name (else the first one) of a
// stored Patient.
func summarisePatient(r store.Resource) smart.PatientSummary {
	sum := smart.PatientSummary{ID: r.ID}
	var p patientFields
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return sum // stored bodies are valid JSON; show the id alone otherwise
	}
	sum.BirthDate, sum.Gender = p.BirthDate, p.Gender
	if len(p.Name) == 0 {
		return sum
	}
	name := p.Name[0]
	for _, n := range p.Name {
		if n.Use == "official" {
			name = n
			break
		}
	}
	sum.Name = name.Text
	if sum.Name == "" {
		sum.Name = strings.TrimSpace(strings.Join(append(name.Given, name.Family), " "))
	}
	return sum
}

package fhir

import (
	"fmt"
	"strings"
	"time"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// typeInteractions are the type-level interactions every resource type serves.
var typeInteractions = []string{
	"read", "vread", "update", "patch", "delete",
	"history-instance", "history-type", "create", "search-type",
}

type capabilityStatement struct {
	ResourceType   string            `json:"resourceType"`
	Status         string            `json:"status"`
	Date           string            `json:"date"`
	Publisher      string            `json:"publisher"`
	Kind           string            `json:"kind"`
	Software       map[string]string `json:"software"`
	Implementation map[string]string `json:"implementation"`
	FHIRVersion    string            `json:"fhirVersion"`
	Format         []string          `json:"format"`
	PatchFormat    []string          `json:"patchFormat"`
	Rest           []capabilityRest  `json:"rest"`
}

type capabilityRest struct {
	Extension   []extension          `json:"extension,omitempty"`
	Mode        string               `json:"mode"`
	Security    *restSecurity        `json:"security,omitempty"`
	Resource    []capabilityResource `json:"resource"`
	Interaction []codeOut            `json:"interaction"`
	Operation   []operationOut       `json:"operation,omitempty"`
	Compartment []string             `json:"compartment,omitempty"`
}

// extension is a FHIR extension with a URI value or nested extensions.
type extension struct {
	URL       string      `json:"url"`
	Extension []extension `json:"extension,omitempty"`
	ValueURI  string      `json:"valueUri,omitempty"`
}

type restSecurity struct {
	Extension   []extension `json:"extension,omitempty"`
	CORS        bool        `json:"cors"`
	Service     []concept   `json:"service"`
	Description string      `json:"description"`
}

type concept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type operationOut struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

type capabilityResource struct {
	Type              string         `json:"type"`
	Interaction       []codeOut      `json:"interaction"`
	Versioning        string         `json:"versioning"`
	ReadHistory       bool           `json:"readHistory"`
	UpdateCreate      bool           `json:"updateCreate"`
	ConditionalCreate bool           `json:"conditionalCreate"`
	ConditionalRead   string         `json:"conditionalRead"`
	ConditionalUpdate bool           `json:"conditionalUpdate"`
	ConditionalDelete string         `json:"conditionalDelete"`
	SearchInclude     []string       `json:"searchInclude,omitempty"`
	SearchRevInclude  []string       `json:"searchRevInclude,omitempty"`
	SearchParam       []searchParam  `json:"searchParam,omitempty"`
	Operation         []operationOut `json:"operation,omitempty"`
}

type codeOut struct {
	Code string `json:"code"`
}

type searchParam struct {
	Name       string `json:"name"`
	Definition string `json:"definition,omitempty"`
	Type       string `json:"type"`
}

// buildCapability describes what this server really wires: every resource
// type with the interactions above, the search parameters search.Parse
// applies, and transaction only when the store can commit atomically.
func buildCapability(opts Options) ([]byte, error) {
	baseURL, transactions := opts.BaseURL, opts.Store.SupportsTransactions()
	rest := capabilityRest{Mode: "server", Security: security(opts.OAuth)}
	if opts.SubscriptionWebSocket != "" {
		rest.Extension = []extension{{
			URL: "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket", ValueURI: opts.SubscriptionWebSocket,
		}}
	}
	for _, typ := range model.ResourceTypes() {
		res := capabilityResource{
			Type: typ, Versioning: "versioned-update", ReadHistory: true, UpdateCreate: true,
			ConditionalCreate: true, ConditionalRead: "not-supported", ConditionalUpdate: true,
			ConditionalDelete: "multiple", SearchParam: knownParams(typ),
		}
		for _, code := range typeInteractions {
			res.Interaction = append(res.Interaction, codeOut{code})
		}
		if len(res.SearchParam) > 0 {
			res.SearchInclude = []string{"*", typ + ":*"}
			res.SearchRevInclude = []string{"*"}
		}
		if typ == "Patient" {
			res.Operation = []operationOut{{Name: "everything", Definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything"}}
		}
		rest.Resource = append(rest.Resource, res)
	}
	if transactions {
		rest.Interaction = append(rest.Interaction, codeOut{"transaction"})
	}
	for _, code := range []string{"batch", "search-system", "history-system"} {
		rest.Interaction = append(rest.Interaction, codeOut{code})
	}
	// $reindex has no definition in the specification: it is this server's.
	rest.Operation = []operationOut{{Name: "reindex", Definition: baseURL + "/OperationDefinition/reindex"}}
	for _, comp := range compartments {
		rest.Compartment = append(rest.Compartment, "http://hl7.org/fhir/CompartmentDefinition/"+strings.ToLower(comp))
	}
	cs := capabilityStatement{
		ResourceType: "CapabilityStatement", Status: "active",
		Date: time.Now().UTC().Format(time.RFC3339), Publisher: "TeleHub", Kind: "instance",
		Software:       map[string]string{"name": "TeleHub"},
		Implementation: map[string]string{"description": "TeleHub FHIR R4 server", "url": baseURL},
		FHIRVersion:    "4.0.1",
		Format:         []string{"json", "application/fhir+json"},
		PatchFormat:    []string{mediaJSONPatch, "application/fhir+json"},
		Rest:           []capabilityRest{rest},
	}
	out, err := encodeJSON(cs)
	if err != nil {
		return nil, fmt.Errorf("capability statement: %w", err)
	}
	return out, nil
}

// knownParams returns the parameters search.Parse applies for typ (see servedKind).
func knownParams(typ string) []searchParam {
	var out []searchParam
	for _, p := range search.DefaultRegistry().Params(typ) {
		if !servedKind(p) {
			continue
		}
		out = append(out, searchParam{Name: p.Code, Definition: p.URL, Type: string(p.Kind)})
	}
	return out
}

func servedKind(p *search.Param) bool {
	switch {
	case p.Supported():
		return true
	case p.Kind == store.KindComposite:
		// Two-component composites are indexed as pairs; longer ones are not.
		return len(p.Components) == 2
	}
	// Special parameters served their own way (fhir/search words.go, near.go).
	return p.Code == "_text" || p.Code == "_content" || p.Code == "near"
}

// security describes SMART-on-FHIR authorization: the oauth-uris extension
// lets a client find the endpoints from the CapabilityStatement alone.
func security(oauth *smart.Endpoints) *restSecurity {
	if oauth == nil {
		return nil
	}
	var uris []extension
	for _, u := range []struct{ name, value string }{
		{"authorize", oauth.Authorize}, {"token", oauth.Token},
		{"introspect", oauth.Introspect}, {"revoke", oauth.Revoke}, {"register", oauth.Register},
	} {
		if u.value != "" {
			uris = append(uris, extension{URL: u.name, ValueURI: u.value})
		}
	}
	return &restSecurity{
		CORS: true,
		Service: []concept{{
			Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: "SMART-on-FHIR"}},
			Text:   "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
		}},
		Description: "Every interaction but this CapabilityStatement needs a bearer access token of TeleHub's SMART authorization server.",
		Extension: []extension{{
			URL:       "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			Extension: uris,
		}},
	}
}

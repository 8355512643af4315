package audit

import (
	"encoding/json"
	"fmt"
)

// Parameters returns the report as the FHIR Parameters resource the
// $verify-audit operation answers with: "intact" (boolean), "verified" and
// "head" (integers), and, when the chain is broken, a "break" part with
// "sequence", "event" (a Reference to the AuditEvent), "kind" (a code:
// modified, missing, reordered, head-mismatch) and "detail".
func (r Report) Parameters() ([]byte, error) {
	params := []parameter{
		{Name: "intact", ValueBoolean: boolPtr(r.OK())},
		{Name: "verified", ValueDecimal: json.Number(fmt.Sprint(r.Verified))},
		{Name: "head", ValueDecimal: json.Number(fmt.Sprint(r.Head))},
	}
	if b := r.Break; b != nil {
		params = append(params, parameter{Name: "break", Part: []parameter{
			{Name: "sequence", ValueDecimal: json.Number(fmt.Sprint(b.Sequence))},
			{Name: "event", ValueReference: &reference{Reference: resourceType + "/" + b.ID}},
			{Name: "kind", ValueCode: string(b.Kind)},
			{Name: "detail", ValueString: b.Detail},
		}})
	}
	body, err := json.Marshal(struct {
		ResourceType string      `json:"resourceType"`
		Parameter    []parameter `json:"parameter"`
	}{"Parameters", params})
	if err != nil {
		return nil, fmt.Errorf("audit: verify report: %w", err)
	}
	return body, nil
}

// parameter is one Parameters.parameter. Sequences are decimals: R4's
// integer is 32-bit.
type parameter struct {
	Name           string      `json:"name"`
	ValueBoolean   *bool       `json:"valueBoolean,omitempty"`
	ValueDecimal   json.Number `json:"valueDecimal,omitempty"`
	ValueCode      string      `json:"valueCode,omitempty"`
	ValueString    string      `json:"valueString,omitempty"`
	ValueReference *reference  `json:"valueReference,omitempty"`
	Part           []parameter `json:"part,omitempty"`
}

func boolPtr(b bool) *bool { return &b }

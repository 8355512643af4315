package smart

import (
	"fmt"
	"net/url"
	"testing"
)

func TestParseScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string // context type permissions query, or "error"
		isError bool
	}{
		{in: "patient/Observation.read", want: "patient Observation rs "},
		{in: "user/*.*", want: "user * cruds "},
		{in: "system/*.write", want: "system * cud "},
		{in: "patient/Observation.rs?category=laboratory", want: "patient Observation rs category=laboratory"},
		{in: "user/Patient.cruds", want: "user Patient cruds "},
		{in: "user/Patient.c", want: "user Patient c "},
		{in: "user/Patient.ds", want: "user Patient ds "},
		{in: "patient/Observation.s?category=vital-signs&status=final", want: "patient Observation s category=vital-signs&status=final"},
		{in: "openid", want: "   "},
		{in: "launch/patient", want: "   "},
		{in: "offline_access", want: "   "},
		{in: "patient/Observation.sr", isError: true},     // letters out of order
		{in: "patient/Observation.crudsx", isError: true}, // unknown letter
		{in: "patient/Observation.rr", isError: true},     // repeated letter
		{in: "patient/Observation.", isError: true},
		{in: "patient/Observation", isError: true},
		{in: "patient/.read", isError: true},
		{in: "patient/observation.read", isError: true}, // types start upper case
		{in: "patient", isError: true},
		{in: "patient/Observation.read?category=x", isError: true}, // queries are v2 only
		{in: "patient/Observation.rs?", isError: true},
		{in: "", isError: true},
		{in: "user/Obs ervation.read", isError: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := ParseScope(tt.in)
			if tt.isError {
				if err == nil {
					t.Fatalf("ParseScope(%q) = %+v, want an error", tt.in, s)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tt.in, err)
			}
			got := fmt.Sprintf("%s %s %s %s", s.Context, s.Type, s.Permissions, s.Query.Encode())
			if got != tt.want || s.Name != tt.in {
				t.Errorf("ParseScope(%q) = %q (name %q), want %q", tt.in, got, s.Name, tt.want)
			}
		})
	}
}

func mustScopes(t *testing.T, list string) []Scope {
	t.Helper()
	s, err := ParseScopes(list)
	if err != nil {
		t.Fatalf("ParseScopes(%q): %v", list, err)
	}
	return s
}

func TestCovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		have, want string
		covered    bool
	}{
		{"user/*.cruds", "user/Observation.rs", true},
		{"user/*.*", "user/Observation.read", true},
		{"user/Observation.read", "user/Observation.rs", true},
		{"user/Observation.read", "user/Observation.r", true},
		{"user/Observation.read", "user/Observation.write", false},
		{"user/Observation.rs", "user/*.rs", false},
		{"user/*.rs", "patient/Observation.rs", false}, // contexts differ
		{"patient/Observation.rs?category=laboratory", "patient/Observation.rs", false},
		{"patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=laboratory", true},
		{"patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=laboratory&status=final", true},
		{"patient/Observation.rs", "patient/Observation.rs?category=laboratory", true},
		{"openid", "openid", true},
		{"openid", "profile", false},
		{"launch", "launch/patient", false},
		{"user/*.cruds", "openid", false},
	}
	for _, tt := range tests {
		t.Run(tt.have+" covers "+tt.want, func(t *testing.T) {
			have, want := mustScopes(t, tt.have)[0], mustScopes(t, tt.want)[0]
			if got := have.Covers(want); got != tt.covered {
				t.Errorf("Covers = %v, want %v", got, tt.covered)
			}
		})
	}
}

func TestGrantsAllow(t *testing.T) {
	t.Parallel()
	lab := url.Values{"category": {"laboratory"}}
	tests := []struct {
		name    string
		scopes  string
		patient string
		i       Interaction
		typ     string
		params  url.Values
		want    string // "deny", "all", or the constraints
	}{
		{"user wildcard read", "user/*.read", "", Read, "Observation", nil, "all"},
		{"user wildcard search", "user/*.read", "", Search, "Patient", nil, "all"},
		{"v1 read is not write", "user/*.read", "", Update, "Observation", nil, "deny"},
		{"v1 write is create update delete", "user/Observation.write", "", Create, "Observation", nil, "all"},
		{"v1 write is not read", "user/Observation.write", "", Read, "Observation", nil, "deny"},
		{"other type", "user/Observation.rs", "", Read, "Condition", nil, "deny"},
		{"system all", "system/*.cruds", "", Delete, "Patient", nil, "all"},
		{"patient scope in compartment", "patient/Observation.rs", "123", Search, "Observation", nil, "[{Patient/123 }]"},
		{"patient scope without patient", "patient/Observation.rs", "", Read, "Observation", nil, "deny"},
		{"patient scope on other interaction", "patient/Observation.rs", "123", Create, "Observation", nil, "deny"},
		{"v2 query restricts", "user/Observation.rs?category=laboratory", "", Search, "Observation", nil, "[{ category=laboratory}]"},
		{"v2 query already in search", "user/Observation.rs?category=laboratory", "", Search, "Observation", lab, "all"},
		{"v2 query other value", "user/Observation.rs?category=laboratory", "", Search, "Observation", url.Values{"category": {"vital-signs"}}, "[{ category=laboratory}]"},
		{"patient v2 query", "patient/Observation.rs?category=laboratory", "7", Read, "Observation", nil, "[{Patient/7 category=laboratory}]"},
		{"two alternatives", "patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs", "7", Search, "Observation", nil,
			"[{Patient/7 category=laboratory} {Patient/7 category=vital-signs}]"},
		{"wider scope wins", "patient/Observation.rs user/Observation.rs", "7", Search, "Observation", nil, "all"},
		{"non-resource scopes grant nothing", "openid fhirUser launch/patient offline_access", "7", Read, "Patient", nil, "deny"},
		{"v2 letters", "user/Encounter.cu", "", Update, "Encounter", nil, "all"},
		{"v2 letters no delete", "user/Encounter.cu", "", Delete, "Encounter", nil, "deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Grants{Scopes: mustScopes(t, tt.scopes), Patient: tt.patient}
			d := g.Allow(tt.i, tt.typ, tt.params)
			var got string
			switch {
			case !d.Allowed:
				got = "deny"
			case d.Unrestricted:
				got = "all"
			default:
				got = "["
				for i, c := range d.AnyOf {
					if i > 0 {
						got += " "
					}
					got += fmt.Sprintf("{%s %s}", c.Compartment, c.Params.Encode())
				}
				got += "]"
			}
			if got != tt.want {
				t.Errorf("Allow(%c, %s, %v) = %s, want %s", tt.i, tt.typ, tt.params, got, tt.want)
			}
		})
	}
}

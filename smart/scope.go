package smart

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Interaction is one of the SMART v2 permissions: create, read, update,
// delete, search. A FHIR interaction maps onto one of them (vread and
// instance history are reads, patch is an update, type history is a search).
type Interaction byte

// The interactions, as their SMART v2 letters.
const (
	Create Interaction = 'c'
	Read   Interaction = 'r'
	Update Interaction = 'u'
	Delete Interaction = 'd'
	Search Interaction = 's'
)

// permissionOrder is the order SMART v2 requires letters to appear in.
const permissionOrder = "cruds"

// Scope is one parsed scope. A resource scope ("patient/Observation.rs")
// has Context, Type and Permissions set; any other scope ("openid",
// "launch/patient", "offline_access") only Name.
type Scope struct {
	Name        string // the scope as written
	Context     string // "patient", "user" or "system"; empty for non-resource scopes
	Type        string // a resource type or "*"
	Permissions string // SMART v2 letters in cruds order; v1 "read" is "rs", "write" "cud", "*" "cruds"
	Query       url.Values
}

// IsResource reports whether s grants access to resources.
func (s Scope) IsResource() bool { return s.Context != "" }

// Allows reports whether s includes interaction i.
func (s Scope) Allows(i Interaction) bool { return strings.IndexByte(s.Permissions, byte(i)) >= 0 }

// ParseScope parses one scope. Resource scopes are checked strictly (an
// unknown context, an empty type, letters out of order); any other
// well-formed token is returned as a non-resource scope.
func ParseScope(s string) (Scope, error) {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
		return Scope{}, fmt.Errorf("smart: invalid scope %q", s)
	}
	context, rest, ok := strings.Cut(s, "/")
	switch context {
	case "patient", "user", "system":
	default:
		return Scope{Name: s}, nil // openid, launch/patient, offline_access...
	}
	if !ok {
		return Scope{}, fmt.Errorf("smart: invalid scope %q", s)
	}
	rest, rawQuery, hasQuery := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok || !validType(typ) {
		return Scope{}, fmt.Errorf("smart: invalid resource type in scope %q", s)
	}
	letters, v2, err := parsePermissions(perms)
	if err != nil {
		return Scope{}, fmt.Errorf("smart: scope %q: %w", s, err)
	}
	sc := Scope{Name: s, Context: context, Type: typ, Permissions: letters}
	if hasQuery {
		if !v2 {
			return Scope{}, fmt.Errorf("smart: scope %q: a query needs SMART v2 permissions", s)
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil || len(q) == 0 {
			return Scope{}, fmt.Errorf("smart: scope %q: invalid query", s)
		}
		sc.Query = q
	}
	return sc, nil
}

func validType(typ string) bool {
	if typ == "*" {
		return true
	}
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return false
	}
	for _, c := range typ {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// parsePermissions turns "read", "write", "*" (v1) or letters of "cruds" in
// that order (v2) into letters, and reports whether the form was v2.
func parsePermissions(p string) (letters string, v2 bool, err error) {
	switch p {
	case "read":
		return "rs", false, nil
	case "write":
		return "cud", false, nil
	case "*":
		return "cruds", false, nil
	}
	last := -1
	for i := 0; i < len(p); i++ {
		at := strings.IndexByte(permissionOrder, p[i])
		if at <= last {
			return "", false, fmt.Errorf("permissions %q are not letters of %q in that order", p, permissionOrder)
		}
		last = at
	}
	if p == "" {
		return "", false, fmt.Errorf("no permissions")
	}
	return p, true, nil
}

// ParseScopes parses a space-separated scope list, dropping duplicates.
func ParseScopes(list string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.Fields(list) {
		s, err := ParseScope(f)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(o Scope) bool { return o.Name == s.Name }) {
			out = append(out, s)
		}
	}
	return out, nil
}

// FormatScopes joins scopes back into a space-separated list.
func FormatScopes(scopes []Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = s.Name
	}
	return strings.Join(names, " ")
}

// Covers reports whether granting s also grants every access of t: s may be
// wider (a wildcard type, more letters, no query) but never narrower. A
// non-resource scope covers only itself.
func (s Scope) Covers(t Scope) bool {
	if !s.IsResource() || !t.IsResource() {
		return s.Name == t.Name
	}
	if s.Context != t.Context || (s.Type != "*" && s.Type != t.Type) {
		return false
	}
	for i := 0; i < len(t.Permissions); i++ {
		if !s.Allows(Interaction(t.Permissions[i])) {
			return false
		}
	}
	return s.Query == nil || queryIncludes(t.Query, s.Query)
}

// queryIncludes reports whether every parameter value of sub is in q, that
// is whether a request restricted by q is also restricted by sub.
func queryIncludes(q, sub url.Values) bool {
	for name, values := range sub {
		for _, v := range values {
			if !slices.Contains(q[name], v) {
				return false
			}
		}
	}
	return true
}

// Has reports whether the list holds a scope named name.
func Has(scopes []Scope, name string) bool {
	return slices.ContainsFunc(scopes, func(s Scope) bool { return s.Name == name })
}

// CoveredBy reports whether every scope of want is covered by one of have.
func CoveredBy(want, have []Scope) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h Scope) bool { return h.Covers(w) }) {
			return false
		}
	}
	return true
}

// Grants answers access questions for the scopes of one token.
type Grants struct {
	Scopes []Scope
	// Patient is the id of the token's patient context; patient/ scopes
	// grant nothing without it.
	Patient string
}

// Constraint is one way a request may be allowed: the resources touched must
// be in Compartment (when set, as "Patient/123") and match Params (when set,
// as a search with these parameters would).
type Constraint struct {
	Compartment string
	Params      url.Values
}

// Decision is the answer of Grants.Allow.
type Decision struct {
	// Allowed is false when no scope grants the interaction on the type.
	Allowed bool
	// Unrestricted is true when one scope grants it with no constraint.
	Unrestricted bool
	// AnyOf lists, when Allowed but not Unrestricted, the constraints one of
	// which each resource touched must satisfy: the FHIR layer adds them to a
	// search, or checks the resource read or written against them.
	AnyOf []Constraint
}

// Allow answers whether the token may do interaction i on resources of type
// typ. params are the search parameters of the request (nil otherwise): a v2
// scope's query the request already includes is no constraint any more.
func (g Grants) Allow(i Interaction, typ string, params url.Values) Decision {
	var d Decision
	for _, s := range g.Scopes {
		if !s.IsResource() || !s.Allows(i) || (s.Type != "*" && s.Type != typ) {
			continue
		}
		var c Constraint
		switch s.Context {
		case "patient":
			if g.Patient == "" {
				continue
			}
			c.Compartment = "Patient/" + g.Patient
		}
		if s.Query != nil && !queryIncludes(params, s.Query) {
			c.Params = s.Query
		}
		d.Allowed = true
		if c.Compartment == "" && c.Params == nil {
			return Decision{Allowed: true, Unrestricted: true}
		}
		if !slices.ContainsFunc(d.AnyOf, func(o Constraint) bool { return sameConstraint(o, c) }) {
			d.AnyOf = append(d.AnyOf, c)
		}
	}
	return d
}

func sameConstraint(a, b Constraint) bool {
	return a.Compartment == b.Compartment && a.Params.Encode() == b.Params.Encode()
}

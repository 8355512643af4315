package search

import (
	"fmt"
	"strings"

	"github.com/telehub/telehub/store"
)

// Include is a parsed _include or _revinclude: the resources that resources of
// SourceType point to through their reference parameter Param (_include), or
// the resources of SourceType that point to the matches (_revinclude).
type Include struct {
	// Reverse is set for _revinclude.
	Reverse bool
	// Iterate is set by the :iterate (R4) or :recurse (older) modifier: the
	// include applies to included resources too.
	Iterate bool
	// SourceType holds the reference; "*" with Param "*" for "_include=*".
	SourceType string
	// Param is the reference parameter of SourceType, or "*" for all of them.
	Param string
	// TargetType restricts the referenced type ("" for any).
	TargetType string
}

// ParseInclude parses one value of _include or _revinclude (name may carry
// :iterate) for a search of resourceType, with the specification's parameters.
func ParseInclude(resourceType, name, value string) (Include, error) {
	return DefaultRegistry().ParseInclude(resourceType, name, value)
}

// ParseInclude parses "SourceType:param[:TargetType]", "SourceType:*" or "*".
// Without :iterate, an _include's source must be the searched type, and a
// _revinclude's parameter must be able to point to it.
func (r *Registry) ParseInclude(resourceType, name, value string) (Include, error) {
	base, modifier, _ := strings.Cut(name, ":")
	inc := Include{Reverse: base == "_revinclude", Iterate: modifier == "iterate" || modifier == "recurse"}
	switch {
	case base != "_include" && base != "_revinclude":
		return Include{}, fmt.Errorf("%s is not _include or _revinclude", name)
	case modifier != "" && !inc.Iterate:
		return Include{}, fmt.Errorf("%s: unknown modifier :%s", base, modifier)
	}
	if value == "*" {
		inc.SourceType, inc.Param = "*", "*"
		return inc, nil
	}
	parts := strings.Split(value, ":")
	if len(parts) < 2 || len(parts) > 3 || !isResourceType(parts[0]) || parts[1] == "" {
		return Include{}, fmt.Errorf("%s: %q is not SourceType:parameter[:TargetType]", name, value)
	}
	inc.SourceType, inc.Param = parts[0], parts[1]
	if len(parts) == 3 {
		inc.TargetType = parts[2]
	}
	if !inc.Reverse && !inc.Iterate && resourceType != "" && inc.SourceType != resourceType {
		return Include{}, fmt.Errorf("%s: %s is not the searched type %s (use %s:iterate)", name, inc.SourceType, resourceType, base)
	}
	if inc.Param == "*" {
		return inc, nil
	}
	p, ok := r.Lookup(inc.SourceType, inc.Param)
	if !ok {
		return Include{}, fmt.Errorf("%s: %w", name, unknownParam(inc.SourceType, inc.Param))
	}
	if p.Kind != store.KindReference {
		return Include{}, fmt.Errorf("%s: %s.%s is a %s parameter, not a reference", name, inc.SourceType, inc.Param, p.Kind)
	}
	if inc.TargetType != "" && len(p.Targets) > 0 && !contains(p.Targets, inc.TargetType) {
		return Include{}, fmt.Errorf("%s: %s.%s cannot point to %s", name, inc.SourceType, inc.Param, inc.TargetType)
	}
	if inc.Reverse && !inc.Iterate && resourceType != "" && len(p.Targets) > 0 && !contains(p.Targets, resourceType) {
		return Include{}, fmt.Errorf("%s: %s.%s cannot point to %s", name, inc.SourceType, inc.Param, resourceType)
	}
	return inc, nil
}

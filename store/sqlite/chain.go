package sqlite

import (
	"fmt"

	"github.com/telehub/telehub/store"
)

// Chained and reverse-chained conditions are subqueries of the same shape as
// a search: buildWhere over another "resources r", whose alias shadows the
// outer one, so that nesting needs no renaming. Both are uncorrelated: SQLite
// runs each once into an ephemeral index, then probes it.

// chained matches resources of types whose reference entries for param name
// ("Type/id") a current resource matching target. The names of the targets
// probe the (param, text) primary key of idx_text.
func chained(param string, target store.Query, types []string) (string, []any, error) {
	where, err := buildWhere(target)
	if err != nil {
		return "", nil, fmt.Errorf("chain: %w", err)
	}
	sub, args := entrySubquery("rid", "idx_text", param, types,
		"text IN (SELECT r.type || '/' || r.id FROM resources r WHERE "+where.sql()+")", where.args)
	return "r.rid IN (" + sub + ")", args, nil
}

// reverseChained matches resources named ("Type/id") by the reference
// entries for h.Param of a current resource matching h.Query. The names,
// split into type and id, probe the (type, id) index of resources.
func reverseChained(h store.Reverse) (string, []any, error) {
	where, err := buildWhere(h.Query)
	if err != nil {
		return "", nil, fmt.Errorf("_has: %w", err)
	}
	sub, args := entrySubquery("substr(text, 1, instr(text, '/') - 1), substr(text, instr(text, '/') + 1)",
		"idx_text", h.Param, h.Query.Types, "rid IN (SELECT r.rid FROM resources r WHERE "+where.sql()+")", where.args)
	return "(r.type, r.id) IN (" + sub + ")", args, nil
}

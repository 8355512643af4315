package dicomweb

import (
	"context"
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
)

// acceptRange is one media range of an Accept header.
type acceptRange struct {
	media  string // lower-case type/subtype
	params map[string]string
	q      float64
}

// parseAccept splits an Accept header into its ranges, best first (stable
// for equal q). Malformed ranges are skipped.
func parseAccept(header string) []acceptRange {
	var out []acceptRange
	for _, part := range splitAccept(header) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
			delete(params, "q")
		}
		out = append(out, acceptRange{media: mt, params: params, q: q})
	}
	slices.SortStableFunc(out, func(a, b acceptRange) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	return out
}

// splitAccept splits on commas outside quoted strings (multipart ranges
// carry quoted type parameters).
func splitAccept(h string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(h); i++ {
		switch h[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, h[start:i])
				start = i + 1
			}
		}
	}
	return append(out, h[start:])
}

// principalOf is the request's caller as an audit agent.
func principalOf(ctx context.Context) audit.Agent {
	if p := authz.FromContext(ctx); p != nil {
		return p.Agent()
	}
	return audit.Agent{}
}

// sortFunc is slices.SortStableFunc, named for the call sites' brevity.
func sortFunc[T any](s []T, cmp func(a, b T) int) { slices.SortStableFunc(s, cmp) }

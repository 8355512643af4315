package fhir

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// maxIterations bounds the rounds of :iterate includes.
const maxIterations = 4

// parseIncludes reads the _include and _revinclude parameters of a search
// of typ; a value that does not parse is reported in issues.
func (s *Server) parseIncludes(typ string, params url.Values) (incs []search.Include, applied url.Values, issues []search.Issue) {
	applied = url.Values{}
	for name, values := range params {
		base, _, _ := strings.Cut(name, ":")
		if base != "_include" && base != "_revinclude" {
			continue
		}
		for _, v := range values {
			inc, err := s.registry.ParseInclude(typ, name, v)
			if err != nil {
				issues = append(issues, search.Issue{Param: name, Message: err.Error()})
				continue
			}
			incs = append(incs, inc)
			applied.Add(name, v)
		}
	}
	return incs, applied, issues
}

// included are the resources the includes of one page add, in the order found.
type included struct {
	resources []store.Resource
	seen      map[string]bool // "Type/id" of matches and included resources
	truncated bool
	limit     int // at most this many resources; more set truncated
}

func resourceKey(r *store.Resource) string { return r.Type + "/" + r.ID }

// include runs the includes over a page of matches: once over the matches,
// then the :iterate ones over what the previous round added, until nothing
// new comes or the limit (Options.MaxIncluded) is reached.
func (s *Server) include(ctx context.Context, incs []search.Include, matches []store.Resource) (*included, error) {
	in := &included{seen: map[string]bool{}, limit: s.opts.MaxIncluded}
	for i := range matches {
		in.seen[resourceKey(&matches[i])] = true
	}
	if len(incs) == 0 {
		return in, nil
	}
	round := matches
	for iteration := 0; len(round) > 0 && iteration <= maxIterations && !in.truncated; iteration++ {
		start := len(in.resources)
		for _, inc := range incs {
			if iteration > 0 && !inc.Iterate {
				continue
			}
			found, err := s.includeOnce(ctx, inc, round, in.limit-len(in.resources)+1)
			if err != nil {
				return nil, err
			}
			in.add(found)
			if in.truncated {
				break
			}
		}
		round = in.resources[start:]
	}
	return in, nil
}

// add keeps the resources not seen yet, up to the limit.
func (in *included) add(found []store.Resource) {
	for i := range found {
		key := resourceKey(&found[i])
		if in.seen[key] {
			continue
		}
		if len(in.resources) == in.limit {
			in.truncated = true
			return
		}
		in.seen[key] = true
		in.resources = append(in.resources, found[i])
	}
}

// includeOnce runs one include over sources, reading at most limit resources.
func (s *Server) includeOnce(ctx context.Context, inc search.Include, sources []store.Resource, limit int) ([]store.Resource, error) {
	if inc.Reverse {
		return s.revInclude(ctx, inc, sources, limit)
	}
	targets, err := s.registry.IncludeTargets(inc, sources)
	if err != nil {
		return nil, fmt.Errorf("fhir: _include %s:%s: %w", inc.SourceType, inc.Param, err)
	}
	return s.readRefs(ctx, targets, limit)
}

// revInclude reads at most limit resources referencing sources. The
// references go to the store in chunks: one condition per reference and
// parameter, and "*" stands for every reference parameter there is.
func (s *Server) revInclude(ctx context.Context, inc search.Include, sources []store.Resource, limit int) ([]store.Resource, error) {
	chunk := 200
	if inc.Param == "*" {
		chunk = 5
	}
	var out []store.Resource
	for start := 0; start < len(sources) && len(out) < limit; start += chunk {
		refs := make([]string, 0, chunk)
		for i := start; i < min(start+chunk, len(sources)); i++ {
			refs = append(refs, resourceKey(&sources[i]))
		}
		q := s.registry.RevIncludeQuery(inc, refs)
		q.Count = limit - len(out)
		if err := s.restrict(ctx, smart.Read, &q, nil, false); err != nil {
			return nil, err
		}
		res, err := s.store.Search(ctx, q)
		if err != nil {
			return nil, searchFailed(fmt.Sprintf("_revinclude %s:%s", inc.SourceType, inc.Param), err)
		}
		out = append(out, res.Resources...)
	}
	return out, nil
}

// readRefs reads the current resources named "Type/id", one search per type.
func (s *Server) readRefs(ctx context.Context, refs []string, limit int) ([]store.Resource, error) {
	byType := map[string][]store.Condition{}
	var order []string
	for _, ref := range refs {
		typ, id, _ := strings.Cut(ref, "/")
		if byType[typ] == nil {
			order = append(order, typ)
		}
		byType[typ] = append(byType[typ], store.Condition{Param: store.ParamID, Op: store.OpExact, Text: id})
	}
	var out []store.Resource
	for _, typ := range order {
		if len(out) >= limit {
			break
		}
		q := store.Query{Types: []string{typ}, Clauses: []store.Clause{{Any: byType[typ]}}, Count: limit - len(out)}
		// Included resources pass the same rules as matches.
		if err := s.restrict(ctx, smart.Read, &q, nil, false); err != nil {
			return nil, err
		}
		res, err := s.store.Search(ctx, q)
		if err != nil {
			return nil, searchFailed("_include of "+typ, err)
		}
		out = append(out, res.Resources...)
	}
	return out, nil
}

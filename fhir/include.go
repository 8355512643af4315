package fhir

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// maxIncluded bounds the resources _include and _revinclude add to one page;
// beyond it the page says so with an OperationOutcome warning.
const maxIncluded = 1000

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
			if err == nil && inc.Reverse && inc.SourceType == "*" {
				err = fmt.Errorf("%s=*: a reverse include needs a source type", name)
			}
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
}

func resourceKey(r *store.Resource) string { return r.Type + "/" + r.ID }

// include runs the includes over a page of matches: once over the matches,
// then the :iterate ones over what the previous round added, until nothing
// new comes or maxIncluded is reached.
func (s *Server) include(ctx context.Context, incs []search.Include, matches []store.Resource) (*included, error) {
	in := &included{seen: map[string]bool{}}
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
			found, err := s.includeOnce(ctx, inc, round, maxIncluded-len(in.resources)+1)
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

// add keeps the resources not seen yet, up to maxIncluded.
func (in *included) add(found []store.Resource) {
	for i := range found {
		key := resourceKey(&found[i])
		if in.seen[key] {
			continue
		}
		if len(in.resources) == maxIncluded {
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
		refs := make([]string, len(sources))
		for i := range sources {
			refs[i] = resourceKey(&sources[i])
		}
		q := s.revIncludeQuery(inc, refs)
		q.Count = limit
		res, err := s.store.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("fhir: _revinclude %s:%s: %w", inc.SourceType, inc.Param, err)
		}
		return res.Resources, nil
	}
	targets, err := s.includeTargets(inc, sources)
	if err != nil {
		return nil, err
	}
	return s.readRefs(ctx, targets, limit)
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
		res, err := s.store.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("fhir: _include %s: %w", typ, err)
		}
		out = append(out, res.Resources...)
	}
	return out, nil
}

// includeTargets returns the "Type/id" references the include follows from
// sources, without repeats. The references are read from the sources' index
// entries, extracted again here (the store keeps them but does not return them).
func (s *Server) includeTargets(inc search.Include, sources []store.Resource) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for i := range sources {
		r := &sources[i]
		if inc.SourceType != "*" && r.Type != inc.SourceType {
			continue
		}
		entries, err := s.extractor().Extract(r.Type, r.Body)
		if err != nil {
			return nil, fmt.Errorf("fhir: _include from %s/%s: %w", r.Type, r.ID, err)
		}
		for _, e := range entries {
			if e.Kind != store.KindReference || inc.Param != "*" && e.Param != inc.Param {
				continue
			}
			typ, id, ok := strings.Cut(e.Text, "/")
			if !ok || !model.IsResourceType(typ) || !validID(id) || inc.TargetType != "" && typ != inc.TargetType {
				continue
			}
			if !seen[e.Text] {
				seen[e.Text] = true
				out = append(out, e.Text)
			}
		}
	}
	return out, nil
}

// revIncludeQuery finds the resources of the include's source type that
// reference any of refs through its parameter (every reference parameter of
// the source type for "SourceType:*").
func (s *Server) revIncludeQuery(inc search.Include, refs []string) store.Query {
	params := []string{inc.Param}
	if inc.Param == "*" {
		params = params[:0]
		for _, p := range s.registry.Params(inc.SourceType) {
			if p.Kind == store.KindReference {
				params = append(params, p.Code)
			}
		}
	}
	var clause store.Clause
	for _, p := range params {
		for _, ref := range refs {
			if inc.TargetType != "" && !strings.HasPrefix(ref, inc.TargetType+"/") {
				continue
			}
			clause.Any = append(clause.Any, store.Condition{Param: p, Op: store.OpExact, Text: ref})
		}
	}
	if len(clause.Any) == 0 {
		// Nothing can match: an impossible id keeps the query well formed.
		clause.Any = []store.Condition{{Param: store.ParamID, Op: store.OpExact, Text: "\x00"}}
	}
	return store.Query{Types: []string{inc.SourceType}, Clauses: []store.Clause{clause}}
}

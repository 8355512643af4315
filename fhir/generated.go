package fhir

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/store"
)

// Generated is a resource a TeleHub component builds itself from data it
// holds, and whose bulk grows with that data: an ImagingStudy lists every
// instance of its study. An update through Update parses, validates and
// indexes the whole body, and those costs (memory above all: the parsed
// model of a study of thousands of instances holds megabytes) would grow
// with the data at every version. UpdateGenerated parses and validates the
// outline only, and indexes the bulk a part at a time, so that a version
// costs the body's bytes and its index entries, not a parse of the whole;
// and when the caller says how the bulk grew (Growth), only the parts
// added, the store keeping the previous version's entries. With a spliced
// body (store.Splice), a version does not even cost the body's bytes: it
// writes its outline and names the pieces, written beforehand, that hold
// the bulk.
//
// The caller vouches for what is not parsed: Body is the Outline with the
// bulk put back, compact JSON, or spliced; and the bulk's elements are
// valid (built from checked values, or kept from versions validated
// before). The bulk's full-text words are not indexed (_text and _content
// find the outline's), and the parameters of the bulk's entries are none
// of the outline's.
type Generated struct {
	// Outline is the resource without its bulk: parsed, validated and
	// indexed as the body of an update is.
	Outline []byte
	// Body is the whole resource, compact, or its spliced form, whose
	// outline is Outline with an empty list where each list of the bulk
	// goes; it is stored with the id and meta the update gives it.
	Body []byte
	// Bulk yields the bulk again in parts, each a JSON object of the same
	// resource type holding some of it where Body holds it (an
	// ImagingStudy whose one series lists some instances), for its index
	// entries, each time it is ranged over (a write that lost a race to
	// another writer is built again). A part may reuse the previous part's
	// bytes.
	Bulk iter.Seq[[]byte]
	// Growth, when set, says how the bulk grew from a previous version, so
	// that the update hands the store the index entries it adds rather than
	// all of them (see buildGrowth).
	Growth *Growth
}

// Growth is how a Generated resource's bulk grew from the previous
// version: all of that version's bulk is in the new one, unchanged, and
// Added yields the rest.
type Growth struct {
	// Version is the previous version, Outline its outline (its meta's
	// versionId and lastUpdated may be left out).
	Version int64
	Outline []byte
	// Added yields, as Bulk does, the parts of the bulk the previous
	// version lacks.
	Added iter.Seq[[]byte]
}

// UpdateGenerated stores g as the new version of typ/id, as Update does
// (version, If-Match, history, change events), validating and indexing it
// as Generated says.
func (s *Server) UpdateGenerated(ctx context.Context, typ, id string, g Generated, ifMatch int64) (*store.Resource, error) {
	return s.change(ctx, &call{method: http.MethodPut, typ: typ, id: id, body: g.Outline, generated: &g}, ifMatch)
}

// buildGenerated makes the write of a Generated update: the outline's,
// with the whole body, and the index entries of the outline and of every
// part of the bulk, without repeats (the store keeps an entry once).
func (s *Server) buildGenerated(ctx context.Context, ch *change, now time.Time) error {
	g := ch.call.generated
	if err := s.buildResource(ch, g.Outline, now, http.StatusBadRequest); err != nil {
		return err
	}
	w := &ch.writes[0]
	body, err := store.Restamp(g.Body, func(outline []byte) []byte {
		return model.Stamp(w.Type, w.ID, outline, w.Version, w.LastUpdated)
	})
	if err != nil {
		return fmt.Errorf("fhir: build %s/%s: %w", w.Type, w.ID, err)
	}
	w.Body = body
	if len(s.custom.forType(w.Type)) > 0 {
		// Custom parameters are evaluated on the whole resource: their
		// expressions may reach into the bulk.
		if s.pieces != nil && store.IsSpliced(body) {
			if body, err = store.Assemble(ctx, body, s.pieces.Piece); err != nil {
				return err
			}
		}
		index, err := s.indexEntries(w.Type, body)
		if err != nil {
			return fmt.Errorf("fhir: build %s/%s: %w", w.Type, w.ID, err)
		}
		w.Index = index
		return nil
	}
	if gr := g.Growth; gr != nil && ch.current != nil && !ch.current.Deleted && ch.current.VersionID == gr.Version {
		grown, err := s.buildGrowth(w, g)
		if grown || err != nil {
			return err
		}
	}
	index, err := s.appendBulkEntries(w.Index, w, g.Bulk, func(store.IndexEntry) bool { return true })
	if err != nil {
		return err
	}
	w.Index = sortedEntries(index)
	return nil
}

// appendBulkEntries appends to index the entries of every part of the
// bulk that wanted keeps.
func (s *Server) appendBulkEntries(index []store.IndexEntry, w *store.Write, parts iter.Seq[[]byte], wanted func(store.IndexEntry) bool) ([]store.IndexEntry, error) {
	for part := range parts {
		entries, err := s.bulkExtract.Extract(w.Type, part)
		if err != nil {
			return nil, fmt.Errorf("fhir: build %s/%s: bulk: %w", w.Type, w.ID, err)
		}
		for _, e := range entries {
			if wanted(e) {
				index = append(index, e)
			}
		}
	}
	return index, nil
}

// sortedEntries sorts index and drops its repeats (the store keeps an
// entry once).
func sortedEntries(index []store.IndexEntry) []store.IndexEntry {
	slices.SortFunc(index, compareEntries)
	return slices.Compact(index)
}

func compareEntries(a, b store.IndexEntry) int {
	return cmp.Or(strings.Compare(a.Param, b.Param), strings.Compare(string(a.Kind), string(b.Kind)),
		strings.Compare(a.Text, b.Text), cmp.Compare(a.Low, b.Low), cmp.Compare(a.High, b.High))
}

// buildGrowth indexes a Generated update that grew from the current version
// as a store.PartialIndex write, and reports whether it did. The bulk's
// index entries grow with it (an ImagingStudy of 2,860 instances has some
// 8,600), and a version that replaced them all held them all at once, and
// had the store delete and insert them all again: the memory of a round of
// a study's STOWs grew with the study. The previous version's bulk is all
// in the new one, so that its entries are still true, and the bulk's
// parameters are none of the outline's: the write replaces the parameters
// of which the previous outline had an entry the new one lacks, and adds
// the outline's entries the previous one lacked and those of the added
// parts. An added part with an entry of an outline's parameter breaks that
// contract: the update is then indexed whole (false).
func (s *Server) buildGrowth(w *store.Write, g *Generated) (bool, error) {
	previous, err := s.extract.Extract(w.Type, g.Growth.Outline)
	if err != nil {
		return false, fmt.Errorf("fhir: build %s/%s: previous outline: %w", w.Type, w.ID, err)
	}
	outlineParams := map[string]bool{}
	had := make(map[store.IndexEntry]bool, len(previous))
	for _, e := range previous {
		had[e], outlineParams[e.Param] = true, true
	}
	has := make(map[store.IndexEntry]bool, len(w.Index))
	for _, e := range w.Index {
		has[e], outlineParams[e.Param] = true, true
	}
	replaced := map[string]bool{}
	for e := range had {
		if !has[e] {
			replaced[e.Param] = true
		}
	}
	index := make([]store.IndexEntry, 0, len(w.Index))
	for _, e := range w.Index {
		if replaced[e.Param] || !had[e] {
			index = append(index, e)
		}
	}
	outline := len(index)
	index, err = s.appendBulkEntries(index, w, g.Growth.Added, func(store.IndexEntry) bool { return true })
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(index[outline:], func(e store.IndexEntry) bool { return outlineParams[e.Param] }) {
		return false, nil
	}
	w.Index = sortedEntries(index)
	w.PartialIndex = true
	w.Replaced = slices.Sorted(maps.Keys(replaced))
	return true, nil
}

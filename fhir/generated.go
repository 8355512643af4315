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
// added, the store keeping the previous version's entries.
//
// The caller vouches for what is not parsed: Body is the Outline with the
// bulk put back, compact JSON, and the bulk's elements are valid (built
// from checked values, or kept from versions validated before).
type Generated struct {
	// Outline is the resource without its bulk: parsed, validated and
	// indexed as the body of an update is.
	Outline []byte
	// Body is the whole resource, compact; it is stored with the id and
	// meta the update gives it.
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
func (s *Server) buildGenerated(ch *change, now time.Time) error {
	g := ch.call.generated
	if err := s.buildResource(ch, g.Outline, now, http.StatusBadRequest); err != nil {
		return err
	}
	w := &ch.writes[0]
	w.Body = model.Stamp(w.Type, w.ID, g.Body, w.Version, w.LastUpdated)
	if len(s.custom.forType(w.Type)) > 0 {
		// Custom parameters are evaluated on the whole resource: their
		// expressions may reach into the bulk.
		index, err := s.indexEntries(w.Type, w.Body)
		if err != nil {
			return fmt.Errorf("fhir: build %s/%s: %w", w.Type, w.ID, err)
		}
		w.Index = index
		return nil
	}
	if gr := g.Growth; gr != nil && ch.current != nil && !ch.current.Deleted && ch.current.VersionID == gr.Version {
		return s.buildGrowth(w, g)
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
		entries, err := s.extract.Extract(w.Type, part)
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
// as a store.PartialIndex write. The bulk's index entries grow with it (an
// ImagingStudy of 2,860 instances has some 8,600 besides its words), and a
// version that replaced them all held them all at once, and had the store
// delete and insert them all again: the memory of a round of a study's
// STOWs grew with the study. A parameter's entries are the outline's and
// the bulk's; the previous version's bulk is all in the new one, so that
// its entries are still true, and the write adds the outline's and those
// of the added parts. Only a parameter of which the previous outline had an
// entry the new one lacks is replaced, its entries gathered again from the
// outline and every part of the bulk (the bulk may give that entry too).
func (s *Server) buildGrowth(w *store.Write, g *Generated) error {
	previous, err := s.extract.Extract(w.Type, g.Growth.Outline)
	if err != nil {
		return fmt.Errorf("fhir: build %s/%s: previous outline: %w", w.Type, w.ID, err)
	}
	replaced := map[string]bool{}
	for _, e := range previous {
		if !slices.Contains(w.Index, e) {
			replaced[e.Param] = true
		}
	}
	index := w.Index
	if len(replaced) > 0 {
		if index, err = s.appendBulkEntries(index, w, g.Bulk, func(e store.IndexEntry) bool { return replaced[e.Param] }); err != nil {
			return err
		}
	}
	if index, err = s.appendBulkEntries(index, w, g.Growth.Added, func(e store.IndexEntry) bool { return !replaced[e.Param] }); err != nil {
		return err
	}
	w.Index = sortedEntries(index)
	w.PartialIndex = true
	w.Replaced = slices.Sorted(maps.Keys(replaced))
	return nil
}

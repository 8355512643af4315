package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telehub/telehub/store"
)

// batchSize bounds the instances one index commit takes: a request of
// thousands of instances commits every batchSize of them, so that the
// records waiting in memory do not grow with the upload.
const batchSize = 200

// stowBatch holds the instances of a STOW request whose blobs are stored
// (or wait in the spool's pack) and whose index records wait for one
// commit with their series and study records. Storing ten instances costs
// one transaction, not thirty, and on a DirBlobs one file.
type stowBatch struct {
	spool   *spool
	items   []*pending
	sops    map[string]*pending
	studies map[string]bool // studies this request creates (see stowPart)
	patient map[string]Dataset
}

// newBatch starts the batch of a STOW request; abandon ends it.
func (s *Server) newBatch() *stowBatch {
	sp := &spool{tempDir: s.opts.TempDir}
	if d, ok := s.opts.Blobs.(*DirBlobs); ok {
		sp.dir = d
	}
	return &stowBatch{spool: sp}
}

// patientOf returns the patient attributes (group 0010) of attrs, the
// same Dataset as the previous part's of the study when they are equal:
// a request of thousands of instances keeps one copy.
func (b *stowBatch) patientOf(study string, attrs Dataset) Dataset {
	p := Dataset{}
	for k, a := range attrs {
		if strings.HasPrefix(k, "0010") {
			p[k] = a
		}
	}
	if prev, ok := b.patient[study]; ok && reflect.DeepEqual(prev, p) {
		return prev
	}
	if b.patient == nil {
		b.patient = map[string]Dataset{}
	}
	b.patient[study] = p
	return p
}

// pending is an instance of a batch.
type pending struct {
	res      *stowResult
	rec      *instanceRecord
	existing *instanceRecord // the record it replaces (Options.Overwrite), or nil
	also     []*stowResult   // parts of the request with the same SOP Instance UID, which share its fate
}

// version is the version the instance record is written as.
func (p *pending) version() int64 {
	if p.existing != nil {
		return p.existing.version + 1
	}
	return 1
}

func (b *stowBatch) add(p *pending) {
	if b.sops == nil {
		b.sops = map[string]*pending{}
	}
	b.items = append(b.items, p)
	b.sops[p.rec.UID] = p
}

// pendingOf returns the instance of the batch with that SOP Instance UID.
func (b *stowBatch) pendingOf(sop string) *pending { return b.sops[sop] }

func (b *stowBatch) creates(study string) bool { return b.studies[study] }

func (b *stowBatch) created(study string) {
	if b.studies == nil {
		b.studies = map[string]bool{}
	}
	b.studies[study] = true
}

// commit makes the batch's blobs durable (the pack sealed), then writes
// its instance records and the records of their series and studies in one
// store commit. Counts are kept incrementally (a new instance adds one to
// its series and study), which the compare-and-set on the series and
// study records keeps exact under concurrent STOWs: on a conflict
// everything is read again and the commit retried. An instance that a
// concurrent STOW stored first is accepted when it has the same content,
// refused as a duplicate otherwise. Index failures are the parts'
// (0x0110), not the request's.
func (s *Server) commit(ctx context.Context, b *stowBatch) error {
	if len(b.items) == 0 {
		return nil
	}
	ctx = detach(ctx) // the blobs are stored: a client hanging up must not orphan them
	items := b.items
	b.items, b.sops = nil, nil
	pack, err := b.spool.seal()
	if err != nil {
		s.log.ErrorContext(ctx, "dicomweb: store blob files", "err", err)
		s.failPending(ctx, items, reasonOutOfResources)
		s.forgetPack(ctx, pack)
		return nil
	}
	indexed := false
	defer func() {
		if !indexed { // no record names the pack
			s.forgetPack(ctx, pack)
		}
	}()
	// Commits into one study on this node take turns: two of them would
	// update the same study record, and the second would only lose its
	// compare-and-set and start again.
	defer s.commitLocks.lock(studiesOfBatch(items))()
	if !s.idx.st.SupportsTransactions() {
		indexed = true // some instances may be, one by one
		return s.commitEach(ctx, items)
	}
	for range maxConflicts {
		writes, err := s.batchWrites(ctx, items)
		if err == nil {
			err = s.idx.st.Commit(ctx, writes)
		}
		if err == nil {
			indexed = true
			s.dropReplaced(ctx, items)
			for _, p := range items {
				p.res.rec = p.rec.head()
			}
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			s.log.ErrorContext(ctx, "dicomweb: commit instance records", "instances", len(items), "err", err)
			s.failPending(ctx, items, reasonProcessing)
			return nil
		}
		if items, err = s.recheck(ctx, items); err != nil {
			indexed = true // unknown: keep the pack
			return err
		}
		if len(items) == 0 {
			return nil
		}
	}
	s.failPending(ctx, items, reasonProcessing)
	return fmt.Errorf("dicomweb: commit %d instances: too many concurrent updates", len(items))
}

// studiesOfBatch lists the studies of a batch's instances.
func studiesOfBatch(items []*pending) []string {
	var out []string
	for _, p := range items {
		if !slices.Contains(out, p.rec.Study) {
			out = append(out, p.rec.Study)
		}
	}
	return out
}

// stripedLocks are mutexes taken by key, a stripe per key: as many locks
// as there are stripes, whatever the number of keys.
type stripedLocks [64]sync.Mutex

// lock takes the stripes of keys, in stripe order (so that two callers
// never wait for each other), and returns their release.
func (l *stripedLocks) lock(keys []string) (unlock func()) {
	var stripes []int
	for _, k := range keys {
		h := fnv.New32a()
		h.Write([]byte(k))
		if i := int(h.Sum32() % uint32(len(l))); !slices.Contains(stripes, i) {
			stripes = append(stripes, i)
		}
	}
	slices.Sort(stripes)
	for _, i := range stripes {
		l[i].Lock()
	}
	return func() {
		for _, i := range stripes {
			l[i].Unlock()
		}
	}
}

// dropReplaced deletes the blobs of the instances the stored ones replaced.
func (s *Server) dropReplaced(ctx context.Context, items []*pending) {
	for _, p := range items {
		if p.existing != nil && p.existing.Blob != p.rec.Blob {
			s.dropBlob(ctx, p.existing.Blob)
		}
	}
}

// dropBlob deletes the blob of an instance no record names any more,
// unless it is a pack: the other instances in it stay, and so do its
// bytes (space a replaced instance leaves in a pack is not reclaimed).
func (s *Server) dropBlob(ctx context.Context, key string) {
	if isPack(key) {
		return
	}
	if err := s.opts.Blobs.Delete(ctx, key); err != nil && !errors.Is(err, ErrBlobNotFound) {
		s.log.WarnContext(ctx, "dicomweb: delete unindexed blob", "key", key, "err", err)
	}
}

// recheck reads the instances of a batch again after a conflict: those a
// concurrent STOW stored meanwhile are settled (accepted or duplicates) and
// leave the batch; the others are returned, with what they now replace.
func (s *Server) recheck(ctx context.Context, items []*pending) ([]*pending, error) {
	var keep []*pending
	for _, p := range items {
		now, err := s.idx.instance(ctx, p.rec.UID)
		switch {
		case isNotFound(err):
			now = nil
		case err != nil:
			return nil, fmt.Errorf("read instance %s: %w", p.rec.UID, err)
		}
		switch {
		case now == nil && p.existing == nil, now != nil && p.existing != nil && now.version == p.existing.version:
			keep = append(keep, p) // unchanged: the conflict was elsewhere
		case now != nil && now.SHA256 == p.rec.SHA256:
			p.res.rec = now.head() // the same content, stored by another request under the same key
		case now != nil && s.opts.Overwrite && now.Study == p.rec.Study && now.Series == p.rec.Series:
			p.existing = now
			keep = append(keep, p)
		default:
			s.failPending(ctx, []*pending{p}, reasonDuplicate)
		}
	}
	return keep, nil
}

// failPending marks instances failed and removes the blobs they stored
// on their own (a pack is the commit's to remove).
func (s *Server) failPending(ctx context.Context, items []*pending, reason int) {
	for _, p := range items {
		p.res.failure, p.res.rec = reason, nil
		for _, r := range p.also {
			r.failure, r.rec = reason, nil
		}
		if p.existing == nil || p.existing.Blob != p.rec.Blob {
			s.dropBlob(ctx, p.rec.Blob)
		}
	}
}

// abandon ends a batch: the instances not committed (the request failed
// on the server's side before its end) fail and their blobs are removed,
// and so is the spool's file.
func (s *Server) abandon(b *stowBatch) {
	if len(b.items) > 0 {
		s.failPending(context.Background(), b.items, reasonProcessing)
		b.items = nil
	}
	b.spool.close()
}

// batchWrites reads the series and study records the batch touches and
// returns the writes of one commit: every instance record, each series
// and study once with its counts moved by the instances new to it.
func (s *Server) batchWrites(ctx context.Context, items []*pending) ([]store.Write, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	writes := make([]store.Write, 0, len(items)+2)
	series := map[string]*seriesRecord{}
	studies := map[string]*studyRecord{}
	var seriesOrder, studyOrder []string
	for _, p := range items {
		w, err := recordWrite(typeInstance, p.rec.UID, p.version(), now, p.rec, p.rec.entries())
		if err != nil {
			return nil, err
		}
		writes = append(writes, w)

		st := studies[p.rec.Study]
		if st == nil {
			if st, err = s.idx.study(ctx, p.rec.Study); err != nil && !isNotFound(err) {
				return nil, err
			}
			st.UID = p.rec.Study
			studies[p.rec.Study] = st
			studyOrder = append(studyOrder, p.rec.Study)
		}
		se := series[p.rec.Series]
		if se == nil {
			if se, err = s.idx.series(ctx, p.rec.Series); err != nil && !isNotFound(err) {
				return nil, err
			}
			if se.UID == "" {
				st.Series++ // a series new to the study
			}
			se.Study, se.UID = p.rec.Study, p.rec.Series
			series[p.rec.Series] = se
			seriesOrder = append(seriesOrder, p.rec.Series)
		}
		// The latest instance's attributes speak for its series and study.
		se.Attrs = seriesAttrs(p.rec.Attrs)
		st.Attrs = studyAttrs(p.rec.Attrs)
		if m := se.Attrs.First(tagModality); m != "" && !slices.Contains(st.Modalities, m) {
			st.Modalities = append(st.Modalities, m)
			slices.Sort(st.Modalities)
		}
		if p.existing == nil {
			se.Instances++
			st.Instances++
		}
	}
	for _, uid := range seriesOrder {
		se := series[uid]
		w, err := recordWrite(typeSeries, uid, se.version+1, now, se, se.entries())
		if err != nil {
			return nil, err
		}
		writes = append(writes, w)
	}
	for _, uid := range studyOrder {
		st := studies[uid]
		w, err := recordWrite(typeStudy, uid, st.version+1, now, st, st.entries())
		if err != nil {
			return nil, err
		}
		writes = append(writes, w)
	}
	return writes, nil
}

// commitEach is commit on a store whose Commit takes one write at a time
// (MongoDB without a replica set): each instance record is written on its
// own, then each series and study record has its counts moved, every
// write compare-and-set and retried on a conflict.
func (s *Server) commitEach(ctx context.Context, items []*pending) error {
	var stored []*pending
	for _, p := range items {
		for round := 0; ; round++ {
			w, err := recordWrite(typeInstance, p.rec.UID, p.version(), time.Now().UTC().Truncate(time.Millisecond), p.rec, p.rec.entries())
			if err == nil {
				err = s.idx.st.Commit(ctx, []store.Write{w})
			}
			if err == nil {
				stored = append(stored, p)
				break
			}
			if errors.Is(err, store.ErrConflict) && round < maxConflicts {
				kept, err := s.recheck(ctx, []*pending{p})
				if err != nil {
					return err
				}
				if len(kept) == 1 {
					continue
				}
				break // settled by the recheck
			}
			s.log.ErrorContext(ctx, "dicomweb: write instance record", "sop", p.rec.UID, "err", err)
			s.failPending(ctx, []*pending{p}, reasonProcessing)
			break
		}
	}
	s.dropReplaced(ctx, stored)
	defer func() {
		for _, p := range stored {
			p.res.rec = p.rec.head()
		}
	}()

	type delta struct {
		attrs     Dataset
		instances int
		series    int
		modality  []string
		study     string
	}
	var seriesOrder, studyOrder []string
	series, studies := map[string]*delta{}, map[string]*delta{}
	for _, p := range stored {
		se, st := series[p.rec.Series], studies[p.rec.Study]
		if se == nil {
			se = &delta{study: p.rec.Study}
			series[p.rec.Series] = se
			seriesOrder = append(seriesOrder, p.rec.Series)
		}
		if st == nil {
			st = &delta{}
			studies[p.rec.Study] = st
			studyOrder = append(studyOrder, p.rec.Study)
		}
		se.attrs, st.attrs = p.rec.Attrs, p.rec.Attrs
		if m := p.rec.Attrs.First(tagModality); m != "" && !slices.Contains(st.modality, m) {
			st.modality = append(st.modality, m)
		}
		if p.existing == nil {
			se.instances++
			st.instances++
		}
	}
	for _, uid := range seriesOrder {
		d := series[uid]
		created, err := s.idx.moveSeries(ctx, uid, d.study, seriesAttrs(d.attrs), d.instances)
		if err != nil {
			return err
		}
		if created {
			studies[d.study].series++
		}
	}
	for _, uid := range studyOrder {
		d := studies[uid]
		if err := s.idx.moveStudy(ctx, uid, studyAttrs(d.attrs), d.instances, d.series, d.modality); err != nil {
			return err
		}
	}
	return nil
}

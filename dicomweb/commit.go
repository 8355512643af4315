package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/telehub/telehub/store"
)

// batchSize bounds the instances one index commit takes: a request of
// thousands of instances commits every batchSize of them, so that the
// records waiting in memory do not grow with the upload.
const batchSize = 200

// stowBatch holds the instances of a STOW request whose blobs are stored
// and whose index records wait for one commit with their series and study
// records. Storing ten instances costs one transaction, not thirty.
type stowBatch struct {
	items   []*pending
	sops    map[string]bool
	files   []*os.File      // files placed in DirBlobs folders, to sync before the commit
	folders map[string]bool // and their folders
	studies map[string]bool // studies this request creates (see stowPart)
	patient map[string]Dataset
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
		b.sops = map[string]bool{}
	}
	b.items = append(b.items, p)
	b.sops[p.rec.UID] = true
}

func (b *stowBatch) holds(sop string) bool { return b.sops[sop] }

// placed records a file renamed into a DirBlobs folder: both are synced
// at the commit, and the batch closes the file.
func (b *stowBatch) placed(f *os.File, folders []string) {
	if b.folders == nil {
		b.folders = map[string]bool{}
	}
	for _, dir := range folders {
		b.folders[dir] = true
	}
	b.files = append(b.files, f)
}

// sync makes the placed files, then their folders, durable. The files are
// synced concurrently: the file system then commits them together.
func (b *stowBatch) sync() error {
	defer b.release()
	errs := make(chan error, len(b.files))
	sem := make(chan struct{}, syncConcurrency)
	for _, f := range b.files {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- f.Sync()
		}()
	}
	var first error
	for range b.files {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	for dir := range b.folders {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// release closes the placed files.
func (b *stowBatch) release() {
	for _, f := range b.files {
		f.Close()
	}
	b.files, b.folders = nil, nil
}

// syncConcurrency bounds the file syncs of a commit in flight at once.
const syncConcurrency = 16

func (b *stowBatch) creates(study string) bool { return b.studies[study] }

func (b *stowBatch) created(study string) {
	if b.studies == nil {
		b.studies = map[string]bool{}
	}
	b.studies[study] = true
}

// commit makes the batch's blobs durable, then writes its instance records
// and the records of their series and studies in one store commit. Counts
// are kept incrementally (a new instance adds one to its series and
// study), which the compare-and-set on the series and study records keeps
// exact under concurrent STOWs: on a conflict everything is read again and
// the commit retried. An instance that a concurrent STOW stored first is
// accepted when it has the same content, refused as a duplicate otherwise.
// Index failures are the parts' (0x0110), not the request's.
func (s *Server) commit(ctx context.Context, b *stowBatch) error {
	if len(b.items) == 0 {
		return nil
	}
	ctx = detach(ctx) // the blobs are stored: a client hanging up must not orphan them
	items := b.items
	b.items, b.sops = nil, nil
	if err := b.sync(); err != nil {
		s.log.ErrorContext(ctx, "dicomweb: sync blob files", "err", err)
		s.failPending(ctx, items, reasonOutOfResources)
		return nil
	}
	if !s.idx.st.SupportsTransactions() {
		return s.commitEach(ctx, items)
	}
	for range maxConflicts {
		writes, err := s.batchWrites(ctx, items)
		if err == nil {
			err = s.idx.st.Commit(ctx, writes)
		}
		if err == nil {
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
			return err
		}
		if len(items) == 0 {
			return nil
		}
	}
	s.failPending(ctx, items, reasonProcessing)
	return fmt.Errorf("dicomweb: commit %d instances: too many concurrent updates", len(items))
}

// dropReplaced deletes the blobs of the instances the stored ones replaced.
func (s *Server) dropReplaced(ctx context.Context, items []*pending) {
	for _, p := range items {
		if p.existing != nil && p.existing.Blob != p.rec.Blob {
			if err := s.opts.Blobs.Delete(ctx, p.existing.Blob); err != nil {
				s.log.WarnContext(ctx, "dicomweb: delete replaced blob", "key", p.existing.Blob, "err", err)
			}
		}
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

// failPending marks instances failed and removes the blobs they stored.
func (s *Server) failPending(ctx context.Context, items []*pending, reason int) {
	for _, p := range items {
		p.res.failure, p.res.rec = reason, nil
		if p.existing == nil || p.existing.Blob != p.rec.Blob {
			if err := s.opts.Blobs.Delete(ctx, p.rec.Blob); err != nil && !errors.Is(err, ErrBlobNotFound) {
				s.log.WarnContext(ctx, "dicomweb: delete unindexed blob", "key", p.rec.Blob, "err", err)
			}
		}
	}
}

// abandon removes the blobs of a batch that will not be committed (the
// request failed on the server's side before its end).
func (s *Server) abandon(b *stowBatch) {
	b.release()
	if len(b.items) > 0 {
		s.failPending(context.Background(), b.items, reasonProcessing)
		b.items = nil
	}
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

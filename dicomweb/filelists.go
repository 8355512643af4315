package dicomweb

import (
	"context"
	"sync"
)

// fileLists keeps the file lists of recently retrieved studies (their
// instances without attributes but InstanceNumber, in retrieve order), so
// that retrieving a study again reads its study record only, not the
// records of all its instances. A list is kept under the version of the
// study record it was read at: every commit that adds or replaces an
// instance writes the study record too (see batchWrites, commitEach), so a
// list is current exactly while that version is, on this node as on any
// other sharing the index. Lists are shared read-only.
type fileLists struct {
	mu    sync.Mutex
	lists map[string]fileList // by Study Instance UID
	order []string            // studies, oldest first
	held  int                 // instances in lists
}

type fileList struct {
	version int64
	heads   []*instanceRecord
}

// fileListsMax bounds the instances the lists hold (a few hundred bytes
// each), whatever the studies' sizes.
const fileListsMax = 20_000

func (f *fileLists) get(study string, version int64) []*instanceRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.lists[study]; ok && l.version == version {
		return l.heads
	}
	return nil
}

func (f *fileLists) put(study string, version int64, heads []*instanceRecord) {
	if len(heads) > fileListsMax/4 {
		return // a study that large would evict everything else
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lists == nil {
		f.lists = map[string]fileList{}
	}
	if old, ok := f.lists[study]; ok {
		f.held -= len(old.heads)
	} else {
		f.order = append(f.order, study)
	}
	f.lists[study] = fileList{version: version, heads: heads}
	f.held += len(heads)
	for f.held > fileListsMax && len(f.order) > 0 {
		oldest := f.order[0]
		f.order = f.order[1:]
		f.held -= len(f.lists[oldest].heads)
		delete(f.lists, oldest)
	}
}

// studyFiles lists the files of a study (of one series when series is not
// empty) in retrieve order, from the lists kept when st is at their
// version. The slice is the caller's; its records are shared.
func (s *Server) studyFiles(ctx context.Context, st *studyRecord, series string) ([]*instanceRecord, error) {
	heads := s.files.get(st.UID, st.version)
	if heads == nil {
		var err error
		if heads, err = s.idx.headsOf(ctx, st.UID, ""); err != nil {
			return nil, err
		}
		sortInstances(heads)
		s.files.put(st.UID, st.version, heads)
	}
	var out []*instanceRecord
	for _, in := range heads {
		if series == "" || in.Series == series {
			out = append(out, in)
		}
	}
	return out, nil
}

package consent

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// historyMargin is how far before the last refresh the next one reads the
// Consent history again: a version stamped before the refresh but committed
// after it (a slow commit, another node's clock) is still seen. Reading a
// version twice is harmless: only a higher version replaces a known one.
const historyMargin = time.Minute

// pageSize is the page size of the policy's searches.
const pageSize = 500

// snapshot is the set of active patient-privacy Consents, kept in memory.
type snapshot struct {
	st store.Store

	mu       sync.Mutex
	loaded   bool
	stale    bool
	checked  time.Time        // when it was last brought up to date (the policy's clock, for the TTL)
	mark     time.Time        // the wall-clock time of that refresh: the next one reads history from there
	versions map[string]int64 // Consent id → the newest version seen
	rules    map[string]*rule // Consent id → its rule, for the ones that restrict
	list     []*rule          // the values of rules, rebuilt on refresh; never modified
}

func newSnapshot(st store.Store) *snapshot {
	return &snapshot{st: st, versions: map[string]int64{}, rules: map[string]*rule{}}
}

// invalidate makes the next current call refresh.
func (s *snapshot) invalidate() {
	s.mu.Lock()
	s.stale = true
	s.mu.Unlock()
}

// current returns the rules, refreshed first when older than ttl.
func (s *snapshot) current(ctx context.Context, now time.Time, ttl time.Duration) ([]*rule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded && !s.stale && now.Sub(s.checked) < ttl {
		return s.list, nil
	}
	start := time.Now()
	var err error
	if s.loaded {
		err = s.refresh(ctx, s.mark.Add(-historyMargin))
	} else {
		err = s.load(ctx)
	}
	if err != nil {
		return nil, err
	}
	s.loaded, s.stale, s.checked, s.mark = true, false, now, start
	// A new slice: callers still walk the previous one, without the lock.
	list := make([]*rule, 0, len(s.rules))
	for _, r := range s.rules {
		list = append(list, r)
	}
	s.list = list
	return list, nil
}

// load reads every active patient-privacy Consent.
func (s *snapshot) load(ctx context.Context) error {
	plan := search.Parse("Consent", url.Values{
		"status": {"active"},
		"scope":  {scopeSystem + "|" + scopePrivacy},
	})
	if len(plan.Ignored) > 0 {
		return fmt.Errorf("consent: the Consent search ignored %v", plan.Ignored)
	}
	q := plan.Query
	q.Count = pageSize
	for {
		page, err := s.st.Search(ctx, q)
		if err != nil {
			return fmt.Errorf("consent: load Consents: %w", err)
		}
		for i := range page.Resources {
			if err := s.apply(&page.Resources[i]); err != nil {
				return err
			}
		}
		if !page.More {
			return nil
		}
		q.Cursor = page.Next
	}
}

// refresh applies the Consent versions written since since.
func (s *snapshot) refresh(ctx context.Context, since time.Time) error {
	for offset := 0; ; offset += pageSize {
		page, err := s.st.History(ctx, store.HistoryQuery{Type: "Consent", Since: since, Count: pageSize, Offset: offset})
		if err != nil {
			return fmt.Errorf("consent: read Consent history: %w", err)
		}
		for i := range page.Versions {
			if err := s.apply(&page.Versions[i]); err != nil {
				return err
			}
		}
		if !page.More {
			return nil
		}
	}
}

// apply takes one stored Consent version into the snapshot, unless a newer
// one is known.
func (s *snapshot) apply(res *store.Resource) error {
	if res.VersionID <= s.versions[res.ID] {
		return nil
	}
	s.versions[res.ID] = res.VersionID
	delete(s.rules, res.ID)
	if res.Deleted {
		return nil
	}
	r, err := parseRule(res.Body, res.VersionID)
	if err != nil {
		return err
	}
	if r != nil {
		s.rules[res.ID] = r
	}
	return nil
}

package audit

import (
	"bytes"
	"context"
)

// chainPage returns, for Verify, the events at sequences [from, from+n)
// as the trail keeps them (a record, or JSON), by id: the latest event of
// each id, as Read finds it.
func (t *Trail) chainPage(_ context.Context, from int64, n int) (map[string]storedEvent, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	blocks, err := t.blocks()
	if err != nil {
		return nil, err
	}
	page := make(map[string]storedEvent, n)
	for seq := from; seq < from+int64(n); seq++ {
		id := EventID(seq)
		b, i, ok := latestWithID(blocks, id)
		if !ok {
			continue
		}
		content, err := b.content(i)
		if err != nil {
			return nil, err
		}
		// Sealed blocks' content points into their mappings, which end
		// with the trail.
		page[id] = storedEvent{content: bytes.Clone(content), version: 1}
	}
	return page, nil
}

package audit

import (
	"bytes"
	"context"
	"slices"

	"github.com/telehub/telehub/store"
)

// chainPage returns, for Verify, the events at sequences [from, from+n)
// as the trail keeps them (a record, or JSON), by id: the latest event of
// each id, as Read finds it.
func (t *Trail) chainPage(_ context.Context, from int64, n int) (map[string]storedEvent, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return nil, ErrClosed
	}
	blocks, err := t.blocks()
	if err != nil {
		return nil, err
	}
	page := make(map[string]storedEvent, n)
	for seq := from; seq < from+int64(n); seq++ {
		id := EventID(seq)
		for _, b := range slices.Backward(blocks) {
			ords := b.lookup(store.ParamID, id)
			if len(ords) == 0 {
				continue
			}
			content, err := b.content(int(ords[len(ords)-1]))
			if err != nil {
				return nil, err
			}
			// Sealed blocks' content points into their mappings, which
			// end with the trail.
			page[id] = storedEvent{content: bytes.Clone(content), version: 1}
			break
		}
	}
	return page, nil
}

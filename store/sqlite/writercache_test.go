package sqlite

import (
	"context"
	"testing"

	"github.com/telehub/telehub/store"
)

func TestWriterCacheFollowsTheFile(t *testing.T) {
	for _, c := range []struct{ size, want int64 }{
		{0, writerCacheMin},
		{32 << 20, writerCacheMin},
		{500 << 20, 500 << 15},
		{2 << 30, 64 << 20},
		{8 << 30, writerCacheMax},
		{100 << 30, writerCacheMax},
	} {
		if got := writerCacheFor(c.size); got != c.want {
			t.Errorf("writerCacheFor(%d MiB) = %d MiB, want %d MiB", c.size>>20, got>>20, c.want>>20)
		}
	}
}

// TestWriterCacheSet checks that the writer's connection really takes the
// size chosen for its file.
func TestWriterCacheSet(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	cacheKiB := func() int64 { return -pragma(t, s, "cache_size") }
	if got := cacheKiB(); got != writerCacheMin>>10 {
		t.Fatalf("a new store's writer cache is %d KiB, want %d", got, writerCacheMin>>10)
	}
	// A cache of another size (as after the file shrank) is set back to
	// the file's at the next look.
	if _, err := s.writer.ExecContext(ctx, "PRAGMA cache_size = -1000"); err != nil {
		t.Fatal(err)
	}
	s.writerCache, s.cacheLookedAt = 1000<<10, -writerCacheEvery
	s.resizeWriterCache(ctx)
	if got, want := cacheKiB(), writerCacheFor(0)>>10; got != want {
		t.Fatalf("writer cache %d KiB after a look at an empty file, want %d", got, want)
	}
	if s.resizeWriterCache(ctx); s.cacheLookedAt != 0 {
		t.Fatalf("looked again before %d versions were written", writerCacheEvery)
	}
}

// TestSpillFollowsTheGroup checks that a group's transaction may keep
// spillPagesPerWrite dirty pages per write before it spills, up to
// spillMax, and that the threshold reaches the writer's connection.
func TestSpillFollowsTheGroup(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	spill := func() int { return int(pragma(t, s, "cache_spill")) }
	group := func(writes ...int) []*commitRequest {
		var reqs []*commitRequest
		for _, n := range writes {
			reqs = append(reqs, &commitRequest{writes: make([]store.Write, n)})
		}
		return reqs
	}
	// SQLite reports the threshold in effect: a transaction spills once it
	// outgrows both the threshold and the cache.
	cachePages := spill()
	for _, c := range []struct {
		writes []int
		want   int
	}{
		{[]int{1}, cachePages},
		{[]int{100, 100, 100, 100}, 400 * spillPagesPerWrite},
		{[]int{2000}, spillMax / pageSize},
		{[]int{3}, cachePages},
		{nil, cachePages}, // 0 would turn spilling off
	} {
		s.spillAfter(ctx, group(c.writes...))
		if got := spill(); got != c.want {
			t.Errorf("spill threshold after a group of %v writes: %d pages, want %d", c.writes, got, c.want)
		}
	}
}

package sqlite

import (
	"context"
	"testing"
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
	cacheKiB := func() int64 {
		var kib int64
		if err := s.writer.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&kib); err != nil {
			t.Fatal(err)
		}
		return -kib
	}
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

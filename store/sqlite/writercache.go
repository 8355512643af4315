package sqlite

import (
	"context"
	"fmt"
	"log/slog"
)

// The writer's page cache follows the size of the file: a thirty-second
// of it, from SQLite's default of 2 MB up to 256 MB. Each commit walks the
// B-trees of a dozen indexes from their roots to a leaf per index entry;
// the pages it misses it reads back from the operating system's cache
// through read(2), a system call and a copy each. At a million resources
// (some 8 GB) the interior pages no longer fit in 32 MB, and loading ran 6%
// slower than with a cache of 256 MB (`telehub bench search --resources
// 1000000`: 1,842 against 1,956 resources/s, 657 against 611 µs of CPU per
// resource). A fixed 256 MB would hold on to memory a small store does not
// need: the cache keeps every page the writer touches, most of which it
// never reads again (a DICOM study's ImagingStudy versions, the history of
// every resource). A floor of 32 MB did too: storing a 1,500 MB DICOM
// study filled the writers' caches of the DICOM index and the FHIR store
// (files of 18 and 10 MB) as the study went, and the resident memory
// outside Go grew by 39 to 46 MiB from the first fifth of the study to the
// whole, against 5 to 8 MiB with 2 MB; a small store's commits cost about
// the same CPU either way (BenchmarkCommitObservations100, 40,000
// Observations: 14.2 to 15.2 s with 32 MB, 14.4 to 15.5 s with 2 MB, fewer
// user and more system seconds). Readers keep 32 MB: they map the file
// (see dsn).
const (
	writerCacheMin = 2 << 20
	writerCacheMax = 256 << 20
	readerCache    = 32 << 20
	// writerCacheShare is the part of the file the writer's cache may
	// hold: about what a B-tree's interior pages take of its leaves.
	writerCacheShare = 32
	// writerCacheEvery is how many written versions pass between two
	// looks at the file's size.
	writerCacheEvery = 16384
)

// writerCacheFor returns the writer's cache size for a file of size bytes.
func writerCacheFor(size int64) int64 {
	return min(max(size/writerCacheShare, writerCacheMin), writerCacheMax)
}

// resizeWriterCache sets the writer's cache for the file's size, once
// every writerCacheEvery versions written since the last look. It runs on
// the committing goroutine, between two commits, on the writer's only
// connection.
func (s *Store) resizeWriterCache(ctx context.Context) {
	written := s.checkpoints.written.Load()
	if written-s.cacheLookedAt < writerCacheEvery {
		return
	}
	s.cacheLookedAt = written
	var size int64
	err := s.writer.QueryRowContext(ctx,
		"SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&size)
	if err == nil && writerCacheFor(size) != s.writerCache {
		s.writerCache = writerCacheFor(size)
		_, err = s.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", s.writerCache>>10))
	}
	if err != nil {
		slog.Warn("sqlite: size the writer's cache", "err", err)
	}
}

// A transaction whose dirty pages outgrow the writer's cache spills some
// of them to the WAL before it commits, and writes them again if it
// changes them again. A group of resources' index entries dirties about a
// dozen pages per resource, and its resources share many of the leaf pages
// it changes: a group of four 100-entry Bundles dirtied some 20 MB, and
// with a cache of a few MB the committer spent about a fifth of its CPU
// time spilling pages (a CPU profile of `telehub bench --phases
// transaction`), and more reading spilled pages back. So a group may keep
// spillPagesPerWrite pages per write before it spills (SQLite's
// cache_spill threshold; it spills once it outgrows both the threshold and
// the cache), up to spillMax. A lone write spills as before once it
// outgrows the cache: the memory one resource's version takes (an
// ImagingStudy of thousands of instances) stays bounded by the cache, not
// by the resource's size. What a group keeps is memory the process holds
// until the commit: up to spillMax more at the peak.
const (
	spillPagesPerWrite = 16
	spillMax           = 32 << 20
	pageSize           = 4096 // SQLite's default, which the store keeps
)

// spillAfter sets the writer's spill threshold for a group's transaction.
// It runs on the committing goroutine, before the transaction begins.
func (s *Store) spillAfter(ctx context.Context, group []*commitRequest) {
	writes := 0
	for _, req := range group {
		writes += len(req.writes)
	}
	pages := min(spillPagesPerWrite*writes, spillMax/pageSize)
	if pages < int(s.writerCache/pageSize/2) {
		// Well under the cache, any threshold spills as the cache does:
		// one value for all small groups, so that a run of single
		// creates does not set it again at every commit. And at least 1:
		// a threshold of 0 turns spilling off.
		pages = 1
	}
	if pages == s.spillPages {
		return
	}
	if _, err := s.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_spill = %d", pages)); err != nil {
		slog.Warn("sqlite: set the writer's cache spill threshold", "err", err)
		return
	}
	s.spillPages = pages
}

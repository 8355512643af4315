package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

const raceSystem = "urn:telehub:conformance:race"

// TestConcurrentUpdates has 32 clients update one resource at once through
// HTTP, each with If-Match on the version it read, retrying on 412. Exactly
// one write may win per version, no update may be lost, and the history
// must hold every version, with no gap.
func TestConcurrentUpdates(t *testing.T) {
	const writers, updatesEach = 32, 2
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			srv := startServer(t, b, defaultServerOptions)
			path := "Patient/race"
			srv.put(t, path, map[string]any{"resourceType": "Patient", "id": "race", "active": true})

			var (
				mu   sync.Mutex
				wins = map[int64]string{} // If-Match version → the marker that won it
				lost atomic.Int64         // 412 answers: another writer had won the version
				errs []error
				wg   sync.WaitGroup
			)
			record := func(version int64, marker string) error {
				mu.Lock()
				defer mu.Unlock()
				if prev, taken := wins[version]; taken {
					return fmt.Errorf("two updates won If-Match W/%q: %s and %s", strconv.FormatInt(version, 10), prev, marker)
				}
				wins[version] = marker
				return nil
			}
			for w := range writers {
				wg.Go(func() {
					for k := range updatesEach {
						marker := fmt.Sprintf("w%02d-u%d", w, k)
						if err := updateUntilWon(srv, path, marker, record, &lost); err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
							return
						}
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d updates won, %d lost a race and retried", len(wins), lost.Load())
			checkRaceHistory(t, srv, path, wins, 1+writers*updatesEach)
		})
	}
}

// updateUntilWon reads the resource, adds marker to its identifiers and
// PUTs it with If-Match on the version read, again until a PUT wins.
func updateUntilWon(srv *server, path, marker string, record func(int64, string) error, lost *atomic.Int64) error {
	const maxAttempts = 2000
	for range maxAttempts {
		read, err := srv.try(request{method: http.MethodGet, path: path})
		if err != nil {
			return err
		}
		if read.status != http.StatusOK {
			return fmt.Errorf("%s: read: %v", marker, read)
		}
		var doc map[string]any
		if err := json.Unmarshal(read.body, &doc); err != nil {
			return fmt.Errorf("%s: read: %w", marker, err)
		}
		version, err := strconv.ParseInt(str(doc, "meta", "versionId"), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: read: versionId: %w", marker, err)
		}
		if etag := read.header.Get("ETag"); etag != fmt.Sprintf("W/%q", strconv.FormatInt(version, 10)) {
			return fmt.Errorf("%s: read of version %d has ETag %q", marker, version, etag)
		}
		ids, _ := doc["identifier"].([]any)
		doc["identifier"] = append(ids, map[string]any{"system": raceSystem, "value": marker})
		body, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		put, err := srv.try(request{
			method:  http.MethodPut,
			path:    path,
			body:    body,
			headers: map[string]string{"If-Match": fmt.Sprintf("W/%q", strconv.FormatInt(version, 10))},
		})
		if err != nil {
			return err
		}
		switch put.status {
		case http.StatusOK:
			if etag, want := put.header.Get("ETag"), fmt.Sprintf("W/%q", strconv.FormatInt(version+1, 10)); etag != want {
				return fmt.Errorf("%s: update of version %d answered ETag %q, want %s", marker, version, etag, want)
			}
			return record(version, marker)
		case http.StatusPreconditionFailed:
			lost.Add(1)
			continue // another writer won this version: read again
		default:
			return fmt.Errorf("%s: update with If-Match W/\"%d\": want 200 or 412, got %v", marker, version, put)
		}
	}
	return fmt.Errorf("%s: no update won in %d attempts", marker, maxAttempts)
}

// checkRaceHistory checks the history holds versions 1..n, each version
// adding exactly the marker of the write that won the version before it.
func checkRaceHistory(t *testing.T, srv *server, path string, wins map[int64]string, n int) {
	t.Helper()
	if len(wins) != n-1 {
		t.Errorf("%d updates won, want %d", len(wins), n-1)
	}
	resp := srv.get(t, path+"/_history?_count="+strconv.Itoa(n+10))
	if resp.status != http.StatusOK {
		t.Fatalf("history: %v", resp)
	}
	doc := resp.object(t)
	if total := num(doc, "total"); total != int64(n) {
		t.Errorf("history total %d, want %d", total, n)
	}
	entries, _ := doc["entry"].([]any)
	markers := map[int64][]string{}
	for _, e := range entries {
		v, err := strconv.ParseInt(str(e, "resource", "meta", "versionId"), 10, 64)
		if err != nil {
			t.Fatalf("history entry without a numeric versionId: %s", short(e))
		}
		if _, dup := markers[v]; dup {
			t.Errorf("version %d appears twice in the history", v)
		}
		var ms []string
		ids, _ := field(e, "resource", "identifier").([]any)
		for _, id := range ids {
			if str(id, "system") == raceSystem {
				ms = append(ms, str(id, "value"))
			}
		}
		markers[v] = ms
	}
	for v := int64(1); v <= int64(n); v++ {
		ms, ok := markers[v]
		if !ok {
			t.Errorf("version %d is missing from the history", v)
			continue
		}
		if v == 1 {
			continue
		}
		prev := markers[v-1]
		want := append(slices.Clone(prev), wins[v-1])
		if !slices.Equal(ms, want) {
			t.Errorf("version %d holds %v, want version %d's %v plus %s (the write that won If-Match W/\"%d\")", v, ms, v-1, prev, wins[v-1], v-1)
		}
	}
	if len(markers) != n {
		t.Errorf("history has %d versions, want %d", len(markers), n)
	}
	final := srv.get(t, path)
	finalIDs, _ := field(final.object(t), "identifier").([]any)
	var ids []string
	for _, id := range finalIDs {
		if str(id, "system") == raceSystem {
			ids = append(ids, str(id, "value"))
		}
	}
	if len(ids) != n-1 {
		t.Errorf("the current version holds %d of the %d updates: lost updates", len(ids), n-1)
	}
}

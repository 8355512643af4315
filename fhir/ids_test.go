package fhir

import (
	"regexp"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Server ids are version 7 UUIDs: valid FHIR ids, distinct, and ordered by
// creation time across milliseconds.
func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	var last string
	for i := 0; i < 2000; i++ {
		id := newID()
		if !validID(id) || !uuidV7.MatchString(id) {
			t.Fatalf("%q is not a version 7 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q twice", id)
		}
		seen[id] = true
		if i%500 == 0 {
			if last != "" && id[:13] < last[:13] {
				t.Fatalf("%q was made after %q but sorts before it", id, last)
			}
			last = id
			time.Sleep(2 * time.Millisecond)
		}
	}
}

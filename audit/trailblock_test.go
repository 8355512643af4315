package audit

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestEncodeTextsInKeyOrder: the block file's keys come in the byte order
// of "param\x00text" that lookups binary-search, also where a parameter is
// a prefix of another ("agent" and "agent-name") and texts differ in their
// lowest bytes, and each keeps its postings.
func TestEncodeTextsInKeyOrder(t *testing.T) {
	t.Parallel()
	texts := map[string]map[string][]uint32{
		"agent":      {"b": {1}, "a|x": {2, 5}, "\x01": {3}},
		"agent-name": {"a": {4}, "": {6}},
		"_id":        {"audit-10": {7}, "audit-9": {8}},
		"patient":    {"Patient/p1": {0, 9, 12}},
	}
	keys, index := encodeTexts(texts)
	var got []string
	for i := range len(index) / 4 {
		d := decoder{buf: keys[binary.LittleEndian.Uint32(index[4*i:]):]}
		key := string(d.bytes())
		got = append(got, key)
		param, text, _ := strings.Cut(key, "\x00")
		if want := texts[param][text]; !slices.Equal(decodePostings(d.buf), want) {
			t.Errorf("%q: postings %v, want %v", key, decodePostings(d.buf), want)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("keys not in byte order: %q", got)
	}
	if len(got) != 8 {
		t.Errorf("%d keys, want 8: %q", len(got), got)
	}
}

// BenchmarkEncodeTexts measures the text keys of a sealed block of
// DefaultBlockSize reads: each with its own id and data entity, of 3,000
// patients, one client.
func BenchmarkEncodeTexts(b *testing.B) {
	texts := map[string]map[string][]uint32{"_id": {}, "patient": {}, "entity": {}, "agent": {}, KindParam: {}}
	add := func(param, text string, ord uint32) { texts[param][text] = append(texts[param][text], ord) }
	for i := range DefaultBlockSize {
		ord, patient := uint32(i), fmt.Sprintf("Patient/p-%06d", i%3000)
		add("_id", EventID(int64(i+1)), ord)
		add("patient", patient, ord)
		add("entity", patient, ord)
		add("entity", fmt.Sprintf("Observation/o-%08d", i), ord)
		add("agent", "https://telehub.dev/fhir/sid/client-id|bench", ord)
		add(KindParam, "read", ord)
	}
	b.ReportAllocs()
	for b.Loop() {
		encodeTexts(texts)
	}
}

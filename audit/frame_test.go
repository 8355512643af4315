package audit

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// TestFrameRoundTrip: a frame decodes to the event it encodes, and any
// single changed byte is refused.
func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	e := Read(Agent{User: "Practitioner/1", Client: "app"}, Target{Type: "Observation", ID: "o1"}, "Patient/p1", Success)
	body, err := e.JSON()
	if err != nil {
		t.Fatal(err)
	}
	index, err := e.Index()
	if err != nil {
		t.Fatal(err)
	}
	frame := encodeFrame(body, index)
	n, err := frameLength(frame[:frameHeader])
	if err != nil || n != len(frame) {
		t.Fatalf("frameLength = %d, %v; want %d", n, err, len(frame))
	}
	p, err := decodeFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.content, body) || !slices.Equal(p.index, index) {
		t.Errorf("round trip differs")
	}
	for i := frameHeader; i < len(frame); i += 7 {
		bad := bytes.Clone(frame)
		bad[i] ^= 0x40
		if _, err := decodeFrame(bad); !errors.Is(err, errBadFrame) {
			t.Fatalf("byte %d changed: %v, want errBadFrame", i, err)
		}
	}
}

package signaling

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
)

// envelopeCases are messages for the scanner: relayed ones it should read
// itself, and every kind it must leave to encoding/json or refuse.
var envelopeCases = []string{
	`{"type":"candidate","to":"a1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
	`{"type":"offer","to":"b2","sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}`,
	` { "type" : "answer" , "to" : "c3" , "sdp" : { "type" : "answer" , "sdp" : "v=0" } } `,
	`{"type":"answer","to":"c3","sdp":null}`,
	`{"type":"answer","to":"c3","sdp":""}`,
	`{"type":"candidate","to":"c3","candidate":null}`,
	`{"type":"candidate","to":"c3","candidate":[1,-2.5e3,0.1,true,false,null,{},[],"\u00e9\n"]}`,
	`{"type":"candidate","to":"c3","from":"x","candidate":{}}`,
	`{"type":"candidate","to":"c3","from":"","candidate":{}}`,
	`{"type":"candidate","to":"c3","from":null,"candidate":{}}`,
	`{"type":"candidate","to":"c3","From":"x","candidate":{}}`,
	`{"type":"candidate","TO":"c3","candidate":{}}`,
	`{"type":"candidate","to":"c3","to":"d4","candidate":{}}`,
	`{"type":"candidate","to":"c\u0033","candidate":{}}`,
	`{"typ\u0065":"candidate","to":"c3","candidate":{}}`,
	`{"type":"ping"}`,
	`{"type":"leave"}`,
	`{"type":"end"}`,
	`{"type":"join","room":"Encounter/1","token":"t"}`,
	`{"type":"offer","to":"c3","sdp":{},"name":"x"}`,
	`{"type":"dance","to":"c3"}`,
	`{"type":7,"to":"c3"}`,
	`{"type":"offer","to":7,"sdp":{}}`,
	`{"to":"c3","sdp":{}}`,
	`{}`,
	`{"extra":{"nested":[[[[]]]]},"type":"ping"}`,
	// Not JSON, or not one object: never read by the scanner.
	`{"type":"ping"`,
	`{"type":"ping"}}`,
	`{"type":"ping"} {}`,
	`{"type":"ping",}`,
	`{"type":"ping" "to":"x"}`,
	`{"type":'ping'}`,
	`{type:"ping"}`,
	`{"type":"candidate","to":"c3","candidate":01}`,
	`{"type":"candidate","to":"c3","candidate":1.}`,
	`{"type":"candidate","to":"c3","candidate":.5}`,
	`{"type":"candidate","to":"c3","candidate":1e}`,
	`{"type":"candidate","to":"c3","candidate":-}`,
	`{"type":"candidate","to":"c3","candidate":+1}`,
	`{"type":"candidate","to":"c3","candidate":tru}`,
	`{"type":"candidate","to":"c3","candidate":"\x"}`,
	`{"type":"candidate","to":"c3","candidate":"\u12"}`,
	"{\"type\":\"candidate\",\"to\":\"c3\",\"candidate\":\"a\tb\"}",
	`{"type":"candidate","to":"c3","candidate":[1,]}`,
	`{"type":"candidate","to":"c3","candidate":{"a":1,}}`,
	`{"type":"candidate","to":"c3","candidate":{"a"}}`,
	`{"type":"candidate","to":"c3","candidate":`,
	`{"type":"candidate","to":"c3","candidate":"`,
	`{"type":"candidate","to":"c3","candidate":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
}

// checkEnvelope: whatever the scanner reads, encoding/json reads the same
// way; the scanner never reads a message encoding/json refuses.
func checkEnvelope(t *testing.T, data []byte) (fast bool) {
	var got, want inbound
	fast = scanEnvelope(data, &got)
	err := json.Unmarshal(data, &want)
	if !fast {
		return false
	}
	switch {
	case err != nil:
		t.Fatalf("%s: scanned, but encoding/json says %v", data, err)
	case got.Type != want.Type || string(got.to()) != want.To || (got.From == "") != (want.From == "") ||
		got.SDP != want.SDP || got.Candidate != want.Candidate:
		t.Fatalf("%s: scanned %+v, encoding/json decodes %+v", data, got, want)
	}
	return true
}

func TestScanEnvelope(t *testing.T) {
	fast := 0
	for _, c := range envelopeCases {
		if checkEnvelope(t, []byte(c)) {
			fast++
		}
	}
	// The relayed messages of every day do take the fast path.
	for _, c := range envelopeCases[:3] {
		var m inbound
		if !scanEnvelope([]byte(c), &m) {
			t.Errorf("%s: left to encoding/json", c)
		}
	}
	if fast == len(envelopeCases) {
		t.Error("the scanner read every case; the ones it must refuse are not tested")
	}
}

func FuzzScanEnvelope(f *testing.F) {
	for _, c := range envelopeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkEnvelope(t, data) })
}

func BenchmarkScanEnvelope(b *testing.B) {
	data := []byte(envelopeCases[0])
	var m inbound
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		scanEnvelope(data, &m)
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	data := []byte(envelopeCases[0])
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var m inbound
		json.Unmarshal(data, &m)
	}
}

// TestSpecialBytes: the eight-bytes-at-once test finds the first byte
// plainByte refuses, for every byte value in every position, among plain
// bytes and others.
func TestSpecialBytes(t *testing.T) {
	for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, ' ', '"', 0} {
		for pos := range 8 {
			for c := range 256 {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[pos] = byte(c)
				want := 8
				for i, x := range b {
					if !plainByte[x] {
						want = i
						break
					}
				}
				got := 8
				if m := specialBytes(binary.LittleEndian.Uint64(b[:])); m != 0 {
					got = bits.TrailingZeros64(m) / 8
				}
				if got != want {
					t.Fatalf("% x: first special byte %d, want %d", b, got, want)
				}
			}
		}
	}
}

package fhir

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// validID reports whether id matches the FHIR id type, [A-Za-z0-9\-\.]{1,64}.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// newID returns a server-assigned id: a version 7 UUID (RFC 9562), URL
// safe, 36 characters and a valid FHIR id. Its first 48 bits are the time in
// milliseconds, so ids created together sort together: the stores' id
// indexes then grow at their end instead of touching a random page per
// create. The other 74 bits are random, so ids stay unguessable.
func newID() string {
	var b [16]byte
	// crypto/rand.Read never fails (it panics on an unusable source).
	_, _ = rand.Read(b[:])
	binary.BigEndian.PutUint64(b[0:8], uint64(time.Now().UnixMilli())<<16|uint64(binary.BigEndian.Uint16(b[6:8])))
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

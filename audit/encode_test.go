package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestEncodeLikeEncodingJSON checks the hand-written encoder against
// encoding/json (HTML escaping off) on every builder, with strings that
// need escaping.
func TestEncodeLikeEncodingJSON(t *testing.T) {
	t.Parallel()
	events := builderEvents()
	resources := []auditEvent{{ResourceType: "AuditEvent"}}
	for _, e := range events {
		res, err := e.recipe.build()
		if err != nil {
			t.Fatal(err)
		}
		resources = append(resources, res)
	}
	for i, res := range resources {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			t.Fatal(err)
		}
		got := res.appendJSON(nil)
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

// builderEvents are events of every builder, with strings that need
// escaping.
func builderEvents() []Event {
	odd := "quote\" backslash\\ <tag>&amp; tab\t nl\n cr\r bell\x07 del\x7f é \u2028\u2029 bad\xff\xfe end"
	who := Agent{User: "Practitioner/p\"1", UserName: odd, Client: "app\\1", Address: "2001:db8::1"}
	target := Target{Type: "Observation", ID: "o1", Version: 2}
	return []Event{
		Read(who, target, "Patient/p1", Success),
		Read(Agent{}, Target{Type: "Organization"}, "", SeriousFailure),
		Search(who, "Observation", "code="+odd+"&_count=10", "Patient/p1", Success),
		Search(Agent{Address: "host.example"}, "", "", "", MinorFailure),
		Create(who, target, "", Success),
		Update(who, target, "Patient/p1", Success),
		Delete(who, target, "Patient/p1", MinorFailure),
		Login(false, Agent{UserName: odd}, odd),
		TokenIssued(who, odd, "Patient/p1"),
		TokenRevoked(Agent{Client: "app"}, ""),
		TokenRevoked(who, odd),
		ConsentDecision(who, "Patient/p1", "Consent/c1", target, true),
		ConsentDecision(who, "Patient/p1", "", Target{}, false),
		BreakTheGlass(who, "Patient/p1", odd),
	}
}

func BenchmarkEncode(b *testing.B) {
	e, err := Read(Agent{Client: "bench", Address: "127.0.0.1"}, Target{Type: "Observation", ID: "o1"}, "Patient/p1", Success).recipe.build()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hand-written", func(b *testing.B) {
		var buf []byte
		for range b.N {
			buf = e.appendJSON(buf[:0])
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		for range b.N {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

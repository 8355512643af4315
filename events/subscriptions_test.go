package events

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestRestHookInOrderExactlyOnce: every matching change is delivered once,
// in order, with its event number and the channel's headers; others not.
func TestRestHookInOrderExactlyOnce(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	recv := newReceiver(t)
	ctx := as(t, "user/*.cruds", "")
	sub := n.create(ctx, "Subscription", restHook("Observation?code=http://loinc.org|8867-4", recv.url(), "application/fhir+json",
		`,"header":["Authorization: Bearer hook-secret","X-Tenant: north"]`))
	n.waitStatus(sub.ID, "active")

	pat := n.create(ctx, "Patient", `{"resourceType":"Patient"}`)
	var want []string
	for i := range 20 {
		code := "8867-4"
		if i%3 == 0 {
			code = "9279-1" // not matching
		}
		obs := n.create(ctx, "Observation", observation(pat.ID, code))
		if code == "8867-4" {
			want = append(want, obs.ID)
		}
	}
	got := recv.waitCount(t, len(want))
	// In order: the last one arriving proves the others before it arrived.
	if len(got) != len(want) {
		t.Fatalf("got %d notifications, want %d", len(got), len(want))
	}
	last := 0
	for i, r := range got {
		var res struct{ ResourceType, ID string }
		if err := json.Unmarshal(r.body, &res); err != nil {
			t.Fatal(err)
		}
		if res.ResourceType != "Observation" || res.ID != want[i] {
			t.Errorf("notification %d is %s/%s, want Observation/%s", i, res.ResourceType, res.ID, want[i])
		}
		if r.number <= last {
			t.Errorf("notification %d has event number %d after %d", i, r.number, last)
		}
		last = r.number
		if r.header.Get("Authorization") != "Bearer hook-secret" || r.header.Get("X-Tenant") != "north" {
			t.Errorf("notification %d headers: %v", i, r.header)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/fhir+json" {
			t.Errorf("notification %d Content-Type %q", i, ct)
		}
	}
	// Turning it off stops delivery: a matching change after that is not
	// delivered (a second, active Subscription marks the point).
	marker := newReceiver(t)
	sub2 := n.create(ctx, "Subscription", restHook("Observation?code=http://loinc.org|8867-4", marker.url(), "", ""))
	n.waitStatus(sub2.ID, "active")
	body := strings.Replace(restHook("Observation?code=http://loinc.org|8867-4", recv.url(), "", ""), `"requested"`, `"off"`, 1)
	body = strings.Replace(body, `{"resourceType":"Subscription",`, `{"resourceType":"Subscription","id":"`+sub.ID+`",`, 1)
	if _, err := n.fhir.Update(ctx, "Subscription", sub.ID, []byte(body), 0); err != nil {
		t.Fatal(err)
	}
	waitGone(t, n, sub.ID)
	n.create(ctx, "Observation", observation(pat.ID, "8867-4"))
	marker.waitCount(t, 1)
	if after := recv.all(); len(after) != len(want) {
		t.Fatalf("a Subscription turned off got %d more notifications", len(after)-len(want))
	}
}

// waitGone waits for the delivery consumer of Subscription id to be deleted.
func waitGone(t *testing.T, n *node, id string) {
	t.Helper()
	for range 1500 {
		if _, err := n.bus.stream.Consumer(context.Background(), consumerName(id)); err != nil {
			return
		}
		sleepMs(20)
	}
	t.Fatalf("the consumer of Subscription/%s still exists", id)
}

func TestPayloadVariants(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	ctx := as(t, "system/*.cruds", "")
	ext := func(code string) string {
		return `,"_payload":{"extension":[{"url":"` + contentExtension + `","valueCode":"` + code + `"}]}`
	}
	cases := []struct {
		name, payload, extra string
		check                func(t *testing.T, r received, obsID string)
	}{
		{"empty", "", "", func(t *testing.T, r received, _ string) {
			if len(r.body) != 0 {
				t.Errorf("body %q, want none", r.body)
			}
		}},
		{"resource", "application/fhir+json", "", func(t *testing.T, r received, id string) {
			var res struct{ ResourceType, ID string }
			if json.Unmarshal(r.body, &res); res.ID != id {
				t.Errorf("body %s, want Observation/%s", r.body, id)
			}
		}},
		{"backport-none", "application/fhir+json", ext("none"), func(t *testing.T, r received, id string) {
			b := bundleOf(t, r.body)
			if len(b.Entry) != 1 || strings.Contains(string(r.body), id) {
				t.Errorf("content none: %s", r.body)
			}
			checkStatus(t, b, r.number)
		}},
		{"backport-id-only", "application/fhir+json", ext("id-only"), func(t *testing.T, r received, id string) {
			b := bundleOf(t, r.body)
			if len(b.Entry) != 2 || b.Entry[1].FullURL != testBase+"/Observation/"+id || b.Entry[1].Resource != nil {
				t.Errorf("content id-only: %s", r.body)
			}
			checkStatus(t, b, r.number)
		}},
		{"backport-full", "application/fhir+json", ext("full"), func(t *testing.T, r received, id string) {
			b := bundleOf(t, r.body)
			var res struct{ ID string }
			if len(b.Entry) != 2 || json.Unmarshal(b.Entry[1].Resource, &res) != nil || res.ID != id {
				t.Errorf("content full: %s", r.body)
			}
			checkStatus(t, b, r.number)
		}},
	}
	recvs := make([]*receiver, len(cases))
	for i, c := range cases {
		recvs[i] = newReceiver(t)
		sub := n.create(ctx, "Subscription", restHook("Observation?status=final", recvs[i].url(), c.payload, c.extra))
		n.waitStatus(sub.ID, "active")
	}
	obs := n.create(ctx, "Observation", observation("p1", "8867-4"))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := recvs[i].waitCount(t, 1)
			c.check(t, got[0], obs.ID)
		})
	}
}

type bundle struct {
	ResourceType, Type string
	Entry              []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	}
}

func bundleOf(t *testing.T, body []byte) bundle {
	t.Helper()
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" || b.Type != "history" || len(b.Entry) == 0 {
		t.Fatalf("not a history Bundle: %v %s", err, body)
	}
	return b
}

// checkStatus checks the notification's status Parameters numbers the event.
func checkStatus(t *testing.T, b bundle, number int) {
	t.Helper()
	var p struct {
		ResourceType string
		Parameter    []struct {
			Name        string
			ValueString string
			ValueCode   string
		}
	}
	if err := json.Unmarshal(b.Entry[0].Resource, &p); err != nil || p.ResourceType != "Parameters" {
		t.Fatalf("first entry is not Parameters: %v", err)
	}
	seen := map[string]string{}
	for _, x := range p.Parameter {
		seen[x.Name] = x.ValueString + x.ValueCode
	}
	if seen["type"] != "event-notification" || seen["status"] != "active" || seen["events-since-subscription-start"] != itoa(number) {
		t.Errorf("status parameters %v, want event-notification, active, event %d", seen, number)
	}
}

// TestBadCriteriaSetError: what the search parser or the channel cannot
// serve turns the Subscription to error with a message.
func TestBadCriteriaSetError(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	ctx := as(t, "system/*.cruds", "")
	cases := []struct{ name, body, wantInError string }{
		{"unknown parameter", restHook("Observation?no-such-param=1", "http://127.0.0.1:1/x", "", ""), "no-such-param"},
		{"unknown type", restHook("Nonsense?code=1", "http://127.0.0.1:1/x", "", ""), "Nonsense"},
		{"no type", restHook("?code=1", "http://127.0.0.1:1/x", "", ""), "resource type"},
		{"result parameter", restHook("Observation?_count=5", "http://127.0.0.1:1/x", "", ""), "_count"},
		{"bad endpoint", restHook("Observation?code=1", "ftp://example.org/x", "", ""), "endpoint"},
		{"plain http", restHook("Observation?code=1", "http://hooks.example.org/x", "", ""), "must use https"},
		{"bad header", restHook("Observation?code=1", "http://127.0.0.1:1/x", "", `,"header":["no colon"]`), "header"},
		{"bad payload", restHook("Observation?code=1", "http://127.0.0.1:1/x", "text/plain", ""), "payload"},
		{"channel type", `{"resourceType":"Subscription","status":"requested","reason":"r","criteria":"Observation?code=1","channel":{"type":"email","endpoint":"mailto:a@example.org"}}`, "email"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := n.create(ctx, "Subscription", c.body)
			got := n.waitStatus(sub.ID, "error")
			if msg, _ := got["error"].(string); !strings.Contains(msg, c.wantInError) {
				t.Errorf("error %q does not mention %q", msg, c.wantInError)
			}
		})
	}
}

// TestSubscriberMustBeAllowed: a Subscription hears only what its creator
// may read.
func TestSubscriberMustBeAllowed(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	admin := as(t, "system/*.cruds", "")
	alice := n.create(admin, "Patient", `{"resourceType":"Patient","name":[{"family":"Alice"}]}`)
	bob := n.create(admin, "Patient", `{"resourceType":"Patient","name":[{"family":"Bob"}]}`)

	// A patient app of Alice's subscribes to every Observation.
	recv := newReceiver(t)
	patientCtx := as(t, "patient/Observation.rs patient/Subscription.cruds", alice.ID)
	sub := n.create(patientCtx, "Subscription", restHook("Observation", recv.url(), "application/fhir+json", ""))
	n.waitStatus(sub.ID, "active")

	// A client that may not read Observations cannot subscribe to them.
	noObs := n.create(as(t, "user/Subscription.cruds user/Patient.rs", ""), "Subscription",
		restHook("Observation", recv.url(), "", ""))
	got := n.waitStatus(noObs.ID, "error")
	if msg, _ := got["error"].(string); !strings.Contains(msg, "may not read Observation") {
		t.Errorf("error %q", msg)
	}

	bobs := n.create(admin, "Observation", observation(bob.ID, "8867-4"))
	alices := n.create(admin, "Observation", observation(alice.ID, "8867-4"))
	r := recv.waitCount(t, 1)
	// In order: had Bob's been delivered, it would be first.
	var res struct{ ID string }
	json.Unmarshal(r[0].body, &res)
	if res.ID != alices.ID || len(r) != 1 {
		t.Fatalf("Alice's app was notified of %s (%d notifications), want only Alice's %s (Bob's is %s)", res.ID, len(r), alices.ID, bobs.ID)
	}
}

// TestConsentDenies: a consent policy that closes a patient's data to the
// creator keeps its notifications away.
func TestConsentDenies(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	opts := n.subs.opts
	n.subs.Close()
	opts.Consent = denyPatients{"closed"}
	subs, err := NewSubscriptions(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	n.subs = subs
	recv := newReceiver(t)
	ctx := as(t, "user/*.cruds", "")
	sub := n.create(ctx, "Subscription", restHook("Observation", recv.url(), "application/fhir+json", ""))
	n.waitStatus(sub.ID, "active")
	n.create(ctx, "Observation", observation("closed", "1"))
	open := n.create(ctx, "Observation", observation("open", "1"))
	r := recv.waitCount(t, 1)
	var res struct{ ID string }
	json.Unmarshal(r[0].body, &res)
	if res.ID != open.ID {
		t.Fatalf("notified of %s, want only %s", res.ID, open.ID)
	}
}

func TestParseCriteria(t *testing.T) {
	typ, params, err := parseCriteria("Observation?code=http://loinc.org|8867-4&subject=Patient/1")
	if err != nil || typ != "Observation" || params.Get("code") != "http://loinc.org|8867-4" {
		t.Fatalf("%s %v %v", typ, params, err)
	}
	for _, bad := range []string{"", "observation?x=1", "Observation?%zz", "Observation?_id=1", "Patient/1"} {
		if _, _, err := parseCriteria(bad); err == nil {
			t.Errorf("parseCriteria(%q) accepted", bad)
		}
	}
	_ = url.Values{}
}

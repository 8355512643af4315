package fhir

import (
	"errors"
	"testing"
)

// rewriteReferences rewrites every "reference" member, at any depth, and
// nothing else: not a value that reads "reference", not a key quoted inside
// a string, not a reference that is not a string.
func TestRewriteReferences(t *testing.T) {
	t.Parallel()
	targets := map[string]string{
		"urn:uuid:a":                    "Patient/1",
		"urn:uuid:b":                    "Practitioner/2",
		"Patient?identifier=sys|x\"y\\": "Patient/3",
	}
	resolve := func(ref string) (string, error) {
		if ref == "urn:uuid:bad" {
			return "", errors.New("unresolvable")
		}
		if t, ok := targets[ref]; ok {
			return t, nil
		}
		return ref, nil
	}
	for _, tc := range []struct{ name, in, want string }{
		{"no reference", `{"resourceType":"Patient","id":"1"}`, `{"resourceType":"Patient","id":"1"}`},
		{"stored reference kept", `{"subject":{"reference":"Patient/9"}}`, `{"subject":{"reference":"Patient/9"}}`},
		{"top and nested",
			`{"subject":{"reference":"urn:uuid:a"},"performer":[{"reference":"urn:uuid:b","display":"Dr"},{"reference":"Patient/9"}]}`,
			`{"subject":{"reference":"Patient/1"},"performer":[{"reference":"Practitioner/2","display":"Dr"},{"reference":"Patient/9"}]}`},
		{"whitespace kept",
			"{\n  \"subject\" : { \"reference\" :\t\"urn:uuid:a\" },\n  \"status\": \"final\"\n}",
			"{\n  \"subject\" : { \"reference\" :\t\"Patient/1\" },\n  \"status\": \"final\"\n}"},
		{"escaped reference", `{"subject":{"reference":"Patient?identifier=sys|x\"y\\"}}`, `{"subject":{"reference":"Patient/3"}}`},
		{"extension and contained",
			`{"contained":[{"resourceType":"Provenance","target":[{"reference":"urn:uuid:a"}]}],"extension":[{"url":"u","valueReference":{"reference":"urn:uuid:b"}}]}`,
			`{"contained":[{"resourceType":"Provenance","target":[{"reference":"Patient/1"}]}],"extension":[{"url":"u","valueReference":{"reference":"Practitioner/2"}}]}`},
		{"a value reading reference", `{"note":[{"text":"reference"}],"code":{"text":"\"reference\":\"urn:uuid:a\""}}`,
			`{"note":[{"text":"reference"}],"code":{"text":"\"reference\":\"urn:uuid:a\""}}`},
		{"a value named reference then a key", `{"a":"reference","b":{"reference":"urn:uuid:a"}}`, `{"a":"reference","b":{"reference":"Patient/1"}}`},
		{"not a string", `{"subject":{"reference":{"reference":"urn:uuid:a"}}}`, `{"subject":{"reference":{"reference":"Patient/1"}}}`},
		{"malformed left to the parser", `{"subject":{"reference":"urn:uuid:a`, `{"subject":{"reference":"urn:uuid:a`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rewriteReferences([]byte(tc.in), resolve)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if _, err := rewriteReferences([]byte(`{"subject":{"reference":"urn:uuid:bad"}}`), resolve); err == nil {
		t.Error("an unresolvable reference: no error")
	}
}

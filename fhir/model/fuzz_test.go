package model

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics and that every failure is an
// *Error a client can be shown, and that what it accepts marshals.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"q"}]}]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}`,
		`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`,
		`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Basic","code":{"text":"c"}}}]}`,
		`{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"reference":"#o"}}`,
		`[]`, `{}`, `{"a":[[null]]}`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error %v is %T, not *Error", err, err)
			}
			return
		}
		if _, err := r.Marshal(); err != nil {
			t.Fatalf("Marshal of an accepted body: %v", err)
		}
	})
}

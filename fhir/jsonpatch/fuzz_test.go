package jsonpatch

import (
	"errors"
	"testing"
)

// FuzzApply checks that Apply never panics, that every failure is an *Error,
// and that a result is JSON.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"foo":["bar"],"a/b":{"~":1}}`), []byte(`[{"op":"add","path":"/foo/-","value":1},{"op":"move","from":"/a~1b/~0","path":"/x"},{"op":"test","path":"/x","value":1.0}]`))
	f.Add([]byte(`[1,2,3]`), []byte(`[{"op":"copy","from":"/0","path":"/1"},{"op":"remove","path":"/2"},{"op":"replace","path":"","value":null}]`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		out, err := Apply(doc, patch)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			return
		}
		if _, err := decode(out); err != nil {
			t.Fatalf("result %s is not JSON: %v", out, err)
		}
	})
}

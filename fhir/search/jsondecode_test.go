package search

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func stdDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, os.ErrInvalid
	}
	return v, nil
}

// TestDecodeJSONMatchesEncodingJSON over hand-made edge cases and every
// example resource of the specification.
func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	cases := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0.5e+3`, `1E2`, `"a"`,
		`{"a":[1,2.50,{"b":null}],"c":"\u00e9\ud83d\ude00\n\t\"\\\/"}`,
		` { "a" : [ ] , "b" : { } } `, `"\ud83d"`, `"bad \xff byte"`,
		// Invalid documents.
		`{`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `01`, `1.`, `-`, `1e`, `"abc`, `"\x"`, `tru`, `{} x`, `"a` + "\x01" + `"`,
		`{"a":1}{"b":2}`, `[1 2]`, `{1:2}`, `"\u12"`,
	}
	for _, c := range cases {
		want, wantErr := stdDecode([]byte(c))
		got, err := decodeJSON([]byte(c))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("decodeJSON(%q) error = %v, encoding/json: %v", c, err, wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("decodeJSON(%q) = %#v, want %#v", c, got, want)
		}
	}
	files, _ := filepath.Glob(filepath.Join(examplesDir(t), "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := stdDecode(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got, err := decodeJSON(data)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodeJSON differs from encoding/json (error %v)", filepath.Base(f), err)
		}
		delete(want.(map[string]any), "text")
		got, err = decodeResource(data)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodeResource differs from encoding/json without the narrative (error %v)", filepath.Base(f), err)
		}
	}
}

func TestDecodeResourceSkipsOnlyTheNarrative(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" for an error
	}{
		{`{"resourceType":"Patient","text":{"status":"generated","div":"<div>\"}</div>"},"id":"1"}`, `{"resourceType":"Patient","id":"1"}`},
		{`{"text":"plain","a":{"text":1}}`, `{"a":{"text":1}}`},
		{`{"text":{"div":"x"}`, ""},
		{`{"text":{"div":"x\q"}}`, ""},
		{`{"text":[1,tru]}`, ""},
	}
	for _, tt := range tests {
		got, err := decodeResource([]byte(tt.in))
		if tt.want == "" {
			if err == nil {
				t.Errorf("decodeResource(%s) = %v, want an error", tt.in, got)
			}
			continue
		}
		want, _ := stdDecode([]byte(tt.want))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeResource(%s) = %v, %v; want %v", tt.in, got, err, want)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	data := readExample(b, "Patient-example")
	b.Run("decodeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdDecode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

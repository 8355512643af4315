package model

import (
	"slices"
	"testing"
	"time"
)

// TestCanonicalJSON checks the canonical form: the client's JSON compacted,
// resourceType, id and meta first, meta's versionId and lastUpdated the
// server's, everything else as the client wrote it.
func TestCanonicalJSON(t *testing.T) {
	t.Parallel()
	stamped := time.Date(2025, 1, 2, 3, 4, 5, 678999999, time.UTC)
	tests := []struct {
		name  string
		body  string
		id    string // "" keeps the client's id; "-" removes it
		stamp bool
		want  string
	}{
		{
			name: "members moved to the front, whitespace dropped",
			body: "{\n  \"active\": true,\n  \"meta\": {\"source\": \"urn:s\"},\n  \"id\": \"a\",\n  \"resourceType\": \"Patient\"\n}",
			want: `{"resourceType":"Patient","id":"a","meta":{"source":"urn:s"},"active":true}`,
		},
		{
			name:  "client's versionId and lastUpdated replaced, the rest of meta kept",
			body:  `{"resourceType":"Patient","meta":{"tag":[{"code":"t"}],"versionId":"9","lastUpdated":"2020-01-01T00:00:00+02:00","profile":["http://x/p"]},"gender":"male"}`,
			id:    "p1",
			stamp: true,
			want:  `{"resourceType":"Patient","id":"p1","meta":{"versionId":"4","lastUpdated":"2025-01-02T03:04:05.678Z","tag":[{"code":"t"}],"profile":["http://x/p"]},"gender":"male"}`,
		},
		{
			name:  "meta created when absent",
			body:  `{"resourceType":"Basic","code":{"text":"x"}}`,
			id:    "b",
			stamp: true,
			want:  `{"resourceType":"Basic","id":"b","meta":{"versionId":"4","lastUpdated":"2025-01-02T03:04:05.678Z"},"code":{"text":"x"}}`,
		},
		{
			name: "id removed",
			body: `{"resourceType":"Basic","id":"old","code":{"text":"x"}}`,
			id:   "-",
			want: `{"resourceType":"Basic","code":{"text":"x"}}`,
		},
		{
			name: "nested id and meta stay where they are",
			body: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","meta":{"source":"urn:c"},"name":"O"}],"managingOrganization":{"reference":"#o"},"id":"p"}`,
			want: `{"resourceType":"Patient","id":"p","contained":[{"resourceType":"Organization","id":"o","meta":{"source":"urn:c"},"name":"O"}],"managingOrganization":{"reference":"#o"}}`,
		},
		{
			name: "strings with quotes, brackets, escapes and spaces kept as written",
			body: `{"resourceType":"Patient", "name":[{"text":"a \"b\" {c} [d], e \u00e9 ","family":"x"}]}`,
			want: `{"resourceType":"Patient","name":[{"text":"a \"b\" {c} [d], e \u00e9 ","family":"x"}]}`,
		},
		{
			name: "decimals and primitive extensions as written",
			body: `{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":1.50},"_status":{"id":"s"}}`,
			want: `{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":1.50},"_status":{"id":"s"}}`,
		},
		{
			name: "nulls of primitive arrays kept",
			body: `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"q"}]}]}`,
			want: `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"q"}]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tt.body)
			r := mustParse(t, body)
			switch tt.id {
			case "":
			case "-":
				r.SetID("")
			default:
				r.SetID(tt.id)
			}
			if tt.stamp {
				r.SetMeta(4, stamped)
			}
			for i := range body {
				body[i] = ' ' // the resource must not depend on the caller's buffer
			}
			got, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal =\n%s\nwant\n%s", got, tt.want)
			}
			if _, err := Parse(got); err != nil {
				t.Errorf("the canonical form does not parse: %v", err)
			}
		})
	}
}

// TestMembersAndItems: canonical JSON is walked member by member and item
// by item, values as written, nested ones whole.
func TestMembersAndItems(t *testing.T) {
	obj := []byte(`{"a":1,"b":"x,}\"]","c":{"d":[1,{"e":null}]},"f":[true,"g",[],{}],"h":-2.5e3}`)
	var got []string
	for name, value := range Members(obj) {
		got = append(got, string(name)+"="+string(value))
	}
	want := []string{`a=1`, `b="x,}\"]"`, `c={"d":[1,{"e":null}]}`, `f=[true,"g",[],{}]`, `h=-2.5e3`}
	if !slices.Equal(got, want) {
		t.Errorf("Members: %q, want %q", got, want)
	}
	got = got[:0]
	for item := range Items([]byte(`[true,"g",[],{"i":[2]},-1]`)) {
		got = append(got, string(item))
	}
	if want := []string{`true`, `"g"`, `[]`, `{"i":[2]}`, `-1`}; !slices.Equal(got, want) {
		t.Errorf("Items: %q, want %q", got, want)
	}
	for range Items([]byte(`[]`)) {
		t.Error("Items of an empty array yielded an item")
	}
}

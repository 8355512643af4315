package search

import (
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

func TestWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"Hélène O'Brien-Smith, 42", []string{"helene", "o", "brien", "smith", "42"}},
		{"  ", nil},
		{"naïve café", []string{"naive", "cafe"}},
		{"Größe", []string{"grosse"}},
	}
	for _, tt := range tests {
		if got := words(tt.in, nil); !slices.Equal(got, tt.want) {
			t.Errorf("words(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := narrativeWords(`<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Name</b>: Peter&amp;Jim &lt;x&gt;</p></div>`, nil)
	if want := []string{"name", "peter", "jim", "x"}; !slices.Equal(got, want) {
		t.Errorf("narrativeWords = %q, want %q", got, want)
	}
}

func TestExtractText(t *testing.T) {
	t.Parallel()
	entries, err := Extract("Patient", readExample(t, "Patient-f001"))
	if err != nil {
		t.Fatal(err)
	}
	has := func(param, text string) bool {
		return slices.Contains(entries, store.IndexEntry{Param: param, Kind: store.KindString, Text: text})
	}
	tests := []struct {
		param, text string
		want        bool
	}{
		{"_text", "pieter", true},
		{"_text", "married", true}, // in the narrative only
		{"_text", "xhtml", false},  // a tag's attribute
		{"_text", "div", false},
		{"_content", "pieter", true},
		{"_content", "getrouwd", true},
		{"_content", "married", true},  // a coding's display
		{"_content", "patient", false}, // resourceType
		{"_content", "hl7", false},     // systems
		{"_content", "generated", false},
	}
	for _, tt := range tests {
		if got := has(tt.param, tt.text); got != tt.want {
			t.Errorf("%s %q indexed = %v, want %v", tt.param, tt.text, got, tt.want)
		}
	}
	plain, err := NewExtractor(DefaultRegistry(), WithoutFullText()).Extract("Patient", readExample(t, "Patient-f001"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(plain, func(e store.IndexEntry) bool { return e.Param == "_text" || e.Param == "_content" }) {
		t.Error("full text indexed with WithoutFullText")
	}
}

func TestParseWords(t *testing.T) {
	t.Parallel()
	prefix := func(param string, texts ...string) store.Clause {
		var c store.Clause
		for _, text := range texts {
			c.Any = append(c.Any, store.Condition{Param: param, Op: store.OpPrefix, Text: text})
		}
		return c
	}
	tests := []struct {
		query string
		want  []store.Clause
	}{
		{"_text=Chest", []store.Clause{prefix("_text", "chest")}},
		{"_text=chest pain chest", []store.Clause{prefix("_text", "chest"), prefix("_text", "pain")}},
		{"_content=fièvre,cough", []store.Clause{prefix("_content", "fievre", "cough")}},
	}
	for _, tt := range tests {
		params, _ := url.ParseQuery(tt.query)
		plan := Parse("Patient", params)
		if len(plan.Ignored) > 0 || !reflect.DeepEqual(plan.Query.Clauses, tt.want) {
			t.Errorf("%s = %+v (ignored %+v), want %+v", tt.query, plan.Query.Clauses, plan.Ignored, tt.want)
		}
	}
}

func TestApplyList(t *testing.T) {
	t.Parallel()
	plan := Parse("Patient", url.Values{"_list": {"42"}, "name": {"x"}})
	if len(plan.Deferred) != 1 || plan.Deferred[0].List != "42" || len(plan.Ignored) != 1 {
		t.Fatalf("deferred %+v, ignored %+v", plan.Deferred, plan.Ignored)
	}
	if !plan.ApplyList([]string{"Patient/a", "Observation/b", "Patient/c"}) {
		t.Fatal("ApplyList found no _list")
	}
	want := store.Clause{Any: []store.Condition{
		{Param: store.ParamID, Op: store.OpExact, Text: "a"}, {Param: store.ParamID, Op: store.OpExact, Text: "c"}}}
	if len(plan.Deferred) != 0 || len(plan.Ignored) != 0 || len(plan.Query.Clauses) != 2 ||
		!reflect.DeepEqual(plan.Query.Clauses[1], want) || plan.Applied.Get("_list") != "42" {
		t.Errorf("after ApplyList: %+v", plan)
	}
	if plan.ApplyList(nil) {
		t.Error("ApplyList applied twice")
	}
	empty := Parse("Patient", url.Values{"_list": {"42"}})
	empty.ApplyList(nil)
	if got := empty.Query.Clauses; len(got) != 1 || got[0].Any[0].Text != "" {
		t.Errorf("empty list: %+v", got)
	}
}

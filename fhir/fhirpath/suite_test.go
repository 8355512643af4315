package fhirpath

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/telehub/telehub/internal/specdata"
)

// suiteTest is one test of the official FHIRPath suite.
type suiteTest struct {
	Name      string `xml:"name,attr"`
	InputFile string `xml:"inputfile,attr"`
	Predicate string `xml:"predicate,attr"`
	Mode      string `xml:"mode,attr"`
	Ordered   string `xml:"ordered,attr"`
	Expr      struct {
		Text    string `xml:",chardata"`
		Invalid string `xml:"invalid,attr"`
	} `xml:"expression"`
	Outputs []struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	} `xml:"output"`
}

type suiteFile struct {
	Groups []struct {
		Name      string      `xml:"name,attr"`
		Tests     []suiteTest `xml:"test"`
		ModeTests []suiteTest `xml:"modeTest"`
	} `xml:"group"`
}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// suiteInputs loads the input resources as JSON: the suite's own JSON files
// as they are, and its XML files converted to JSON through the type model.
// (The specification's JSON examples are not the same resources: the suite
// edited its copies, e.g. observation-example.xml gained an Age extension.)
type suiteInputs struct {
	shared string
	cache  map[string]any
	errs   map[string]error
}

func (s *suiteInputs) load(name string) (any, error) {
	if v, ok := s.cache[name]; ok {
		return v, s.errs[name]
	}
	v, err := s.read(name)
	s.cache[name], s.errs[name] = v, err
	return v, err
}

func (s *suiteInputs) read(name string) (any, error) {
	path := filepath.Join(s.shared, "fhir-test-cases", "r4", name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, ".json") {
		return decodeJSON(data)
	}
	v, err := xmlToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

func TestOfficialSuite(t *testing.T) {
	shared := specdata.Dir(t)
	data, err := os.ReadFile(filepath.Join(shared, "fhir-test-cases", "r4", "fhirpath", "tests-fhir-r4.xml"))
	if err != nil {
		t.Skipf("official suite not available: %v", err)
	}
	var suite suiteFile
	if err := xml.Unmarshal(data, &suite); err != nil {
		t.Fatal(err)
	}
	known := readKnownFailures(t)
	inputs := &suiteInputs{shared: shared, cache: map[string]any{}, errs: map[string]error{}}
	total, passed := 0, 0
	var unexpected, fixed []string
	for _, g := range suite.Groups {
		for i, tc := range append(g.Tests, g.ModeTests...) {
			name := tc.Name
			if name == "" {
				name = fmt.Sprintf("%s#%d", g.Name, i+1)
			}
			total++
			failure := runSuiteTest(inputs, tc)
			_, listed := known[name]
			switch {
			case failure == "":
				passed++
				if listed {
					fixed = append(fixed, name)
				}
			case !listed:
				unexpected = append(unexpected, fmt.Sprintf("%s: %s (%s)", name, failure, strings.TrimSpace(tc.Expr.Text)))
			}
		}
	}
	t.Logf("official FHIRPath suite: %d of %d tests pass (%.1f%%)", passed, total, 100*float64(passed)/float64(total))
	for _, u := range unexpected {
		t.Errorf("unexpected failure: %s", u)
	}
	for _, f := range fixed {
		t.Errorf("%s now passes: remove it from testdata/known-failures.txt", f)
	}
	if passed*10 < total*9 {
		t.Errorf("only %d of %d tests pass; at least 90%% must", passed, total)
	}
}

// readKnownFailures reads "name<TAB>reason" lines.
func readKnownFailures(t *testing.T) map[string]string {
	f, err := os.Open(filepath.Join("testdata", "known-failures.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, "\t")
		known[name] = reason
	}
	return known
}

// runSuiteTest returns why a test fails, or "" when it passes.
func runSuiteTest(inputs *suiteInputs, tc suiteTest) (failure string) {
	defer func() {
		if r := recover(); r != nil {
			failure = fmt.Sprintf("panic: %v", r)
		}
	}()
	var resource any
	if tc.InputFile != "" {
		var err error
		if resource, err = inputs.load(tc.InputFile); err != nil {
			return "input: " + err.Error()
		}
	}
	expr, err := Compile(tc.Expr.Text)
	if err != nil {
		if tc.Expr.Invalid != "" {
			return ""
		}
		return err.Error()
	}
	got, err := expr.Evaluate(resource)
	if tc.Expr.Invalid != "" {
		if err == nil {
			return fmt.Sprintf("expected a %s error, got %s", tc.Expr.Invalid, formatCollection(got))
		}
		return ""
	}
	if err != nil {
		return err.Error()
	}
	if tc.Predicate == "true" {
		got = boolean(len(got) > 0)
	}
	var want []string
	for _, o := range tc.Outputs {
		want = append(want, strings.TrimSpace(o.Text))
	}
	have := make([]string, len(got))
	for i, it := range got {
		have[i] = formatForSuite(it)
	}
	if tc.Ordered == "false" {
		sort.Strings(want)
		sort.Strings(have)
	}
	if strings.Join(want, "\x00") != strings.Join(have, "\x00") || len(want) != len(have) {
		return fmt.Sprintf("want %q, got %q", want, have)
	}
	if tc.Ordered != "false" {
		for i, o := range tc.Outputs {
			if o.Type != "" && !strings.EqualFold(o.Type, strings.TrimPrefix(got[i].Type, "System.")) {
				return fmt.Sprintf("output %d: want type %s, got %s", i, o.Type, got[i].Type)
			}
		}
	}
	return ""
}

// formatForSuite renders an item the way the suite writes outputs.
func formatForSuite(it Item) string {
	switch v := systemValue(it).(type) {
	case DateTime:
		if v.kind == kindTime {
			return "@T" + v.String()
		}
		return "@" + v.String()
	case map[string]any:
		b, _ := json.Marshal(v)
		return string(b)
	default:
		if s, ok := formatValue(v); ok {
			return s
		}
	}
	return fmt.Sprint(it.Value)
}

func formatCollection(c Collection) string {
	parts := make([]string, len(c))
	for i, it := range c {
		parts[i] = formatForSuite(it)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

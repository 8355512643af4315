package dicomweb

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// filter is one matching key of a QIDO query (PS3.4 C.2.2.2).
type filter struct {
	key, vr, value string
	level          level
	fuzzy          bool // fuzzymatching=true, on a person name
	re             *regexp.Regexp
}

// newFilter prepares a matching key: a wildcard pattern is compiled once.
func newFilter(key, vr, value string, fuzzy bool) (*filter, error) {
	f := &filter{key: key, vr: vr, value: value, level: levelOf(key), fuzzy: fuzzy && vr == "PN"}
	switch vr {
	case "DA", "TM", "DT":
		if _, _, err := rangeBounds(vr, value); err != nil {
			return nil, err
		}
	case "UI", "SQ":
	default:
		if strings.ContainsAny(value, "*?") {
			pattern := value
			if vr == "PN" {
				pattern = search.Fold(value)
			}
			f.re = regexp.MustCompile("^" + wildcardRegexp(pattern) + "$")
		}
	}
	return f, nil
}

func wildcardRegexp(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}

// universal reports whether the key matches everything (an empty value,
// or "*"), asking only that the attribute be returned.
func (f *filter) universal() bool { return f.value == "" || f.value == "*" }

// matches applies the key to a data set (merged levels).
func (f *filter) matches(d Dataset) bool {
	if f.universal() {
		return true
	}
	values := d[f.key].Strings()
	for _, v := range values {
		if f.matchValue(v) {
			return true
		}
	}
	return false
}

func (f *filter) matchValue(v string) bool {
	switch f.vr {
	case "UI":
		for _, want := range splitList(f.value) {
			if want == v {
				return true
			}
		}
		return false
	case "DA", "TM", "DT":
		lo, hi, _ := rangeBounds(f.vr, f.value)
		nv := normaliseTemporal(f.vr, v, false)
		return (lo == "" || nv >= lo) && (hi == "" || nv <= hi)
	case "PN":
		name := search.Fold(v)
		if f.fuzzy {
			return fuzzyName(search.Fold(strings.ReplaceAll(strings.ReplaceAll(f.value, "*", ""), "?", "")), name)
		}
		if f.re != nil {
			return f.re.MatchString(name)
		}
		return name == search.Fold(f.value)
	}
	if f.re != nil {
		return f.re.MatchString(v)
	}
	if f.key == tagModalitiesInStudy {
		for _, want := range splitList(f.value) {
			if want == v {
				return true
			}
		}
		return false
	}
	return v == f.value
}

// fuzzyName: every word of the query starts some word of the name,
// whatever the order, case and accents ("jo do" finds "Doe^John").
func fuzzyName(query, name string) bool {
	words := nameWords(name)
	for _, q := range nameWords(query) {
		found := false
		for _, w := range words {
			if strings.HasPrefix(w, q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\\' })
}

// rangeBounds reads a range ("a-b", "-b", "a-") or a single value as
// normalised, comparable bounds ("" for an open end).
func rangeBounds(vr, v string) (lo, hi string, err error) {
	bad := fmt.Errorf("%q is not a %s value or range", v, vr)
	a, b, isRange := strings.Cut(v, "-")
	if vr == "DT" && isRange && len(b) == 4 && !strings.Contains(b, "-") {
		// a time zone offset ("…-0500"), not a range
		a, b, isRange = v, "", false
	}
	if !isRange {
		b = a
	}
	for _, s := range []string{a, b} {
		if s != "" && !validTemporal(vr, s) {
			return "", "", bad
		}
	}
	if a == "" && b == "" {
		return "", "", bad
	}
	return normaliseTemporal(vr, a, false), normaliseTemporal(vr, b, true), nil
}

var (
	daRe = regexp.MustCompile(`^\d{8}$`)
	tmRe = regexp.MustCompile(`^\d{2}(:?\d{2}(:?\d{2}(\.\d{1,6})?)?)?$`)
	dtRe = regexp.MustCompile(`^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$`)
)

func validTemporal(vr, s string) bool {
	switch vr {
	case "DA":
		return daRe.MatchString(s)
	case "TM":
		return tmRe.MatchString(s)
	}
	return dtRe.MatchString(s)
}

// normaliseTemporal pads a DA, TM or DT value to full precision so that
// strings compare in time order; an upper bound is padded with its latest
// instant ("12" → "125959.999999"). DT offsets are ignored: values compare
// as written.
func normaliseTemporal(vr, s string, upper bool) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if vr == "DT" {
		if i := strings.IndexAny(s[min(len(s), 4):], "+-"); i >= 0 {
			s = s[:4+i]
		}
	}
	low := map[string]string{"DA": "00000101", "TM": "000000.000000", "DT": "00000101000000.000000"}[vr]
	high := map[string]string{"DA": "99991231", "TM": "235959.999999", "DT": "99991231235959.999999"}[vr]
	if len(s) >= len(low) {
		return s[:len(low)]
	}
	if upper {
		return s + high[len(s):]
	}
	return s + low[len(s):]
}

// storeClause turns a filter into a condition the index can answer, a
// superset of the matches (the filter itself then decides); nil when the
// index cannot narrow on it.
func (f *filter) storeClause() *store.Clause {
	if f.universal() {
		return nil
	}
	param, ok := indexParam(f.level, f.key)
	if !ok {
		return nil
	}
	switch {
	case f.vr == "UI" || f.key == tagModalitiesInStudy:
		c := tokenClause(param, splitList(f.value)...)
		return &c
	case f.vr == "DA":
		lo, hi, _ := rangeBounds("DA", f.value)
		var cond store.Condition
		switch {
		case lo != "" && hi != "":
			l, _, ok1 := dateRange(lo)
			_, h, ok2 := dateRange(hi)
			if !ok1 || !ok2 {
				return nil
			}
			cond = store.Condition{Param: param, Op: store.OpEq, Low: l, High: h}
		case lo != "":
			l, _, ok := dateRange(lo)
			if !ok {
				return nil
			}
			cond = store.Condition{Param: param, Op: store.OpGe, Low: l}
		default:
			_, h, ok := dateRange(hi)
			if !ok {
				return nil
			}
			cond = store.Condition{Param: param, Op: store.OpLe, High: h}
		}
		return &store.Clause{Any: []store.Condition{cond}}
	case f.fuzzy:
		if f.key != tagPatientName {
			return nil // only the patient's name has its words indexed
		}
		words := nameWords(strings.NewReplacer("*", "", "?", "").Replace(f.value))
		if len(words) == 0 {
			return nil
		}
		return &store.Clause{Any: []store.Condition{{Param: paramNameWord, Op: store.OpPrefix, Text: words[0]}}}
	case f.vr == "PN":
		v := search.Fold(f.value)
		if f.re == nil {
			return &store.Clause{Any: []store.Condition{{Param: param, Op: store.OpExact, Text: v}}}
		}
		if lit := leadingLiteral(v); lit != "" {
			return &store.Clause{Any: []store.Condition{{Param: param, Op: store.OpPrefix, Text: lit}}}
		}
		return nil
	default:
		if f.re == nil {
			return &store.Clause{Any: []store.Condition{{Param: param, Op: store.OpExact, Text: f.value}}}
		}
		return nil // wildcards on tokens: the filter decides
	}
}

func leadingLiteral(p string) string {
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		return p[:i]
	}
	return p
}

// indexParam names the index parameter of a key at a level.
func indexParam(l level, key string) (string, bool) {
	var params map[string]string
	switch l {
	case levelStudy:
		params = map[string]string{tagStudyInstanceUID: "StudyInstanceUID", tagPatientID: "PatientID",
			tagAccessionNumber: "AccessionNumber", tagStudyID: "StudyID", tagPatientName: "PatientName",
			tagReferringPhysicianName: "ReferringPhysicianName", tagModalitiesInStudy: "ModalitiesInStudy",
			tagStudyDate: "StudyDate"}
	case levelSeries:
		params = map[string]string{tagSeriesInstanceUID: "SeriesInstanceUID", tagModality: "Modality",
			tagSeriesNumber: "SeriesNumber"}
	case levelInstance:
		params = map[string]string{tagSOPInstanceUID: "SOPInstanceUID", tagSOPClassUID: "SOPClassUID",
			tagInstanceNumber: "InstanceNumber"}
	}
	p, ok := params[key]
	return p, ok
}

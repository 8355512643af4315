package search

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/telehub/telehub/store"
)

// Value is one value a parameter's expression selected from a resource: the
// data as encoding/json decodes it with UseNumber (map[string]any, []any,
// string, bool, json.Number) and its FHIR type name ("CodeableConcept",
// "dateTime", ...). An empty Type lets the value's shape decide.
type Value struct {
	Data any
	Type string
}

// Derived parameter names: some modifiers need the value indexed a second way,
// under the parameter's code followed by the modifier.
const (
	// SuffixExact indexes strings unfolded, for ":exact" ("name:exact").
	SuffixExact = ":exact"
	// SuffixText indexes the folded display text of codes and the text of
	// CodeableConcepts, for ":text" ("code:text").
	SuffixText = ":text"
	// SuffixIdentifier indexes Reference.identifier as tokens, for
	// ":identifier" ("subject:identifier").
	SuffixIdentifier = ":identifier"
	// SuffixOfType indexes identifiers as "typeSystem|typeCode|value", for
	// ":of-type" ("identifier:of-type").
	SuffixOfType = ":of-type"
	// SuffixCanonical indexes quantities in UCUM base units, for searches
	// with a UCUM unit ("value-quantity:canonical", see quantityEntries).
	SuffixCanonical = ":canonical"
)

// Date bounds for open-ended periods: FHIR dates live in years 0001 to 9999.
var (
	minDate = -62135596800000.0 // 0001-01-01T00:00:00Z
	maxDate = 253402300800000.0 // 10000-01-01T00:00:00Z
)

// normaliser turns selected values into index entries for one parameter.
type normaliser struct {
	// base is the server's base URL ("https://example.org/fhir"), so that
	// absolute references to this server index as "Type/id". Empty: none are.
	base string
}

// entries appends the index entries of v for parameter p to out.
func (n normaliser) entries(p *Param, v Value, out []store.IndexEntry) []store.IndexEntry {
	v = unwrapExtension(v)
	switch p.Kind {
	case store.KindToken:
		return tokenEntries(p.Code, v, out)
	case store.KindString:
		return stringEntries(p.Code, v, out)
	case store.KindDate:
		return dateEntries(p.Code, v, out)
	case store.KindNumber:
		return numberEntries(p.Code, v, out)
	case store.KindQuantity:
		return quantityEntries(p.Code, v, out)
	case store.KindReference:
		return n.referenceEntries(p.Code, v, out)
	case store.KindURI:
		if s, ok := v.Data.(string); ok && s != "" {
			out = append(out, store.IndexEntry{Param: p.Code, Kind: store.KindURI, Text: s})
		}
	case store.KindSpecial:
		if isNear(p) {
			return positionEntries(p.Code, v, out)
		}
	}
	return out
}

// typeOf returns the FHIR type of v: its declared type without a namespace
// ("FHIR.string", "System.String"), or one guessed from its shape.
func typeOf(v Value) string {
	if t := v.Type; t != "" {
		m, isMap := v.Data.(map[string]any)
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			if isMap {
				// A backbone element, typed by its path ("Patient.contact").
				return shapeOf(m)
			}
			t = t[i+1:]
		}
		switch t {
		case "String":
			return "string"
		case "Boolean":
			return "boolean"
		case "Decimal":
			return "decimal"
		case "Integer":
			return "integer"
		case "DateTime":
			return "dateTime"
		case "Date":
			return "date"
		}
		return t
	}
	switch d := v.Data.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, int:
		return "decimal"
	case map[string]any:
		return shapeOf(d)
	}
	return ""
}

// shapeOf guesses the complex type of an object from its elements.
func shapeOf(m map[string]any) string {
	has := func(k string) bool { _, ok := m[k]; return ok }
	switch {
	case has("coding") || (has("text") && len(m) == 1):
		return "CodeableConcept"
	case has("reference") || has("identifier") && has("display"):
		return "Reference"
	case has("family") || has("given"):
		return "HumanName"
	case has("line") || has("city") || has("postalCode") || has("country"):
		return "Address"
	case has("start") || has("end"):
		return "Period"
	case has("event") || has("repeat"):
		return "Timing"
	case has("currency"):
		return "Money"
	case has("value") && (has("unit") || has("code") || has("comparator")):
		return "Quantity"
	case has("value") && has("system"):
		if s, _ := m["system"].(string); contactSystems[s] {
			return "ContactPoint"
		}
		return "Identifier"
	case has("code") || has("system"):
		return "Coding"
	case has("value"):
		if _, ok := m["value"].(json.Number); ok {
			return "Quantity"
		}
		return "Identifier"
	}
	return ""
}

var contactSystems = map[string]bool{
	"phone": true, "fax": true, "email": true, "pager": true, "url": true, "sms": true, "other": true,
}

// unwrapExtension replaces an Extension by its value[x], typed by the suffix.
func unwrapExtension(v Value) Value {
	m, ok := v.Data.(map[string]any)
	if !ok || (v.Type != "" && v.Type != "Extension" && v.Type != "FHIR.Extension") {
		return v
	}
	if _, ok := m["url"]; !ok {
		return v
	}
	for k, d := range m {
		if suffix, ok := strings.CutPrefix(k, "value"); ok && suffix != "" {
			t := suffix
			if r, size := utf8.DecodeRuneInString(suffix); isPrimitiveType(suffix) {
				t = string(unicode.ToLower(r)) + suffix[size:]
			}
			return Value{Data: d, Type: t}
		}
	}
	return v
}

func isPrimitiveType(suffix string) bool {
	switch suffix {
	case "Boolean", "Integer", "Decimal", "String", "Uri", "Url", "Canonical", "Code", "Id",
		"Oid", "Uuid", "Markdown", "Base64Binary", "Instant", "Date", "DateTime", "Time",
		"PositiveInt", "UnsignedInt":
		return true
	}
	return false
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func list(d any) []any {
	if l, ok := d.([]any); ok {
		return l
	}
	if d == nil {
		return nil
	}
	return []any{d}
}

// --- tokens

func tokenEntries(code string, v Value, out []store.IndexEntry) []store.IndexEntry {
	// The forms of TokenForms, without its slice, and without "system|" when
	// there is a code: a search for "system|" is a prefix search (see
	// tokenValue), which "system|code" answers, one index entry fewer.
	add := func(system, value string) {
		switch {
		case value == "" && system == "":
		case value == "":
			out = append(out, store.IndexEntry{Param: code, Kind: store.KindToken, Text: system + "|"})
		case system == "":
			out = append(out,
				store.IndexEntry{Param: code, Kind: store.KindToken, Text: "|" + value},
				store.IndexEntry{Param: code, Kind: store.KindToken, Text: value})
		default:
			out = append(out,
				store.IndexEntry{Param: code, Kind: store.KindToken, Text: system + "|" + value},
				store.IndexEntry{Param: code, Kind: store.KindToken, Text: value})
		}
	}
	addText := func(text string) {
		if text != "" {
			out = append(out, store.IndexEntry{Param: code + SuffixText, Kind: store.KindString, Text: Fold(text)})
		}
	}
	switch d := v.Data.(type) {
	case bool:
		add("", strconv.FormatBool(d))
		return out
	case string:
		add("", d)
		return out
	case json.Number:
		add("", d.String())
		return out
	case int64:
		add("", strconv.FormatInt(d, 10))
		return out
	case map[string]any:
		switch typeOf(v) {
		case "CodeableConcept":
			for _, c := range list(d["coding"]) {
				if cm, ok := c.(map[string]any); ok {
					add(str(cm, "system"), str(cm, "code"))
					addText(str(cm, "display"))
				}
			}
			addText(str(d, "text"))
		case "Coding":
			add(str(d, "system"), str(d, "code"))
			addText(str(d, "display"))
		case "Identifier", "ContactPoint":
			add(str(d, "system"), str(d, "value"))
			if t, ok := d["type"].(map[string]any); ok {
				addText(str(t, "text"))
				out = ofTypeEntries(code, t, str(d, "value"), out)
			}
		case "Quantity", "Age", "Duration", "Count", "Distance", "SimpleQuantity":
			add(str(d, "system"), str(d, "code"))
		}
	}
	return out
}

// ofTypeEntries indexes an identifier under each coding of its type.
func ofTypeEntries(code string, typ map[string]any, value string, out []store.IndexEntry) []store.IndexEntry {
	if value == "" {
		return out
	}
	for _, c := range list(typ["coding"]) {
		if cm, ok := c.(map[string]any); ok && str(cm, "code") != "" {
			text := str(cm, "system") + "|" + str(cm, "code") + "|" + value
			out = append(out, store.IndexEntry{Param: code + SuffixOfType, Kind: store.KindToken, Text: text})
		}
	}
	return out
}

// --- strings

func stringEntries(code string, v Value, out []store.IndexEntry) []store.IndexEntry {
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out,
			store.IndexEntry{Param: code, Kind: store.KindString, Text: Fold(s)},
			store.IndexEntry{Param: code + SuffixExact, Kind: store.KindString, Text: s})
	}
	addAll := func(d any) {
		for _, s := range list(d) {
			if s, ok := s.(string); ok {
				add(s)
			}
		}
	}
	switch d := v.Data.(type) {
	case string:
		add(d)
	case map[string]any:
		switch typeOf(v) {
		case "HumanName":
			add(str(d, "family"))
			addAll(d["given"])
			addAll(d["prefix"])
			addAll(d["suffix"])
			add(str(d, "text"))
		case "Address":
			addAll(d["line"])
			for _, k := range []string{"city", "district", "state", "postalCode", "country", "text"} {
				add(str(d, k))
			}
		case "CodeableConcept":
			add(str(d, "text"))
		case "Coding":
			add(str(d, "display"))
		}
	}
	return out
}

// Fold returns s lower-cased with its accents removed ("Hélène" → "helene"),
// the form strings are indexed and searched in.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if f, ok := foldSpecial[r]; ok {
			b.WriteString(f)
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// foldSpecial holds the letters that do not decompose into a base letter and a mark.
var foldSpecial = map[rune]string{
	'ß': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o",
	'đ': "d", 'Đ': "d", 'ł': "l", 'Ł': "l", 'þ': "th", 'Þ': "th", 'ı': "i",
}

// --- dates

func dateEntries(code string, v Value, out []store.IndexEntry) []store.IndexEntry {
	low, high, ok := dateValueRange(v)
	if ok {
		out = append(out, store.IndexEntry{Param: code, Kind: store.KindDate, Low: low, High: high})
	}
	return out
}

// dateValueRange returns the instants a date-like value covers.
func dateValueRange(v Value) (low, high float64, ok bool) {
	switch d := v.Data.(type) {
	case string:
		l, h, err := DateRange(d)
		return l, h, err == nil
	case map[string]any:
		switch typeOf(v) {
		case "Period":
			return periodRange(d)
		case "Timing":
			return timingRange(d)
		}
	}
	return 0, 0, false
}

func periodRange(d map[string]any) (low, high float64, ok bool) {
	low, high = minDate, maxDate
	start, end := str(d, "start"), str(d, "end")
	if start == "" && end == "" {
		return 0, 0, false
	}
	if start != "" {
		l, _, err := DateRange(start)
		if err != nil {
			return 0, 0, false
		}
		low = l
	}
	if end != "" {
		_, h, err := DateRange(end)
		if err != nil {
			return 0, 0, false
		}
		high = h
	}
	return low, high, true
}

// timingRange covers a Timing's events and its repeat bounds.
func timingRange(d map[string]any) (low, high float64, ok bool) {
	low, high = math.Inf(1), math.Inf(-1)
	widen := func(l, h float64) {
		low, high, ok = math.Min(low, l), math.Max(high, h), true
	}
	for _, e := range list(d["event"]) {
		if s, isStr := e.(string); isStr {
			if l, h, err := DateRange(s); err == nil {
				widen(l, h)
			}
		}
	}
	if r, isMap := d["repeat"].(map[string]any); isMap {
		if b, isMap := r["boundsPeriod"].(map[string]any); isMap {
			if l, h, found := periodRange(b); found {
				widen(l, h)
			}
		}
	}
	return low, high, ok
}

// --- numbers and quantities

// NumberRange returns the range a decimal covers at its precision: "1.5" covers
// [1.45, 1.55), "100" covers [99.5, 100.5). The bounds are computed exactly and
// rounded once, so the same text always gives the same floats.
func NumberRange(s string) (low, high float64, err error) {
	return scaledRange(s, 1)
}

// scaledRange is NumberRange with the bounds multiplied by a unit's scale.
func scaledRange(s string, scale float64) (low, high float64, err error) {
	if low, high, ok := fastScaledRange(s, scale); ok {
		return low, high, nil
	}
	// The exponent bound keeps a hostile "1e99999999" from costing a huge power of ten.
	d := decimals(s)
	if len(s) > 64 || d > 400 || d < -400 || strings.ContainsAny(s, "/xXpP_") {
		return 0, 0, &strconv.NumError{Func: "NumberRange", Num: s, Err: strconv.ErrSyntax}
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, 0, &strconv.NumError{Func: "NumberRange", Num: s, Err: strconv.ErrSyntax}
	}
	half := new(big.Rat).SetFrac(big.NewInt(1), big.NewInt(2))
	if d >= 0 {
		half.Quo(half, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)))
	} else {
		half.Mul(half, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-d)), nil)))
	}
	lo, hi := new(big.Rat).Sub(v, half), new(big.Rat).Add(v, half)
	if scale != 1 {
		r, _ := new(big.Rat).SetString(strconv.FormatFloat(scale, 'g', -1, 64))
		lo.Mul(lo, r)
		hi.Mul(hi, r)
	}
	low, _ = lo.Float64()
	high, _ = hi.Float64()
	return low, high, nil
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastScaledRange computes scaledRange without big numbers for the common
// case, a plain decimal of up to 15 digits: the bound (10·m ± 5)·scale / 10^k
// is then a quotient of two exactly represented floats, which IEEE division
// rounds correctly, giving the very floats of the exact computation.
func fastScaledRange(s string, scale float64) (low, high float64, ok bool) {
	m, num, k, ok := scaledDecimal(s, scale)
	if !ok {
		return 0, 0, false
	}
	lo, hi := float64(10*m-5)*num, float64(10*m+5)*num
	if math.Abs(lo) > 1<<53 || math.Abs(hi) > 1<<53 {
		return 0, 0, false
	}
	return lo / pow10[k], hi / pow10[k], true
}

// fastScaledValue is the value of s times scale, as 10·m·scale / 10^k,
// correctly rounded (see fastScaledRange).
func fastScaledValue(s string, scale float64) (float64, bool) {
	m, num, k, ok := scaledDecimal(s, scale)
	if !ok {
		return 0, false
	}
	v := float64(10*m) * num
	if math.Abs(v) > 1<<53 {
		return 0, false
	}
	return v / pow10[k], true
}

// scaledDecimal writes a plain decimal of up to 15 digits times scale as
// m·num / 10^(k-1): m its digits (signed), num the scale as a small integer.
func scaledDecimal(s string, scale float64) (m int64, num float64, k int, ok bool) {
	var (
		digits int
		places = -1
		neg    bool
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' && i == 0:
			neg = true
		case c == '+' && i == 0:
		case c == '.' && places < 0:
			places = 0
		case c >= '0' && c <= '9':
			m = m*10 + int64(c-'0')
			digits++
			if places >= 0 {
				places++
			}
		default:
			return 0, 0, 0, false
		}
	}
	if places < 0 {
		places = 0
	}
	if digits == 0 || digits > 15 {
		return 0, 0, 0, false
	}
	// scale as num / 10^den, num a small integer.
	num, den := scale, 0
	for num != math.Trunc(num) && den < 12 {
		num *= 10
		den++
	}
	if num != math.Trunc(num) || num > 1e6 {
		return 0, 0, 0, false
	}
	k = places + 1 + den
	if k >= len(pow10) {
		return 0, 0, 0, false
	}
	if neg {
		m = -m
	}
	return m, num, k, true
}

// decimals counts the significant decimal places of a number's text: "1.50" has
// 2, "1e3" has -3, "1.5e-2" has 3.
func decimals(s string) int {
	mantissa, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mantissa = s[:i]
		exp, _ = strconv.Atoi(s[i+1:])
	}
	places := 0
	if i := strings.IndexByte(mantissa, '.'); i >= 0 {
		places = len(mantissa) - i - 1
	}
	return places - exp
}

func numberText(d any) (string, bool) {
	switch n := d.(type) {
	case json.Number:
		return n.String(), true
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case string:
		return n, n != ""
	case fmt.Stringer: // a computed decimal
		return n.String(), true
	}
	return "", false
}

func numberEntries(code string, v Value, out []store.IndexEntry) []store.IndexEntry {
	text, ok := numberText(v.Data)
	if !ok {
		return out
	}
	low, high, err := NumberRange(text)
	if err != nil {
		return out
	}
	return append(out, store.IndexEntry{Param: code, Kind: store.KindNumber, Low: low, High: high})
}

// UCUM is the system of UCUM units.
const UCUM = "http://unitsofmeasure.org"

// currencySystem is the system of Money currencies.
const currencySystem = "urn:iso:std:iso:4217"

// quantityEntries indexes a quantity twice. As written, under the
// parameter's code: its precision range in its own unit, once under
// "system|code" and once under the code alone (one entry with an empty Text
// when it has no unit), for searches without a unit or with a unit that is
// not canonicalised. Canonical, under "<code>:canonical" (SuffixCanonical),
// when its unit is a UCUM unit CanonicalUnit maps: the value converted to the
// base unit, for searches with a UCUM unit. The canonical entry is the value
// itself (Low = High), not its precision range: a conversion changes which
// digits are significant (25 cm is 250 mm), so the search value's precision
// alone decides.
func quantityEntries(code string, v Value, out []store.IndexEntry) []store.IndexEntry {
	d, ok := v.Data.(map[string]any)
	if !ok {
		return numberEntries(code, v, out)
	}
	if typeOf(v) == "Range" || v.Type == "" && (d["low"] != nil || d["high"] != nil) {
		return rangeEntries(code, d, out)
	}
	text, ok := numberText(d["value"])
	if !ok {
		return out
	}
	system, unit := str(d, "system"), str(d, "code")
	if typeOf(v) == "Money" {
		system, unit = currencySystem, str(d, "currency")
	}
	if unit == "" {
		unit = str(d, "unit")
	}
	low, high, err := NumberRange(text)
	if err != nil {
		return out
	}
	out = unitEntries(code, system, unit, low, high, out)
	if system != "" && system != UCUM {
		return out
	}
	base, scale, ok := CanonicalUnit(unit)
	if !ok {
		return out
	}
	value, err := scaledValue(text, scale)
	if err != nil {
		return out
	}
	return unitEntries(code+SuffixCanonical, system, base, value, value, out)
}

// unitEntries appends a quantity's entries under "system|unit" and "unit",
// or one entry with an empty Text when it has no unit.
func unitEntries(param, system, unit string, low, high float64, out []store.IndexEntry) []store.IndexEntry {
	if unit == "" {
		return append(out, store.IndexEntry{Param: param, Kind: store.KindQuantity, Low: low, High: high})
	}
	if system != "" {
		out = append(out, store.IndexEntry{Param: param, Kind: store.KindQuantity, Text: system + "|" + unit, Low: low, High: high})
	}
	return append(out, store.IndexEntry{Param: param, Kind: store.KindQuantity, Text: unit, Low: low, High: high})
}

// scaledValue returns a decimal's value multiplied by a unit's scale,
// correctly rounded.
func scaledValue(s string, scale float64) (float64, error) {
	if v, ok := fastScaledValue(s, scale); ok {
		return v, nil
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok || len(s) > 64 || strings.ContainsAny(s, "/xXpP_") {
		return 0, &strconv.NumError{Func: "scaledValue", Num: s, Err: strconv.ErrSyntax}
	}
	if d := decimals(s); d > 400 || d < -400 {
		return 0, &strconv.NumError{Func: "scaledValue", Num: s, Err: strconv.ErrRange}
	}
	r, _ := new(big.Rat).SetString(strconv.FormatFloat(scale, 'g', -1, 64))
	f, _ := v.Mul(v, r).Float64()
	return f, nil
}

// rangeEntries indexes a Range as the span from its low's lower bound to its
// high's upper bound, in the unit of its low (or high), and canonically from
// low to high. An open end spans to the largest float. Bounds in different
// units are not indexed.
func rangeEntries(code string, d map[string]any, out []store.IndexEntry) []store.IndexEntry {
	var lows, highs []store.IndexEntry
	if low, ok := d["low"].(map[string]any); ok {
		lows = quantityEntries(code, Value{Data: low, Type: "Quantity"}, nil)
	}
	if high, ok := d["high"].(map[string]any); ok {
		highs = quantityEntries(code, Value{Data: high, Type: "Quantity"}, nil)
	}
	switch {
	case len(lows) == 0 && len(highs) == 0:
		return out
	case len(lows) == 0:
		for _, h := range highs {
			h.Low = -math.MaxFloat64
			out = append(out, h)
		}
	case len(highs) == 0:
		for _, l := range lows {
			l.High = math.MaxFloat64
			out = append(out, l)
		}
	default:
		if len(lows) != len(highs) {
			return out
		}
		for i, l := range lows {
			if highs[i].Param != l.Param || highs[i].Text != l.Text {
				return out
			}
		}
		for i, l := range lows {
			l.High = highs[i].High
			out = append(out, l)
		}
	}
	return out
}

// UCUM prefixes and the base units they are applied to when canonicalising.
var (
	ucumPrefixes = map[string]float64{
		"k": 1e3, "h": 1e2, "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "µ": 1e-6,
		"n": 1e-9, "p": 1e-12,
	}
	ucumBases = map[string]bool{"g": true, "m": true, "L": true, "l": true, "mol": true, "eq": true, "s": true}
	// Time units with a fixed length in seconds (not months or years).
	ucumTimes = map[string]float64{"min": 60, "h": 3600, "d": 86400, "wk": 604800}
)

// CanonicalUnit maps a simple UCUM unit onto its base unit and the factor a
// value is multiplied by: "mg" → ("g", 0.001), "cm" → ("m", 0.01), "mmol/L" →
// ("mol/L", 0.001), "h" → ("s", 3600). Handled: a metric prefix (p n u µ m c d da
// h k) on g, m, L (l), mol, eq or s, optionally over a "/"-separated denominator
// taken as is; the base units themselves (scale 1, "l" as "L"); and the
// fixed-length time units min, h, d, wk. Anything else (annotations, powers,
// products, arbitrary units) is left alone (ok false).
func CanonicalUnit(unit string) (base string, scale float64, ok bool) {
	num, den, hasDen := strings.Cut(unit, "/")
	if f, isTime := ucumTimes[num]; isTime && !hasDen {
		return "s", f, true
	}
	if ucumBases[num] {
		if num == "l" {
			num = "L"
		}
		return strings.TrimSuffix(num+"/"+den, "/"), 1, true
	}
	for p, f := range ucumPrefixes {
		if b, found := strings.CutPrefix(num, p); found && ucumBases[b] {
			if b == "l" {
				b = "L"
			}
			if hasDen {
				b += "/" + den
			}
			return b, f, true
		}
	}
	return "", 0, false
}

// --- references

func (n normaliser) referenceEntries(code string, v Value, out []store.IndexEntry) []store.IndexEntry {
	add := func(text string) {
		out = append(out, store.IndexEntry{Param: code, Kind: store.KindReference, Text: text})
	}
	switch d := v.Data.(type) {
	case string: // canonical or uri
		if d == "" {
			return out
		}
		add(d)
		if url, _, versioned := strings.Cut(d, "|"); versioned {
			add(url)
		}
	case map[string]any:
		if typ, id := str(d, "resourceType"), str(d, "id"); typ != "" {
			// A resource itself (Bundle.entry[0].resource): its own reference.
			if id != "" {
				add(typ + "/" + id)
				add(id)
			}
			return out
		}
		if ref := n.referenceText(str(d, "reference")); ref != "" {
			add(ref)
			if typ, id, ok := strings.Cut(ref, "/"); ok && isResourceType(typ) && !strings.Contains(id, "/") {
				add(id)
			}
		}
		if ident, ok := d["identifier"].(map[string]any); ok {
			out = tokenEntries(code+SuffixIdentifier, Value{Data: ident, Type: "Identifier"}, out)
		}
	}
	return out
}

// referenceText normalises a Reference.reference: "Type/id" for relative
// references (a version dropped) and absolute ones on this server; other
// absolute URLs and urn:uuid/urn:oid as they are; contained ("#id") ones are
// not indexed.
func (n normaliser) referenceText(ref string) string {
	if ref == "" || ref[0] == '#' {
		return ""
	}
	if n.base != "" {
		if rest, ok := strings.CutPrefix(ref, strings.TrimSuffix(n.base, "/")+"/"); ok {
			ref = rest
		}
	}
	if strings.Contains(ref, ":") {
		return ref
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	return ref
}

// isResourceType reports whether s looks like a resource type name.
func isResourceType(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

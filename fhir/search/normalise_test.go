package search

import (
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/telehub/telehub/store"
)

// decode turns JSON into the values FHIRPath hands over (UseNumber).
func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func ms(t *testing.T, date string) float64 {
	t.Helper()
	low, _, err := DateRange(date)
	if err != nil {
		t.Fatal(err)
	}
	return low
}

func TestNormaliseTextEntries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  store.Kind
		typ   string
		json  string
		texts []string // "param=text" of every entry, in order
	}{
		{"coding", store.KindToken, "Coding", `{"system":"http://loinc.org","code":"8480-6","display":"Systolic"}`,
			[]string{"p=http://loinc.org|8480-6", "p=8480-6", "p:text=systolic"}},
		{"codeable concept", store.KindToken, "CodeableConcept",
			`{"coding":[{"system":"s","code":"a"},{"code":"b"}],"text":"Tension Artérielle"}`,
			[]string{"p=s|a", "p=a", "p=|b", "p=b", "p:text=tension arterielle"}},
		{"identifier", store.KindToken, "Identifier", `{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}`,
			[]string{"p=urn:oid:1.2.36.146.595.217.0.1|12345", "p=12345"}},
		{"identifier with type", store.KindToken, "Identifier",
			`{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}],"text":"Medical record"},"system":"urn:h","value":"7"}`,
			[]string{"p=urn:h|7", "p=7", "p:text=medical record", "p:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|7"}},
		{"identifier by shape", store.KindToken, "", `{"system":"urn:x","value":"1"}`,
			[]string{"p=urn:x|1", "p=1"}},
		{"contact point", store.KindToken, "ContactPoint", `{"system":"phone","value":"(03) 5555 6473","use":"work"}`,
			[]string{"p=phone|(03) 5555 6473", "p=(03) 5555 6473"}},
		{"contact point by shape", store.KindToken, "", `{"system":"email","value":"a@b.org"}`,
			[]string{"p=email|a@b.org", "p=a@b.org"}},
		{"boolean", store.KindToken, "boolean", `true`, []string{"p=|true", "p=true"}},
		{"code", store.KindToken, "code", `"final"`, []string{"p=|final", "p=final"}},
		{"token without code", store.KindToken, "Coding", `{"system":"s"}`, []string{"p=s|"}},
		{"string", store.KindString, "string", `"Hélène"`, []string{"p=helene", "p:exact=Hélène"}},
		{"string folds special letters", store.KindString, "string", `"Straße Øster"`, []string{"p=strasse oster", "p:exact=Straße Øster"}},
		{"human name", store.KindString, "HumanName",
			`{"family":"Chalmers","given":["Peter","James"],"prefix":["Dr"],"suffix":["III"],"text":"Peter Chalmers"}`,
			[]string{"p=chalmers", "p:exact=Chalmers", "p=peter", "p:exact=Peter", "p=james", "p:exact=James",
				"p=dr", "p:exact=Dr", "p=iii", "p:exact=III", "p=peter chalmers", "p:exact=Peter Chalmers"}},
		{"address", store.KindString, "Address",
			`{"line":["534 Erewhon St"],"city":"PleasantVille","district":"Rainbow","state":"Vic","postalCode":"3999","country":"AU"}`,
			[]string{"p=534 erewhon st", "p:exact=534 Erewhon St", "p=pleasantville", "p:exact=PleasantVille",
				"p=rainbow", "p:exact=Rainbow", "p=vic", "p:exact=Vic", "p=3999", "p:exact=3999", "p=au", "p:exact=AU"}},
		{"extension value", store.KindString, "Extension",
			`{"url":"http://x","valueString":"Élise"}`, []string{"p=elise", "p:exact=Élise"}},
		{"uri", store.KindURI, "uri", `"http://acme.org/fhir/ValueSet/1"`, []string{"p=http://acme.org/fhir/ValueSet/1"}},
		{"relative reference", store.KindReference, "Reference", `{"reference":"Patient/pat1","display":"P"}`,
			[]string{"p=Patient/pat1", "p=pat1"}},
		{"versioned reference", store.KindReference, "Reference", `{"reference":"Patient/pat1/_history/3"}`,
			[]string{"p=Patient/pat1", "p=pat1"}},
		{"absolute reference on our base", store.KindReference, "Reference", `{"reference":"https://hub.example/fhir/Patient/7"}`,
			[]string{"p=Patient/7", "p=7"}},
		{"absolute reference elsewhere", store.KindReference, "Reference", `{"reference":"http://other.org/fhir/Patient/7"}`,
			[]string{"p=http://other.org/fhir/Patient/7"}},
		{"urn:uuid reference", store.KindReference, "Reference", `{"reference":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}`,
			[]string{"p=urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}},
		{"contained reference", store.KindReference, "Reference", `{"reference":"#med1"}`, nil},
		{"reference by identifier", store.KindReference, "Reference", `{"identifier":{"system":"urn:ins","value":"1"}}`,
			[]string{"p:identifier=urn:ins|1", "p:identifier=1"}},
		{"resource as reference", store.KindReference, "Composition", `{"resourceType":"Composition","id":"c1","status":"final"}`,
			[]string{"p=Composition/c1", "p=c1"}},
		{"canonical with version", store.KindReference, "canonical", `"http://hl7.org/fhir/ValueSet/x|4.0.1"`,
			[]string{"p=http://hl7.org/fhir/ValueSet/x|4.0.1", "p=http://hl7.org/fhir/ValueSet/x"}},
	}
	n := normaliser{base: "https://hub.example/fhir"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Param{Code: "p", Kind: tt.kind}
			entries := n.entries(p, Value{Data: decode(t, tt.json), Type: tt.typ}, nil)
			var got []string
			for _, e := range entries {
				got = append(got, e.Param+"="+e.Text)
			}
			if !slices.Equal(got, tt.texts) {
				t.Errorf("entries = %q\nwant      %q", got, tt.texts)
			}
		})
	}
}

func TestNormaliseRanges(t *testing.T) {
	t.Parallel()
	type want struct {
		text      string
		low, high float64
	}
	tests := []struct {
		name string
		kind store.Kind
		typ  string
		json string
		want []want
	}{
		{"date", store.KindDate, "date", `"1974-12-25"`, []want{{"", ms(t, "1974-12-25"), ms(t, "1974-12-26")}}},
		{"year", store.KindDate, "date", `"2015"`, []want{{"", ms(t, "2015"), ms(t, "2016")}}},
		{"dateTime with zone", store.KindDate, "dateTime", `"2013-04-02T09:30:10+01:00"`,
			[]want{{"", ms(t, "2013-04-02T08:30:10Z"), ms(t, "2013-04-02T08:30:11Z")}}},
		{"instant", store.KindDate, "instant", `"2013-04-02T09:30:10.123Z"`,
			[]want{{"", ms(t, "2013-04-02T09:30:10.123Z"), ms(t, "2013-04-02T09:30:10.124Z")}}},
		{"period", store.KindDate, "Period", `{"start":"2012-01-01","end":"2012-06"}`,
			[]want{{"", ms(t, "2012-01-01"), ms(t, "2012-07")}}},
		{"open period", store.KindDate, "Period", `{"start":"2012-01-01"}`, []want{{"", ms(t, "2012-01-01"), maxDate}}},
		{"timing", store.KindDate, "Timing", `{"event":["2020-01-02","2020-01-05"]}`,
			[]want{{"", ms(t, "2020-01-02"), ms(t, "2020-01-06")}}},
		{"invalid date", store.KindDate, "dateTime", `"yesterday"`, nil},
		{"decimal", store.KindNumber, "decimal", `1.5`, []want{{"", 1.45, 1.55}}},
		{"integer", store.KindNumber, "integer", `100`, []want{{"", 99.5, 100.5}}},
		{"exponent", store.KindNumber, "decimal", `1.5e2`, []want{{"", 145, 155}}},
		// Canonical entries ("p:canonical", written "canonical unit") hold
		// the converted value itself.
		{"ucum quantity", store.KindQuantity, "Quantity",
			`{"value":5.4,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}`,
			[]want{{"http://unitsofmeasure.org|mg", 5.35, 5.45}, {"mg", 5.35, 5.45},
				{"canonical http://unitsofmeasure.org|g", 5.4e-3, 5.4e-3}, {"canonical g", 5.4e-3, 5.4e-3}}},
		{"ucum quantity in a base unit", store.KindQuantity, "Quantity",
			`{"value":25,"system":"http://unitsofmeasure.org","code":"cm"}`,
			[]want{{"http://unitsofmeasure.org|cm", 24.5, 25.5}, {"cm", 24.5, 25.5},
				{"canonical http://unitsofmeasure.org|m", 0.25, 0.25}, {"canonical m", 0.25, 0.25}}},
		{"ucum unit that does not canonicalise", store.KindQuantity, "Quantity",
			`{"value":36.5,"system":"http://unitsofmeasure.org","code":"Cel"}`,
			[]want{{"http://unitsofmeasure.org|Cel", 36.45, 36.55}, {"Cel", 36.45, 36.55}}},
		{"time unit", store.KindQuantity, "Quantity", `{"value":140,"unit":"min","system":"http://unitsofmeasure.org","code":"min"}`,
			[]want{{"http://unitsofmeasure.org|min", 139.5, 140.5}, {"min", 139.5, 140.5},
				{"canonical http://unitsofmeasure.org|s", 8400, 8400}, {"canonical s", 8400, 8400}}},
		{"quantity in another system", store.KindQuantity, "Quantity",
			`{"value":2,"system":"http://snomed.info/sct","code":"mg"}`,
			[]want{{"http://snomed.info/sct|mg", 1.5, 2.5}, {"mg", 1.5, 2.5}}},
		{"quantity with unit text only", store.KindQuantity, "Quantity", `{"value":6.3,"unit":"mmol/L"}`,
			[]want{{"mmol/L", 6.25, 6.35}, {"canonical mol/L", 6.3e-3, 6.3e-3}}},
		{"quantity without unit", store.KindQuantity, "Quantity", `{"value":7}`, []want{{"", 6.5, 7.5}}},
		{"range", store.KindQuantity, "Range", `{"low":{"value":3,"unit":"a"},"high":{"value":18,"unit":"a"}}`,
			[]want{{"a", 2.5, 18.5}}},
		{"range in a canonical unit", store.KindQuantity, "Range", `{"low":{"value":3,"code":"mg"},"high":{"value":18,"code":"mg"}}`,
			[]want{{"mg", 2.5, 18.5}, {"canonical g", 3e-3, 18e-3}}},
		{"open range", store.KindQuantity, "Range", `{"low":{"value":12,"system":"http://unitsofmeasure.org","code":"a"}}`,
			[]want{{"http://unitsofmeasure.org|a", 11.5, math.MaxFloat64}, {"a", 11.5, math.MaxFloat64}}},
		{"range in two units", store.KindQuantity, "Range", `{"low":{"value":1,"code":"a"},"high":{"value":2,"code":"mo"}}`, nil},
		{"money", store.KindQuantity, "Money", `{"value":10.5,"currency":"EUR"}`,
			[]want{{"urn:iso:std:iso:4217|EUR", 10.45, 10.55}, {"EUR", 10.45, 10.55}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Param{Code: "p", Kind: tt.kind}
			entries := normaliser{}.entries(p, Value{Data: decode(t, tt.json), Type: tt.typ}, nil)
			if len(entries) != len(tt.want) {
				t.Fatalf("entries = %+v, want %+v", entries, tt.want)
			}
			for i, e := range entries {
				w := tt.want[i]
				text := e.Text
				if e.Param == "p"+SuffixCanonical {
					text = "canonical " + text
				}
				if e.Kind != tt.kind || text != w.text || !near(e.Low, w.low) || !near(e.High, w.high) {
					t.Errorf("entry %d = %+v, want %+v", i, e, w)
				}
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestCanonicalUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unit, base string
		scale      float64
		ok         bool
	}{
		{"mg", "g", 1e-3, true}, {"kg", "g", 1e3, true}, {"ug", "g", 1e-6, true}, {"cm", "m", 1e-2, true},
		{"mL", "L", 1e-3, true}, {"dl", "L", 1e-1, true}, {"mmol/L", "mol/L", 1e-3, true},
		{"h", "s", 3600, true}, {"min", "s", 60, true}, {"ms", "s", 1e-3, true},
		{"g", "g", 1, true}, {"l", "L", 1, true}, {"g/dL", "g/dL", 1, true}, {"s", "s", 1, true}, {"mm[Hg]", "", 0, false}, {"%", "", 0, false}, {"kg/m2", "g/m2", 1e3, true},
		{"{beats}/min", "", 0, false}, {"a", "", 0, false},
	}
	for _, tt := range tests {
		base, scale, ok := CanonicalUnit(tt.unit)
		if base != tt.base || scale != tt.scale || ok != tt.ok {
			t.Errorf("CanonicalUnit(%q) = %q, %g, %v; want %q, %g, %v", tt.unit, base, scale, ok, tt.base, tt.scale, tt.ok)
		}
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Hélène": "helene", "PETER": "peter", "François Çà": "francois ca", "Ærøskøbing": "aeroskobing",
		"Łódź": "lodz", "Müller": "muller", "": "",
	} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNumberRangeFastPathIsExact: the float shortcut gives the very bounds of
// the exact rational computation, and is taken for short decimals.
func TestNumberRangeFastPathIsExact(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"5.4", "1.5", "100", "0.8", "-3.25", "123456789.123456", "0.000001", "7", "1.50", "+2.5"} {
		for _, scale := range []float64{1, 1e-3, 1e-6, 1e3, 60, 3600, 0.01} {
			fl, fh, ok := fastScaledRange(s, scale)
			if !ok && len(s) < 10 {
				t.Errorf("fastScaledRange(%q, %g) not taken", s, scale)
			}
			if !ok { // too many digits: the exact path
				fl, fh, _ = scaledRange(s, scale)
			}
			v, _ := new(big.Rat).SetString(s)
			half := big.NewRat(1, 2)
			half.Quo(half, new(big.Rat).SetFloat64(math.Pow10(decimals(s))))
			r, _ := new(big.Rat).SetString(strconv.FormatFloat(scale, 'g', -1, 64))
			el, _ := new(big.Rat).Mul(new(big.Rat).Sub(v, half), r).Float64()
			eh, _ := new(big.Rat).Mul(new(big.Rat).Add(v, half), r).Float64()
			if fl != el || fh != eh {
				t.Errorf("fastScaledRange(%q, %g) = [%v, %v), exact [%v, %v)", s, scale, fl, fh, el, eh)
			}
		}
	}
}

package fhirxml_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/internal/fhirxml"
)

func TestToJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, xml, want string
	}{
		{
			name: "arrays follow cardinality, primitives are typed",
			xml: `<Patient xmlns="http://hl7.org/fhir"><id value="p"/><active value="true"/>` +
				`<name><given value="A"/><given value="B"/></name><multipleBirthInteger value="2"/></Patient>`,
			want: `{"resourceType":"Patient","id":"p","active":true,"name":[{"given":["A","B"]}],"multipleBirthInteger":2}`,
		},
		{
			name: "decimals keep their text, choices their typed name",
			xml:  `<Observation xmlns="http://hl7.org/fhir"><status value="final"/><valueQuantity><value value="1.50"/><unit value="kg"/></valueQuantity></Observation>`,
			want: `{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50,"unit":"kg"}}`,
		},
		{
			name: "primitive id and extensions go under _field, aligned in arrays",
			xml: `<Patient xmlns="http://hl7.org/fhir"><birthDate value="1970"><extension url="http://x"><valueString value="v"/></extension></birthDate>` +
				`<name><given value="A"/><given id="g" value="B"/></name></Patient>`,
			want: `{"resourceType":"Patient","birthDate":"1970","_birthDate":{"extension":[{"url":"http://x","valueString":"v"}]},` +
				`"name":[{"given":["A","B"],"_given":[null,{"id":"g"}]}]}`,
		},
		{
			name: "the narrative div is a normalised string",
			xml: "<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">\r\n" +
				"<p class=\"a\">&quot;x&quot; &amp; y<br/></p></div></text></Patient>",
			want: `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">\n<p class=\"a\">\"x\" &amp; y<br/></p></div>"}}`,
		},
		{
			name: "contained resources and unknown elements",
			xml:  `<Patient xmlns="http://hl7.org/fhir"><contained><Organization><id value="o"/></Organization></contained><colour value="red"/></Patient>`,
			want: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := fhirxml.ToJSON([]byte(tc.xml), fhirpath.Types())
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, got, []byte(tc.want)) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestToJSONRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `<Patient>`, `<HumanName xmlns="http://hl7.org/fhir"/>`} {
		if got, err := fhirxml.ToJSON([]byte(in), fhirpath.Types()); err == nil {
			t.Errorf("ToJSON(%q) = %s, want an error", in, got)
		}
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	for _, x := range []struct {
		data []byte
		v    *any
	}{{a, &va}, {b, &vb}} {
		dec := json.NewDecoder(bytes.NewReader(x.data))
		dec.UseNumber()
		if err := dec.Decode(x.v); err != nil {
			t.Fatalf("%s: %v", x.data, err)
		}
	}
	return reflect.DeepEqual(va, vb)
}

package fhirpath

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const observationJSON = `{
  "resourceType": "Observation", "id": "obs1", "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}]},
  "subject": {"reference": "Patient/p1"},
  "performer": [{"reference": "Practitioner/dr1"}, {"reference": "#org"}],
  "contained": [{"resourceType": "Organization", "id": "org", "name": "Clinic"}],
  "effectiveDateTime": "2016-03-28T09:30:10+01:00",
  "valueQuantity": {"value": 67.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
  "component": [{"code": {"text": "a"}, "valueString": "x"}, {"code": {"text": "b"}, "valueBoolean": true}]
}`

const patientJSON = `{
  "resourceType": "Patient", "id": "p1", "active": true, "gender": "female",
  "name": [{"use": "official", "family": "Durand", "given": ["Hélène", "Marie"]}, {"use": "nickname", "given": ["Lena"]}],
  "birthDate": "1974-12-25",
  "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
  "deceasedBoolean": false,
  "contact": [{"name": {"family": "Durand"}, "telecom": [{"system": "phone", "value": "123"}]}],
  "multipleBirthInteger": 2
}`

func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func eval(t testing.TB, resource any, expr string, opts ...Option) Collection {
	t.Helper()
	e, err := Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	got, err := e.Evaluate(resource, opts...)
	if err != nil {
		t.Fatalf("Evaluate(%q): %v", expr, err)
	}
	return got
}

// describe renders items as "value:Type" for comparisons.
func describe(c Collection) string {
	parts := make([]string, len(c))
	for i, it := range c {
		parts[i] = formatForSuite(it) + ":" + it.Type
	}
	return strings.Join(parts, " ")
}

func TestEvaluateTypesItems(t *testing.T) {
	obs := mustDecode(t, observationJSON)
	pat := mustDecode(t, patientJSON)
	tests := []struct {
		resource any
		expr     string
		want     string
	}{
		{pat, "Patient.name.family", "Durand:string"},
		{pat, "name.given", "Hélène:string Marie:string Lena:string"},
		{pat, "Patient.name.first().use", "official:code"},
		{pat, "Patient.birthDate", "@1974-12-25:date"},
		{pat, "Patient.deceased", "false:boolean"},
		{pat, "Patient.multipleBirth", "2:integer"},
		{pat, "Patient.contact.telecom.value", "123:string"},
		{pat, "Patient.id", "p1:id"},
		{pat, "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value", "@1974-12-25T14:35:45-05:00:dateTime"},
		{pat, "Patient.name.where(use = 'official').given.first()", "Hélène:string"},
		{pat, "Patient.name.given | Patient.name.family", "Hélène:string Marie:string Lena:string Durand:string"},
		{pat, "Patient.active and Patient.gender = 'female'", "true:System.Boolean"},
		{obs, "Observation.value.value", "67.50:decimal"},
		{obs, "(Observation.value as Quantity).unit", "kg:string"},
		{obs, "Observation.value.ofType(Quantity).code", "kg:code"},
		{obs, "Observation.value is Quantity", "true:System.Boolean"},
		{obs, "Observation.value is Period", "false:System.Boolean"},
		{obs, "Observation.effective", "@2016-03-28T09:30:10+01:00:dateTime"},
		{obs, "Observation.component.value", "x:string true:boolean"},
		{obs, "Observation.component.value.ofType(boolean)", "true:boolean"},
		{obs, "Observation.code.coding.code", "29463-7:code"},
		{obs, "Observation.subject.where(resolve() is Patient).reference", "Patient/p1:string"},
		{obs, "Observation.performer.where(resolve() is Patient)", ""},
		{obs, "Observation.performer.resolve().ofType(Organization).name", "Clinic:string"},
		{obs, "Observation.performer.resolve().id", "dr1:id org:id"},
		{obs, "Observation.value.value * 2", "135.00:System.Decimal"},
		{obs, "Observation.value > 60 'kg'", "true:System.Boolean"},
		{obs, "Observation.value = 67500 'g'", "true:System.Boolean"},
		{obs, "%resource.id", "obs1:id"},
		{obs, "Observation.effective > @2016-03-28T08:00:00Z", "true:System.Boolean"},
	}
	for _, tt := range tests {
		if got := describe(eval(t, tt.resource, tt.expr)); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestOptions(t *testing.T) {
	obs := mustDecode(t, observationJSON)
	pat := mustDecode(t, patientJSON)
	resolver := WithResolver(func(ref string) (any, bool) {
		if ref == "Patient/p1" {
			return pat, true
		}
		return nil, false
	})
	if got := describe(eval(t, obs, "Observation.subject.resolve().name.family", resolver)); got != "Durand:string" {
		t.Errorf("resolver: got %q", got)
	}
	env := WithEnv("threshold", Collection{{Value: int64(60), Type: typeInteger}})
	if got := describe(eval(t, obs, "Observation.value.value > %threshold", env)); got != "true:System.Boolean" {
		t.Errorf("env: got %q", got)
	}
	component := obs.(map[string]any)["component"].([]any)[0]
	ctx := WithContext(component)
	if got := describe(eval(t, obs, "code.text & '/' & %resource.id", ctx)); got != "a/obs1:System.String" {
		t.Errorf("context: got %q", got)
	}
	components := eval(t, obs, "Observation.component")
	if got := describe(eval(t, obs, "code.text", WithContext(components[1]))); got != "b:string" {
		t.Errorf("typed context: got %q", got)
	}
	if _, err := MustCompile("%undefined").Evaluate(obs); err == nil {
		t.Error("an undefined variable must be an error")
	}
}

func TestBundleResolve(t *testing.T) {
	bundle := mustDecode(t, fmt.Sprintf(`{"resourceType": "Bundle", "type": "collection", "entry": [
		{"fullUrl": "http://example.org/fhir/Patient/p1", "resource": %s},
		{"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "resource": %s}]}`, patientJSON, observationJSON))
	got := eval(t, bundle, "Bundle.entry.resource.ofType(Observation).subject.resolve().name.given.first()")
	if describe(got) != "Hélène:string" {
		t.Errorf("got %q", describe(got))
	}
	if got := describe(eval(t, bundle, "Bundle.entry[1].resource.id")); got != "obs1:id" {
		t.Errorf("entry[1]: got %q", got)
	}
}

func TestDecimalPrecision(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"0.1 + 0.2 = 0.3", "true"},
		{"1.0 = 1.00", "true"},
		{"1.10 + 2.205", "3.305"},
		{"1.50 * 2", "3.00"},
		{"10 / 4", "2.5"},
		{"1 / 3", "0.33333333"},
		{"7 div 2", "3"},
		{"7 mod 2", "1"},
		{"-7.5 div 2", "-3"},
		{"1.23456.round(2)", "1.23"},
		{"1.005 ~ 1.0", "true"},
		{"(1.5).floor()", "1"},
		{"(-1.5).ceiling()", "-1"},
		{"1 / 0", ""},
	}
	for _, tt := range tests {
		got := eval(t, nil, tt.expr)
		var s []string
		for _, it := range got {
			s = append(s, formatForSuite(it))
		}
		if strings.Join(s, ",") != tt.want {
			t.Errorf("%s = %v, want %s", tt.expr, s, tt.want)
		}
	}
}

func TestDateTimeSemantics(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"@2012 = @2012-01", ""},
		{"@2012-01-01 < @2012-01-02", "true"},
		{"@2012-01 < @2012-02-15", "true"},
		{"@2012-01 < @2012-01-15", ""},
		{"@2012-01-01T10:00:00Z = @2012-01-01T11:00:00+01:00", "true"},
		{"@2012-01-01T10:00:00.000Z = @2012-01-01T10:00:00Z", "true"},
		{"@2012-01-31 + 1 month", "@2012-02-29"},
		{"@2012-01-01T10:00:00Z + 90 minutes", "@2012-01-01T11:30:00Z"},
		{"@2012-03-01 - 1 day", "@2012-02-29"},
		{"@T10:00 < @T11:00", "true"},
		{"@2012-01-01 ~ @2012-01", "false"},
		{"'2012-04-15'.toDate() = @2012-04-15", "true"},
	}
	for _, tt := range tests {
		got := eval(t, nil, tt.expr)
		var s []string
		for _, it := range got {
			s = append(s, formatForSuite(it))
		}
		if strings.Join(s, ",") != tt.want {
			t.Errorf("%s = %v, want %s", tt.expr, s, tt.want)
		}
	}
}

func TestCompileCaches(t *testing.T) {
	a, err := Compile("Patient.name.given")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Compile("Patient.name.given")
	if a != b {
		t.Error("Compile did not reuse the cached expression")
	}
	if a.String() != "Patient.name.given" {
		t.Errorf("String() = %q", a.String())
	}
	c := cache()
	for i := range cacheSize + 10 {
		if _, err := Compile(fmt.Sprintf("%d + 1", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	n := c.order.Len()
	c.mu.Unlock()
	if n > cacheSize {
		t.Errorf("cache holds %d expressions, limit %d", n, cacheSize)
	}
}

func TestEvaluateErrors(t *testing.T) {
	pat := mustDecode(t, patientJSON)
	for _, expr := range []string{
		"Patient.name.given1",         // no such element
		"Patient.deceasedBoolean",     // a typed choice name
		"Patient.name.given.single()", // several items
		"Patient.name.substring(1)",   // not a string
		"Patient.name.ofType(Unknown)",
		"Patient.name.nosuchfunction()",
	} {
		if got, err := MustCompile(expr).Evaluate(pat); err == nil {
			t.Errorf("%s: want an error, got %v", expr, describe(got))
		}
	}
}

func TestItemsKeepJSONValues(t *testing.T) {
	obs := mustDecode(t, observationJSON)
	got := eval(t, obs, "Observation.value.value")
	if n, ok := got[0].Value.(json.Number); !ok || n.String() != "67.50" {
		t.Errorf("value = %#v, want json.Number 67.50", got[0].Value)
	}
	q := eval(t, obs, "Observation.value")
	if _, ok := q[0].Value.(map[string]any); !ok || q[0].Type != "Quantity" {
		t.Errorf("value = %#v (%s), want the JSON object typed Quantity", q[0].Value, q[0].Type)
	}
}

// TestConcurrentEvaluate shares compiled expressions between goroutines
// (run with -race to check the cache and the model).
func TestConcurrentEvaluate(t *testing.T) {
	pat := mustDecode(t, patientJSON)
	exprs := []string{"Patient.name.given", "Patient.name.where(use = 'official').family", "now() = now()", "Patient.gender is code"}
	want := make([]string, len(exprs))
	for i, e := range exprs {
		want[i] = describe(eval(t, pat, e))
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				k := (g + i) % len(exprs)
				got, err := MustCompile(exprs[k]).Evaluate(pat)
				if err == nil && describe(got) != want[k] {
					err = fmt.Errorf("%s = %s, want %s", exprs[k], describe(got), want[k])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestRunawayExpressionsStop(t *testing.T) {
	if got := eval(t, nil, "2.power(100000)"); len(got) != 0 {
		t.Errorf("2.power(100000) = %s, want empty (out of range)", describe(got))
	}
	if got := describe(eval(t, nil, "2.power(10)")); got != "1024:System.Integer" {
		t.Errorf("2.power(10) = %s", got)
	}
	if _, err := MustCompile("1.repeat($this + 1)").Evaluate(nil); err == nil {
		t.Error("an endless repeat() must fail")
	}
}

package conformance

import "net/http"

// searchCases is the cross-backend search table over the specification
// examples. Ids were found by reading the example files; the comments say
// why a case finds what it finds when the query alone does not.
func searchCases() []searchCase {
	var cases []searchCase
	for _, group := range [][]searchCase{
		idCases(), stringCases(), tokenCases(), dateCases(), numberCases(),
		quantityCases(), referenceCases(), compositeCases(), uriCases(),
		specialCases(), orAndCases(), chainCases(), hasCases(), includeCases(),
		sortCases(), pagingCases(), resultCases(), metaCases(), textCases(),
		compartmentCases(), systemCases(), terminologyCases(), errorCases(),
	} {
		cases = append(cases, group...)
	}
	return cases
}

// allPatients are the 22 Patient examples.
var allPatients = refs("Patient", "animal", "ch-example", "dicom", "example", "f001", "f201",
	"genetics-example1", "glossy", "ihe-pcd", "infant-fetal", "infant-mom", "infant-twin-1",
	"infant-twin-2", "mom", "newborn", "pat1", "pat2", "pat3", "pat4", "proband", "xcda", "xds")

// patientsExcept is allPatients without the given ids.
func patientsExcept(ids ...string) []string {
	skip := toSet(refs("Patient", ids...))
	var out []string
	for _, r := range allPatients {
		if !skip[r] {
			out = append(out, r)
		}
	}
	return out
}

func idCases() []searchCase {
	return []searchCase{
		{name: "_id/one", path: "Patient?_id=example", match: refs("Patient", "example")},
		{name: "_id/or", path: "Patient?_id=example,pat1,nosuch", match: refs("Patient", "example", "pat1")},
		{name: "_id/unknown", path: "Patient?_id=nosuch"},
		{name: "_id/other-type", path: "Observation?_id=example", match: refs("Observation", "example")},
		{name: "_id/not", path: "Patient?_id:not=example", match: patientsExcept("example")},
		{name: "_id/with-dots", path: "Organization?_id=2.16.840.1.113883.19.5", match: refs("Organization", "2.16.840.1.113883.19.5")},
		{name: "_id/and-other-param", path: "Patient?_id=example,pat1&gender=female"},
		{name: "_id/post-search", method: http.MethodPost, path: "Patient/_search", form: "_id=pat1,pat2", match: refs("Patient", "pat1", "pat2")},
	}
}

func stringCases() []searchCase {
	return []searchCase{
		// name covers family, given, prefix, suffix and text of every HumanName,
		// matched from the start, ignoring case.
		{name: "string/name-family", path: "Patient?name=solo", match: refs("Patient", "infant-mom", "infant-twin-1", "infant-twin-2")},
		{name: "string/name-upper-case", path: "Patient?name=SOLO", match: refs("Patient", "infant-mom", "infant-twin-1", "infant-twin-2")},
		{name: "string/name-given-prefix", path: "Patient?name=pet", match: refs("Patient", "example")},
		{name: "string/name-family-and-given", path: "Patient?name=ev", match: refs("Patient", "genetics-example1", "mom")},
		// f201's name.text is "Roel", its given "Roelof Olaf".
		{name: "string/name-text", path: "Patient?name=roel", match: refs("Patient", "f201")},
		{name: "string/name-prefix-part", path: "Patient?name=drs", match: refs("Patient", "f201")},
		{name: "string/name-suffix-part", path: "Patient?name=msc", match: refs("Patient", "f001")},
		// "van de Heuvel" starts with "van"; "heuvel" is inside, not at the start.
		{name: "string/name-multiword", path: "Patient?name=van", match: refs("Patient", "f001")},
		{name: "string/name-not-start", path: "Patient?name=heuvel"},
		// D: Drs. (f201), Donald/Duck (pat1, pat2), Doe (xds).
		{name: "string/name-one-letter", path: "Patient?name=d", match: refs("Patient", "f201", "pat1", "pat2", "xds")},
		{name: "string/name-cjk", path: "Patient?name=" + q("张"), match: refs("Patient", "ch-example")},
		{name: "string/name-exact", path: "Patient?name:exact=Eve", match: refs("Patient", "genetics-example1", "mom")},
		{name: "string/name-exact-case", path: "Patient?name:exact=eve"},
		{name: "string/name-exact-prefix", path: "Patient?name:exact=Ev"},
		{name: "string/name-contains", path: "Patient?name:contains=owell", match: refs("Patient", "pat3", "pat4")},
		{name: "string/name-contains-middle", path: "Patient?name:contains=HEUV", match: refs("Patient", "f001")},
		{name: "string/family", path: "Patient?family=donald", match: refs("Patient", "pat1", "pat2")},
		{name: "string/family-not-given", path: "Patient?family=duck"},
		{name: "string/given", path: "Patient?given=duck", match: refs("Patient", "pat1", "pat2")},
		{name: "string/given-j", path: "Patient?given=j", match: refs("Patient", "example", "infant-twin-1", "infant-twin-2", "xds")},
		{name: "string/family-exact", path: "Patient?family:exact=Levin", match: refs("Patient", "glossy", "xcda")},
		{name: "string/name-missing", path: "Patient?name:missing=true", match: refs("Patient", "infant-fetal", "newborn", "proband")},
		{name: "string/address-city", path: "Patient?address-city=amsterdam", match: refs("Patient", "f001", "f201")},
		{name: "string/address-city-camel", path: "Patient?address-city=pleasantv", match: refs("Patient", "example")},
		{name: "string/address-any-part", path: "Patient?address=metro", match: refs("Patient", "xds")},
		{name: "string/address-postalcode", path: "Patient?address-postalcode=3999", match: refs("Patient", "example")},
		{name: "string/address-country", path: "Patient?address-country=nld", match: refs("Patient", "f001", "f201")},
		{name: "string/address-state", path: "Patient?address-state=il", match: refs("Patient", "xds")},
		{name: "string/practitioner-name", path: "Practitioner?name=van", match: refs("Practitioner", "f001", "f006")},
		{name: "string/practitioner-family", path: "Practitioner?family=voigt", match: refs("Practitioner", "f002")},
		{name: "string/practitioner-address-city", path: "Practitioner?address-city=den", match: refs("Practitioner", "f001", "f002", "f006", "f007", "f201", "f202", "f203", "f204")},
		{name: "string/practitioner-address-city-exact", path: "Practitioner?address-city:exact=Den%20Burg", match: refs("Practitioner", "f001", "f002", "f006", "f007")},
		{name: "string/organization-name", path: "Organization?name=burgers", match: refs("Organization", "f001", "f002", "f003")},
		// "Burgers UMC Ear,Nose,Throat unit": the comma is escaped, not an OR.
		{name: "string/organization-name-escaped-comma", path: "Organization?name=" + q(`Burgers UMC Ear\,Nose`), match: refs("Organization", "f003")},
		{name: "string/organization-alias", path: "Organization?name=hl7", match: refs("Organization", "hl7", "hl7pay")},
	}
}

func tokenCases() []searchCase {
	loinc := "http://loinc.org|"
	return []searchCase{
		{name: "token/gender", path: "Patient?gender=female", match: refs("Patient", "animal", "genetics-example1", "infant-mom", "infant-twin-1", "mom", "pat4", "proband")},
		{name: "token/gender-other", path: "Patient?gender=other", match: refs("Patient", "pat2")},
		{name: "token/gender-unknown-code", path: "Patient?gender=nosuch"},
		// :not also finds resources without the element (ihe-pcd has no gender).
		{name: "token/gender-not", path: "Patient?gender:not=male", match: refs("Patient", "animal", "genetics-example1", "infant-mom", "infant-twin-1", "mom", "pat4", "proband", "pat2", "ihe-pcd")},
		{name: "token/gender-missing", path: "Patient?gender:missing=true", match: refs("Patient", "ihe-pcd")},
		{name: "token/gender-present", path: "Patient?gender:missing=false", match: patientsExcept("ihe-pcd")},
		{name: "token/boolean", path: "Patient?active=true", match: patientsExcept("infant-fetal", "infant-mom", "infant-twin-1", "infant-twin-2", "newborn")},
		{name: "token/boolean-false", path: "Patient?active=false"},
		{name: "token/boolean-missing", path: "Patient?active:missing=true", match: refs("Patient", "infant-fetal", "infant-mom", "infant-twin-1", "infant-twin-2", "newborn")},
		// deceased is "deceased.exists() and deceased != false": pat3 has a
		// deceasedDateTime, pat4 deceasedBoolean true.
		{name: "token/deceased", path: "Patient?deceased=true", match: refs("Patient", "pat3", "pat4")},
		{name: "token/identifier-code-only", path: "Patient?identifier=123456", match: refs("Patient", "glossy", "pat2")},
		{name: "token/identifier-system-and-code", path: "Patient?identifier=" + q("urn:oid:0.1.2.3.4.5.6.7|123456"), match: refs("Patient", "pat2")},
		{name: "token/identifier-system-only", path: "Patient?identifier=" + q("urn:oid:0.1.2.3.4.5.6.7|"), match: refs("Patient", "pat1", "pat2", "pat3", "pat4")},
		// ihe-pcd's identifier is the only one without a system.
		{name: "token/identifier-no-system", path: "Patient?identifier=" + q("|AB60001"), match: refs("Patient", "ihe-pcd")},
		{name: "token/identifier-no-system-mismatch", path: "Patient?identifier=" + q("|123456")},
		{name: "token/identifier-wrong-system", path: "Patient?identifier=" + q("urn:oid:1.2.3|123456")},
		{name: "token/identifier-shared", path: "Patient?identifier=" + q("http://hl7.org/fhir/sid/us-ssn|444222222"), match: refs("Patient", "genetics-example1", "mom")},
		{name: "token/identifier-not-prefix", path: "Patient?identifier=1234"},
		// MR identifiers with value 12345: example (urn:oid:1.2.36…) and xcda.
		{name: "token/identifier-of-type", path: "Patient?identifier:of-type=" + q("http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345"), match: refs("Patient", "example", "xcda")},
		{name: "token/identifier-of-type-ss", path: "Patient?identifier:of-type=" + q("http://terminology.hl7.org/CodeSystem/v2-0203|SS|444222222"), match: refs("Patient", "genetics-example1", "mom")},
		{name: "token/identifier-of-type-wrong-type", path: "Patient?identifier:of-type=" + q("http://terminology.hl7.org/CodeSystem/v2-0203|SS|12345")},
		{name: "token/telecom-value", path: "Patient?telecom=555-555-2003", match: refs("Patient", "genetics-example1", "mom")},
		{name: "token/email", path: "Patient?email=" + q("p.heuvel@gmail.com"), match: refs("Patient", "f001")},
		{name: "token/phone", path: "Patient?phone=0648352638", match: refs("Patient", "f001")},
		{name: "token/language", path: "Patient?language=nl", match: refs("Patient", "f001")},
		{name: "token/code-system-and-code", path: "Observation?code=" + q(loinc+"85354-9"), match: refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar")},
		{name: "token/code-only", path: "Observation?code=85354-9", match: refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar")},
		// body-length carries both 8302-2 and 8306-3.
		{name: "token/code-second-coding", path: "Observation?code=" + q(loinc+"8306-3"), match: refs("Observation", "body-length")},
		{name: "token/code-shared", path: "Observation?code=" + q(loinc+"8302-2"), match: refs("Observation", "body-height", "body-length")},
		{name: "token/code-snomed", path: "Observation?code=" + q("http://snomed.info/sct|363779003"), match: refs("Observation", "example-TPMT-diplotype", "example-TPMT-haplotype-one", "example-TPMT-haplotype-two", "example-diplotype1")},
		{name: "token/code-case-sensitive", path: "Observation?code=" + q("http://loinc.org|85354-9X")},
		{name: "token/code-system-only", path: "Observation?code=" + q(loinc), match: refs("Observation", "10minute-apgar-score", "1minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "bgpanel", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar", "bloodgroup", "bmd", "bmi", "bmi-using-related", "body-height", "body-length", "body-temperature", "date-lastmp", "example", "example-genetics-1", "example-genetics-2", "example-genetics-brcapat", "example-haplotype1", "example-haplotype2", "example-phenotype", "f001", "f002", "f003", "f004", "f005", "f202", "f203", "f205", "f206", "gcs-qa", "glasgow", "head-circumference", "heart-rate", "herd1", "map-sitting", "mbp", "respiratory-rate", "rhstatus", "satO2", "secondsmoke", "unsat", "vitals-panel", "vomiting", "vp-oyster")},
		{name: "token/category", path: "Observation?category=vital-signs", match: refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar", "bmi", "bmi-using-related", "body-height", "body-length", "body-temperature", "example", "f202", "head-circumference", "heart-rate", "mbp", "respiratory-rate", "satO2", "vitals-panel")},
		{name: "token/category-system", path: "Observation?category=" + q("http://terminology.hl7.org/CodeSystem/observation-category|laboratory"), match: refs("Observation", "bgpanel", "bloodgroup", "herd1", "map-sitting", "rhstatus")},
		{name: "token/status", path: "Observation?status=cancelled", match: refs("Observation", "blood-pressure-cancel", "unsat")},
		{name: "token/status-or", path: "Observation?status=preliminary,entered-in-error,unknown", match: refs("Observation", "vp-oyster", "f202", "example-TPMT-haplotype-one", "example-TPMT-haplotype-two", "example-haplotype1", "example-haplotype2")},
		// Every Observation is final except those seven.
		{name: "token/status-not", path: "Observation?status:not=final", match: refs("Observation", "blood-pressure-cancel", "unsat", "vp-oyster", "f202", "example-TPMT-haplotype-one", "example-TPMT-haplotype-two", "example-haplotype1", "example-haplotype2")},
		{name: "token/combo-code-component", path: "Observation?combo-code=" + q(loinc+"8480-6"), match: refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar")},
		{name: "token/component-code", path: "Observation?component-code=" + q(loinc+"8462-4"), match: refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar")},
		{name: "token/code-text", path: "Condition?code:text=stroke", match: refs("Condition", "stroke")},
		{name: "token/condition-clinical-status", path: "Condition?clinical-status=resolved", match: refs("Condition", "f201", "f202")},
		{name: "token/condition-severity", path: "Condition?severity=24484000", match: refs("Condition", "example", "f002", "f202", "f204")},
		{name: "token/condition-category", path: "Condition?category=encounter-diagnosis", match: refs("Condition", "example", "f202", "stroke")},
		{name: "token/encounter-class", path: "Encounter?class=IMP", match: refs("Encounter", "emerg", "example", "f203")},
		{name: "token/encounter-status", path: "Encounter?status=in-progress", match: refs("Encounter", "emerg", "example")},
		{name: "token/practitioner-gender", path: "Practitioner?gender=female", match: refs("Practitioner", "f005", "f007", "f204")},
		{name: "token/practitioner-identifier-shared", path: "Practitioner?identifier=118265112", match: refs("Practitioner", "f004", "f005")},
		{name: "token/organization-type", path: "Organization?type=prov", match: refs("Organization", "f001", "f201", "f203")},
		{name: "token/organization-active", path: "Organization?active=true", match: refs("Organization", "f002", "f003", "f201", "f203", "mmanu")},
		{name: "token/organization-identifier", path: "Organization?identifier=Gastro", match: refs("Organization", "1")},
	}
}

// vitals1999 are the Observations whose effectiveDateTime is 1999-07-02.
var vitals1999 = refs("Observation", "bmi", "bmi-using-related", "body-height", "body-length",
	"body-temperature", "head-circumference", "heart-rate", "mbp", "respiratory-rate", "vitals-panel")

func dateCases() []searchCase {
	// Birth dates: glossy and xcda 1932-09-24, f001 1944-11-17, xds
	// 1956-05-27, f201 1960-03-13, proband 1966-04-04, genetics-example1 and
	// mom 1973-05-31, ch-example and example 1974-12-25, pat3 1982-01-23,
	// pat4 1982-08-02, infant-mom 1995-10-12, animal 2010-03-23, the twins
	// 2017-05-15, newborn 2017-09-05; dicom, ihe-pcd, infant-fetal, pat1 and
	// pat2 have none.
	return []searchCase{
		{name: "date/birthdate-day", path: "Patient?birthdate=1974-12-25", match: refs("Patient", "ch-example", "example")},
		{name: "date/birthdate-year", path: "Patient?birthdate=1974", match: refs("Patient", "ch-example", "example")},
		{name: "date/birthdate-month-eq", path: "Patient?birthdate=eq1932-09", match: refs("Patient", "glossy", "xcda")},
		{name: "date/birthdate-ne", path: "Patient?birthdate=ne1974-12-25", match: refs("Patient", "animal", "f001", "f201", "genetics-example1", "glossy", "infant-mom", "infant-twin-1", "infant-twin-2", "mom", "newborn", "pat3", "pat4", "proband", "xcda", "xds")},
		{name: "date/birthdate-gt", path: "Patient?birthdate=gt2000", match: refs("Patient", "animal", "infant-twin-1", "infant-twin-2", "newborn")},
		{name: "date/birthdate-lt", path: "Patient?birthdate=lt1950", match: refs("Patient", "f001", "glossy", "xcda")},
		{name: "date/birthdate-ge", path: "Patient?birthdate=ge1982-08-02", match: refs("Patient", "pat4", "infant-mom", "animal", "infant-twin-1", "infant-twin-2", "newborn")},
		{name: "date/birthdate-le", path: "Patient?birthdate=le1960-03-13", match: refs("Patient", "f201", "f001", "glossy", "xcda", "xds")},
		// sa1982: starts after the end of 1982 (pat3 and pat4 are in 1982).
		{name: "date/birthdate-sa", path: "Patient?birthdate=sa1982", match: refs("Patient", "infant-mom", "animal", "infant-twin-1", "infant-twin-2", "newborn")},
		{name: "date/birthdate-eb", path: "Patient?birthdate=eb1960", match: refs("Patient", "f001", "glossy", "xcda", "xds")},
		// The nearest other birth dates are 12 years away, far outside any
		// approximation of a date 82 years ago.
		{name: "date/birthdate-ap", path: "Patient?birthdate=ap1944-11-17", match: refs("Patient", "f001")},
		{name: "date/birthdate-and-range", path: "Patient?birthdate=ge1973&birthdate=lt1975", match: refs("Patient", "ch-example", "example", "genetics-example1", "mom")},
		{name: "date/birthdate-or", path: "Patient?birthdate=1932-09-24,2010-03-23", match: refs("Patient", "glossy", "xcda", "animal")},
		{name: "date/birthdate-missing", path: "Patient?birthdate:missing=true", match: refs("Patient", "dicom", "ihe-pcd", "infant-fetal", "pat1", "pat2")},
		{name: "date/birthdate-none", path: "Patient?birthdate=1900-01-01"},
		{name: "date/observation-day", path: "Observation?date=1999-07-02", match: vitals1999},
		{name: "date/observation-lt", path: "Observation?date=lt2000", match: vitals1999},
		{name: "date/observation-eb", path: "Observation?date=eb1999-07-03", match: vitals1999},
		// All 43 Observations with an effective time but the ten of 1999-07-02.
		{name: "date/observation-ne", path: "Observation?date=ne1999-07-02", match: refs("Observation", "10minute-apgar-score", "1minute-apgar-score", "20minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "656", "abdo-tender", "alcohol-type", "bgpanel", "blood-pressure-cancel", "blood-pressure-dar", "blood-pressure", "bloodgroup", "date-lastmp", "ekg", "example", "eye-color", "f001", "f002", "f003", "f004", "f005", "gcs-qa", "glasgow", "herd1", "map-sitting", "rhstatus", "satO2", "secondsmoke", "trachcare", "unsat", "vomiting", "vp-oyster")},
		// 16:07:54+00:00 on 2018-03-11.
		{name: "date/observation-datetime-in-day", path: "Observation?date=2018-03-11", match: refs("Observation", "bgpanel", "bloodgroup", "rhstatus", "trachcare")},
		{name: "date/observation-instant", path: "Observation?date=" + q("2016-05-18T22:33:22Z"), match: refs("Observation", "10minute-apgar-score", "1minute-apgar-score", "20minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "secondsmoke", "vomiting")},
		// Same instant written in another time zone.
		{name: "date/observation-instant-offset", path: "Observation?date=" + q("2016-05-19T00:33:22+02:00"), match: refs("Observation", "10minute-apgar-score", "1minute-apgar-score", "20minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "secondsmoke", "vomiting")},
		// Periods inside April 2013: f002-f004 (2nd to 5th), f005 (an instant
		// period) and unsat; f001's period has no end (ongoing), so it is not
		// inside the month.
		{name: "date/observation-period-in-month", path: "Observation?date=2013-04", match: refs("Observation", "f002", "f003", "f004", "f005", "unsat")},
		// After 2018-01-01: the 2018-03-11 four, the periods of map-sitting and
		// abdo-tender (April 2018), and f001, ongoing since 2013.
		{name: "date/observation-gt-open-period", path: "Observation?date=gt2018-01-01", match: refs("Observation", "bgpanel", "bloodgroup", "rhstatus", "trachcare", "abdo-tender", "map-sitting", "f001")},
		{name: "date/observation-sa", path: "Observation?date=sa2018-03-11", match: refs("Observation", "abdo-tender", "map-sitting")},
		{name: "date/observation-le-period-start", path: "Observation?date=le2013-04-02", match: join(vitals1999, refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar", "f001", "f002", "f003", "f004", "unsat"))},
		{name: "date/observation-and-window", path: "Observation?date=gt2013-04-04&date=lt2013-04-06", match: refs("Observation", "f001", "f002", "f003", "f004", "f005", "unsat")},
		{name: "date/observation-missing", path: "Observation?date:missing=true", match: refs("Observation", "bmd", "decimal", "example-TPMT-diplotype", "example-TPMT-haplotype-one", "example-TPMT-haplotype-two", "example-diplotype1", "example-genetics-1", "example-genetics-2", "example-genetics-3", "example-genetics-4", "example-genetics-5", "example-genetics-brcapat", "example-haplotype1", "example-haplotype2", "example-phenotype", "f202", "f203", "f204", "f205", "f206")},
		{name: "date/encounter-period-in-day", path: "Encounter?date=2015-01-17", match: refs("Encounter", "home")},
		{name: "date/encounter-period-overlap", path: "Encounter?date=ge2013-03-15&date=le2013-03-16", match: refs("Encounter", "f203")},
		{name: "date/encounter-period-month", path: "Encounter?date=2013-03", match: refs("Encounter", "f203")},
		// emerg started 2017-02-01 and has no end.
		{name: "date/encounter-ongoing", path: "Encounter?date=gt2020", match: refs("Encounter", "emerg")},
		{name: "date/condition-onset-lt", path: "Condition?onset-date=lt2012", match: refs("Condition", "f001", "f002", "stroke")},
		{name: "date/condition-onset-month", path: "Condition?onset-date=2013-03", match: refs("Condition", "f203", "f204")},
		{name: "date/condition-recorded-date", path: "Condition?recorded-date=2013-04-04", match: refs("Condition", "f201", "f205")},
	}
}

func numberCases() []searchCase {
	// Probabilities: cardiac 0.02; riskexample 0.000368; genetic eight values
	// from 0.000168 to 0.001663 (0.000368 among them).
	// Variant starts: coord-0-base 2,4,6; coord-1-base 2,5,7; the three fda-*
	// 13116; graphic-example-1 128273725, -3 1282737234,
	// sequence-complex-variant 128273724; the others in the tens of millions.
	return []searchCase{
		{name: "number/eq-implicit-precision", path: "RiskAssessment?probability=0.02", match: refs("RiskAssessment", "cardiac")},
		{name: "number/eq-multi-valued", path: "RiskAssessment?probability=0.000368", match: refs("RiskAssessment", "genetic", "riskexample")},
		// 0.0004 stands for [0.00035, 0.00045), which holds 0.000368.
		{name: "number/eq-precision-range", path: "RiskAssessment?probability=0.0004", match: refs("RiskAssessment", "genetic", "riskexample")},
		{name: "number/gt", path: "RiskAssessment?probability=gt0.01", match: refs("RiskAssessment", "cardiac")},
		{name: "number/lt", path: "RiskAssessment?probability=lt0.001", match: refs("RiskAssessment", "genetic", "riskexample")},
		{name: "number/ge", path: "RiskAssessment?probability=ge0.0015", match: refs("RiskAssessment", "genetic", "cardiac")},
		{name: "number/le", path: "RiskAssessment?probability=le0.0002", match: refs("RiskAssessment", "genetic")},
		{name: "number/ne", path: "RiskAssessment?probability=ne0.02", match: refs("RiskAssessment", "genetic", "riskexample")},
		{name: "number/ap", path: "RiskAssessment?probability=ap0.02", match: refs("RiskAssessment", "cardiac")},
		{name: "number/sa", path: "RiskAssessment?probability=sa0.01", match: refs("RiskAssessment", "cardiac")},
		// eb0.0003: the value range [0.00025, 0.00035) starts after 0.000168 ends.
		{name: "number/eb", path: "RiskAssessment?probability=eb0.0003", match: refs("RiskAssessment", "genetic")},
		// eb0.0002 stands for [0.00015, 0.00025), which 0.000168 overlaps.
		{name: "number/eb-overlap", path: "RiskAssessment?probability=eb0.0002"},
		{name: "number/missing", path: "RiskAssessment?probability:missing=true", match: refs("RiskAssessment", "breastcancer-risk", "population", "prognosis")},
		{name: "number/integer", path: "MolecularSequence?variant-start=13116", match: refs("MolecularSequence", "fda-example", "fda-vcf-comparison", "fda-vcfeval-comparison")},
		{name: "number/integer-gt", path: "MolecularSequence?variant-start=gt100000000", match: refs("MolecularSequence", "graphic-example-1", "graphic-example-3", "sequence-complex-variant")},
		{name: "number/integer-lt", path: "MolecularSequence?variant-start=lt10", match: refs("MolecularSequence", "coord-0-base", "coord-1-base")},
		{name: "number/integer-and", path: "MolecularSequence?variant-start=ge5&variant-start=le6", match: refs("MolecularSequence", "coord-0-base", "coord-1-base")},
		{name: "number/zero", path: "MolecularSequence?window-start=0", match: refs("MolecularSequence", "coord-0-base", "graphic-example-2")},
		{name: "number/exponent", path: "MolecularSequence?variant-start=1.3116e4", match: refs("MolecularSequence", "fda-example", "fda-vcf-comparison", "fda-vcfeval-comparison")},
	}
}

// quantityCases: the Observation values are listed in the comments; units are
// UCUM (http://unitsofmeasure.org) except 656 (ISO 11073) and f203/f204 (SNOMED).
func quantityCases() []searchCase {
	ucum := "|http://unitsofmeasure.org|"
	return []searchCase{
		{name: "quantity/value-only", path: "Observation?value-quantity=185", match: refs("Observation", "example")},
		{name: "quantity/value-code", path: "Observation?value-quantity=" + q("185||[lb_av]"), match: refs("Observation", "example")},
		{name: "quantity/value-system-code", path: "Observation?value-quantity=" + q("185"+ucum+"[lb_av]"), match: refs("Observation", "example")},
		{name: "quantity/wrong-unit", path: "Observation?value-quantity=" + q("185"+ucum+"kg")},
		// 820 cL/s (656), 185 [lb_av] (example), 122 umol/L (f204).
		{name: "quantity/gt", path: "Observation?value-quantity=gt100", match: refs("Observation", "656", "example", "f204")},
		// 0.887 (bmd), 0.2 % (herd1), 0 (1minute-apgar-score).
		{name: "quantity/lt", path: "Observation?value-quantity=lt1", match: refs("Observation", "bmd", "herd1", "1minute-apgar-score")},
		{name: "quantity/precision", path: "Observation?value-quantity=6.3", match: refs("Observation", "f001")},
		// 6 stands for [5.5, 6.5): 6.3 mmol/L (f001) and 6.2 kPa (f003).
		{name: "quantity/precision-integer", path: "Observation?value-quantity=6", match: refs("Observation", "f001", "f003")},
		{name: "quantity/and-range", path: "Observation?value-quantity=ge36.5&value-quantity=le39", match: refs("Observation", "body-temperature", "f202")},
		{name: "quantity/range-unit", path: "Observation?value-quantity=" + q("lt10"+ucum+"mmol/L"), match: refs("Observation", "f001")},
		{name: "quantity/ap", path: "Observation?value-quantity=ap80", match: refs("Observation", "mbp")},
		{name: "quantity/score", path: "Observation?value-quantity=" + q("13||{score}"), match: refs("Observation", "gcs-qa", "glasgow")},
		{name: "quantity/celsius", path: "Observation?value-quantity=" + q("36.5"+ucum+"Cel"), match: refs("Observation", "body-temperature")},
		// UCUM canonical form: body-length is 25 cm, i.e. 250 mm and 0.25 m.
		{name: "quantity/ucum-mm", path: "Observation?value-quantity=" + q("250"+ucum+"mm"), match: refs("Observation", "body-length")},
		{name: "quantity/ucum-m", path: "Observation?value-quantity=" + q("0.25"+ucum+"m"), match: refs("Observation", "body-length")},
		{name: "quantity/snomed-unit", path: "Observation?value-quantity=" + q("122|http://snomed.info/sct|258814008"), match: refs("Observation", "f204")},
		{name: "quantity/component", path: "Observation?component-value-quantity=107", match: refs("Observation", "blood-pressure", "blood-pressure-dar")},
		// 60 mm[Hg] diastolic (blood-pressure) and 60 mL/min/{1.73_m2} (f205).
		{name: "quantity/component-shared-value", path: "Observation?component-value-quantity=60", match: refs("Observation", "blood-pressure", "f205")},
		{name: "quantity/component-unit", path: "Observation?component-value-quantity=" + q("60||mm[Hg]"), match: refs("Observation", "blood-pressure")},
		{name: "quantity/combo", path: "Observation?combo-value-quantity=60", match: refs("Observation", "blood-pressure", "f205", "map-sitting")},
		{name: "quantity/encounter-length", path: "Encounter?length=140", match: refs("Encounter", "f001", "f002")},
		{name: "quantity/encounter-length-lt", path: "Encounter?length=" + q("lt100"+ucum+"min"), match: refs("Encounter", "f003", "f202")},
	}
}

func compositeCases() []searchCase {
	loinc := "http://loinc.org|"
	return []searchCase{
		// 8310-5 is body temperature: body-temperature 36.5 Cel, f202 39 Cel.
		{name: "composite/code-value-quantity", path: "Observation?code-value-quantity=" + q(loinc+"8310-5$36.5"), match: refs("Observation", "body-temperature")},
		{name: "composite/code-value-quantity-prefix", path: "Observation?code-value-quantity=" + q(loinc+"8310-5$gt37"), match: refs("Observation", "f202")},
		{name: "composite/code-value-quantity-unit", path: "Observation?code-value-quantity=" + q(loinc+"8310-5$39|http://unitsofmeasure.org|Cel"), match: refs("Observation", "f202")},
		{name: "composite/component-code-value-quantity", path: "Observation?component-code-value-quantity=" + q(loinc+"8480-6$107"), match: refs("Observation", "blood-pressure", "blood-pressure-dar")},
		// blood-pressure-dar has no diastolic value.
		{name: "composite/component-diastolic", path: "Observation?component-code-value-quantity=" + q(loinc+"8462-4$60"), match: refs("Observation", "blood-pressure")},
		// Both halves must hold in the same component: 107 is systolic only.
		{name: "composite/component-same-component", path: "Observation?component-code-value-quantity=" + q(loinc+"8462-4$107")},
		{name: "composite/combo-code-value-quantity", path: "Observation?combo-code-value-quantity=" + q(loinc+"8480-6$107"), match: refs("Observation", "blood-pressure", "blood-pressure-dar")},
		{name: "composite/code-value-concept", path: "Observation?code-value-concept=" + q(loinc+"55233-1$http://snomed.info/sct|10828004"), match: refs("Observation", "example-genetics-1", "example-genetics-2")},
		{name: "composite/code-value-concept-code-only", path: "Observation?code-value-concept=" + q("883-9$112144000"), match: refs("Observation", "bloodgroup", "rhstatus")},
		{name: "composite/code-value-date", path: "Observation?code-value-date=" + q(loinc+"8665-2$2016-12-30"), match: refs("Observation", "date-lastmp")},
		{name: "composite/code-value-date-prefix", path: "Observation?code-value-date=" + q(loinc+"8665-2$lt2016")},
		{name: "composite/code-value-string", path: "Observation?code-value-string=" + q("363779003$*1"), match: refs("Observation", "example-TPMT-diplotype")},
		{name: "composite/or", path: "Observation?code-value-quantity=" + q(loinc+"8310-5$36.5") + "," + q(loinc+"8310-5$39"), match: refs("Observation", "body-temperature", "f202")},
		{name: "composite/value-concept-simple", path: "Observation?value-concept=" + q("http://snomed.info/sct|10828004"), match: refs("Observation", "example-genetics-1", "example-genetics-2", "vp-oyster")},
		{name: "composite/value-string-simple", path: "Observation?value-string=mother", match: refs("Observation", "trachcare")},
	}
}

// obsOfExample are the 29 Observations whose subject is Patient/example
// (none names it as performer).
var obsOfExample = refs("Observation", "abdo-tender", "alcohol-type", "blood-pressure",
	"blood-pressure-cancel", "blood-pressure-dar", "bmi", "bmi-using-related", "body-height",
	"body-length", "body-temperature", "example", "example-TPMT-diplotype",
	"example-TPMT-haplotype-one", "example-TPMT-haplotype-two", "example-genetics-1",
	"example-genetics-2", "example-genetics-3", "example-genetics-4", "example-genetics-5",
	"eye-color", "gcs-qa", "glasgow", "head-circumference", "heart-rate", "map-sitting", "mbp",
	"respiratory-rate", "satO2", "vitals-panel")

// obsOfF001 are the Observations whose subject is Patient/f001.
var obsOfF001 = refs("Observation", "ekg", "f001", "f002", "f003", "f004", "f005", "unsat")

// obsOfF201 are the Observations whose subject is Patient/f201.
var obsOfF201 = refs("Observation", "f202", "f203", "f204", "f205", "f206")

func referenceCases() []searchCase {
	return []searchCase{
		{name: "reference/type-and-id", path: "Observation?subject=Patient/f001", match: obsOfF001},
		{name: "reference/id-only", path: "Observation?patient=f201", match: obsOfF201},
		{name: "reference/type-modifier", path: "Observation?subject:Patient=f201", match: obsOfF201},
		{name: "reference/type-modifier-group", path: "Observation?subject:Group=herd1", match: refs("Observation", "herd1")},
		{name: "reference/type-modifier-excludes", path: "Observation?subject:Group=f201"},
		{name: "reference/group-subject", path: "Observation?subject=Group/herd1", match: refs("Observation", "herd1")},
		{name: "reference/many", path: "Observation?patient=Patient/example", match: obsOfExample},
		{name: "reference/absolute-url", path: "Observation?subject=" + q("http://127.0.0.1/nosuch/Patient/f001")},
		{name: "reference/or", path: "Observation?subject=Patient/f001,Patient/f201", match: join(obsOfF001, obsOfF201)},
		{name: "reference/not-stored-target", path: "Observation?subject=Patient/727127", match: refs("Observation", "example-diplotype1", "example-haplotype1", "example-haplotype2", "example-phenotype")},
		{name: "reference/encounter-subject", path: "Encounter?subject=Patient/f201", match: refs("Encounter", "f201", "f202", "f203")},
		{name: "reference/encounter-participant", path: "Encounter?participant=Practitioner/f201", match: refs("Encounter", "f201", "f202", "f203")},
		{name: "reference/encounter-practitioner", path: "Encounter?practitioner=f001", match: refs("Encounter", "f003")},
		{name: "reference/encounter-service-provider", path: "Encounter?service-provider=Organization/f001", match: refs("Encounter", "f001", "f002", "f003")},
		{name: "reference/encounter-diagnosis", path: "Encounter?diagnosis=Condition/stroke", match: refs("Encounter", "f203")},
		{name: "reference/condition-encounter", path: "Condition?encounter=Encounter/f203", match: refs("Condition", "f203", "f204")},
		{name: "reference/condition-asserter", path: "Condition?asserter=Practitioner/f201", match: refs("Condition", "f201", "f203", "f204", "f205")},
		{name: "reference/condition-asserter-type", path: "Condition?asserter:Patient=f001", match: refs("Condition", "f001", "f002", "f003")},
		// Consent.patient is the patient; provision.actor is the actor param.
		{name: "reference/consent-patient", path: "Consent?patient=Patient/example", match: refs("Consent", "consent-example-pkb")},
		{name: "reference/consent-actor", path: "Consent?actor=Patient/example", match: refs("Consent", "consent-example-grantor")},
		// AuditEvent example-rest names Patient/example/_history/1: a
		// versioned reference still points at Patient/example.
		{name: "reference/versioned", path: "AuditEvent?entity=Patient/example", match: refs("AuditEvent", "example-disclosure", "example-rest")},
		{name: "reference/condition-evidence", path: "Condition?evidence-detail=Observation/f202", match: refs("Condition", "f201")},
		{name: "reference/organization-partof", path: "Organization?partof=Organization/f001", match: refs("Organization", "f002", "f003")},
		{name: "reference/patient-general-practitioner", path: "Patient?general-practitioner=Practitioner/example", match: refs("Patient", "glossy")},
		{name: "reference/patient-general-practitioner-present", path: "Patient?general-practitioner:missing=false", match: refs("Patient", "glossy", "infant-mom")},
		{name: "reference/patient-link", path: "Patient?link=Patient/pat2", match: refs("Patient", "pat1")},
		{name: "reference/patient-organization", path: "Patient?organization=Organization/1", match: refs("Patient", "ch-example", "dicom", "example", "pat1", "pat2", "pat3", "pat4")},
		{name: "reference/patient-organization-id", path: "Patient?organization=1", match: refs("Patient", "ch-example", "dicom", "example", "pat1", "pat2", "pat3", "pat4")},
		{name: "reference/id-with-dots", path: "Patient?organization=Organization/2.16.840.1.113883.19.5", match: refs("Patient", "xcda")},
		{name: "reference/group-member", path: "Group?member=Patient/pat1", match: refs("Group", "102")},
		// Claim MED-00050's insurer is only an identifier (bindb 123456).
		{name: "reference/identifier", path: "Claim?insurer:identifier=" + q("http://www.bindb.com/bin|123456"), match: refs("Claim", "MED-00050")},
		{name: "reference/identifier-beside-reference", path: "DocumentReference?related:identifier=" + q("urn:ietf:rfc:3986|urn:oid:1.3.6.1.4.1.21367.2005.3.7.2345"), match: refs("DocumentReference", "example")},
		{name: "reference/related-reference", path: "DocumentReference?related=Patient/xcda", match: refs("DocumentReference", "example")},
		{name: "reference/questionnaire-response-absolute", path: "QuestionnaireResponse?subject=" + q("http://hl7.org/fhir/Patient/proband"), match: refs("QuestionnaireResponse", "ussg-fht-answers")},
	}
}

func chainCases() []searchCase {
	return []searchCase{
		// f001's name is Pieter van de Heuvel, born 1944-11-17, of Organization/f001.
		{name: "chain/string", path: "Observation?subject:Patient.name=pieter", match: obsOfF001},
		{name: "chain/untyped", path: "Observation?subject.name=pieter", match: obsOfF001},
		{name: "chain/date", path: "Observation?patient.birthdate=1944-11-17", match: obsOfF001},
		{name: "chain/token", path: "Observation?subject:Patient.identifier=" + q("urn:oid:2.16.840.1.113883.2.4.6.3|738472983"), match: obsOfF001},
		{name: "chain/exact", path: "Observation?subject:Patient.name:exact=Pieter", match: obsOfF001},
		{name: "chain/no-target", path: "Observation?subject:Patient.name=nosuch"},
		// No Observation's subject is a stored female Patient; trachcare's
		// focus is infant-mom (its subject, Patient/infant, is not stored).
		{name: "chain/gender", path: "Observation?subject:Patient.gender=female"},
		{name: "chain/focus-gender", path: "Observation?focus:Patient.gender=female", match: refs("Observation", "trachcare")},
		{name: "chain/or-values", path: "Observation?subject:Patient.name=pieter,roelof", match: join(obsOfF001, obsOfF201)},
		{name: "chain/encounter-participant", path: "Encounter?participant:Practitioner.family=bronsig", match: refs("Encounter", "f201", "f202", "f203")},
		{name: "chain/patient-practitioner", path: "Patient?general-practitioner.name=careful", match: refs("Patient", "glossy")},
		{name: "chain/patient-practitioner-typed", path: "Patient?general-practitioner:Practitioner.family=careful", match: refs("Patient", "glossy")},
		{name: "chain/id", path: "Observation?subject:Patient._id=f201", match: obsOfF201},
		// Two levels: Observation → Patient f001 → Organization f001 (Burgers …).
		{name: "chain/two-levels", path: "Observation?subject:Patient.organization.name=burgers", match: obsOfF001},
		// Encounter → Patient f201 → Organization f201 "Artis University Medical Center".
		{name: "chain/two-levels-encounter", path: "Encounter?subject.organization.name=artis", match: refs("Encounter", "f201", "f202", "f203")},
		// Condition → Encounter (f201, f202 have serviceProvider Organization/f201)
		// → Organization: only Condition/f201 names one of those encounters.
		{name: "chain/two-levels-condition", path: "Condition?encounter.service-provider.name=artis", match: refs("Condition", "f201")},
		{name: "chain/and", path: "Observation?subject:Patient.name=pieter&code=" + q("http://loinc.org|15074-8"), match: refs("Observation", "f001", "unsat")},
		{name: "chain/organization-partof", path: "Organization?partof.name=burgers", match: refs("Organization", "f002", "f003")},
	}
}

func hasCases() []searchCase {
	return []searchCase{
		{name: "_has/observation-code", path: "Patient?_has:Observation:patient:code=" + q("http://loinc.org|85354-9"), match: refs("Patient", "example")},
		{name: "_has/observation-subject", path: "Patient?_has:Observation:subject:code=" + q("http://loinc.org|15074-8"), match: refs("Patient", "f001")},
		{name: "_has/condition-status", path: "Patient?_has:Condition:subject:clinical-status=resolved", match: refs("Patient", "f201")},
		{name: "_has/encounter-class", path: "Patient?_has:Encounter:subject:class=HH", match: refs("Patient", "example")},
		{name: "_has/none", path: "Patient?_has:Encounter:subject:class=nosuch"},
		// Encounters of f001: f001 by Practitioner/f002, f002 by f003, f003 by f001.
		{name: "_has/practitioner", path: "Practitioner?_has:Encounter:participant:subject=Patient/f001", match: refs("Practitioner", "f001", "f002", "f003")},
		{name: "_has/organization", path: "Organization?_has:Patient:organization:gender=other", match: refs("Organization", "1")},
		// Cancelled: blood-pressure-cancel (example) and unsat (f001); the
		// preliminary vp-oyster has no subject.
		{name: "_has/or-values", path: "Patient?_has:Observation:subject:status=preliminary,cancelled", match: refs("Patient", "example", "f001")},
		// Active conditions: example, f001, f201; ambulatory encounters: f001, f201, xcda.
		{name: "_has/and", path: "Patient?_has:Condition:subject:clinical-status=active&_has:Encounter:subject:class=AMB", match: refs("Patient", "f001", "f201")},
		// Condition f201 (severity 255604002) was diagnosed in Encounter/f201,
		// whose participant is Practitioner/f201.
		{name: "_has/nested", path: "Practitioner?_has:Encounter:participant:_has:Condition:encounter:severity=255604002", match: refs("Practitioner", "f201")},
		{name: "_has/nested-organization", path: "Organization?_has:Encounter:service-provider:_has:Condition:encounter:code=386661006", match: refs("Organization", "f201")},
		{name: "_has/with-other-param", path: "Patient?gender=male&_has:Observation:subject:status=cancelled", match: refs("Patient", "example", "f001")},
		{name: "_has/group-member", path: "Patient?_has:Group:member:_id=102", match: refs("Patient", "pat1", "pat2", "pat3", "pat4")},
	}
}

func uriCases() []searchCase {
	zika := "http://example.org/PlanDefinition/zika-virus-intervention"
	return []searchCase{
		// Two versions (1.0.0 and 2.0.0) share one canonical url.
		{name: "uri/exact", path: "PlanDefinition?url=" + q(zika), match: refs("PlanDefinition", "zika-virus-intervention-initial", "zika-virus-intervention")},
		{name: "uri/no-prefix-match", path: "PlanDefinition?url=" + q("http://example.org/PlanDefinition")},
		{name: "uri/below", path: "PlanDefinition?url:below=" + q("http://hl7.org/fhir/ig/opioid-cds"), match: refs("PlanDefinition", "opioidcds-04", "opioidcds-05", "opioidcds-07", "opioidcds-08", "opioidcds-10", "opioidcds-11")},
		{name: "uri/below-path", path: "ActivityDefinition?url:below=" + q("http://motivemi.com/artifacts/ActivityDefinition"), match: refs("ActivityDefinition", "citalopramPrescription", "referralPrimaryCareMentalHealth-initial", "referralPrimaryCareMentalHealth")},
		// :above finds the urls the value starts with.
		{name: "uri/above", path: "Questionnaire?url:above=" + q("http://hl7.org/fhir/Questionnaire/gcs/extra/part"), match: refs("Questionnaire", "gcs")},
		{name: "uri/and-version", path: "ActivityDefinition?url=" + q("http://motivemi.com/artifacts/ActivityDefinition/referralPrimaryCareMentalHealth") + "&version=1.1.0", match: refs("ActivityDefinition", "referralPrimaryCareMentalHealth")},
		{name: "uri/measure", path: "Measure?url=" + q("http://hl7.org/fhir/Measure/measure-cms146-example"), match: refs("Measure", "measure-cms146-example")},
		{name: "uri/subscription-endpoint", path: "Subscription?url=" + q("https://biliwatch.com/customers/mount-auburn-miu/on-result"), match: refs("Subscription", "example", "example-error")},
		{name: "uri/present", path: "Library?url:missing=false", match: refs("Library", "hiv-indicators", "suiciderisk-orderset-logic")},
		{name: "uri/or", path: "Questionnaire?url=" + q("http://hl7.org/fhir/Questionnaire/bb") + "," + q("http://hl7.org/fhir/Questionnaire/f201"), match: refs("Questionnaire", "bb", "f201")},
	}
}

func specialCases() []searchCase {
	return []searchCase{
		// Location/1 is at 42.25475478, -83.6945691; Location/hl7 has its
		// coordinates swapped (latitude -83.69471), thousands of km away.
		{name: "special/near", path: "Location?near=" + q("42.25475478|-83.6945691|1|km"), match: refs("Location", "1")},
		{name: "special/near-radius", path: "Location?near=" + q("42.26|-83.69|5|km"), match: refs("Location", "1")},
		{name: "special/near-none", path: "Location?near=" + q("48.8566|2.3522|10|km")},
	}
}

func orAndCases() []searchCase {
	return []searchCase{
		{name: "or/token", path: "Patient?gender=male,other", match: refs("Patient", "ch-example", "dicom", "example", "f001", "f201", "glossy", "infant-fetal", "infant-twin-2", "newborn", "pat1", "pat3", "xcda", "xds", "pat2")},
		{name: "or/string", path: "Patient?family=levin,doe", match: refs("Patient", "glossy", "xcda", "xds")},
		{name: "or/reference", path: "Encounter?subject=Patient/f001,Patient/xcda", match: refs("Encounter", "f001", "f002", "f003", "xcda")},
		{name: "or/token-systems", path: "Observation?code=" + q("http://loinc.org|8310-5") + "," + q("http://snomed.info/sct|43478001"), match: refs("Observation", "body-temperature", "f202", "abdo-tender")},
		{name: "and/string", path: "Patient?name=solo&name=jacen", match: refs("Patient", "infant-twin-2")},
		{name: "and/token-params", path: "Patient?gender=female&active=true", match: refs("Patient", "animal", "genetics-example1", "mom", "pat4", "proband")},
		{name: "and/same-token-twice", path: "Observation?code=" + q("http://loinc.org|8302-2") + "&code=" + q("http://loinc.org|8306-3"), match: refs("Observation", "body-length")},
		{name: "and/or-inside", path: "Patient?family=donald,notsowell&gender=female,other", match: refs("Patient", "pat2", "pat4")},
		{name: "and/disjoint", path: "Patient?gender=male&gender=female"},
		{name: "and/three-params", path: "Observation?subject=Patient/example&category=vital-signs&date=1999-07-02", match: vitals1999},
		{name: "and/string-and-date", path: "Patient?address-city=amsterdam&birthdate=lt1950", match: refs("Patient", "f001")},
	}
}

func includeCases() []searchCase {
	return []searchCase{
		{name: "include/subject", path: "Observation?_id=f001&_include=Observation:subject", match: refs("Observation", "f001"), include: refs("Patient", "f001")},
		{name: "include/two-params", path: "Observation?_id=f001&_include=Observation:subject&_include=Observation:performer", match: refs("Observation", "f001"), include: join(refs("Patient", "f001"), refs("Practitioner", "f005"))},
		{name: "include/many-targets", path: "Encounter?_id=f203&_include=Encounter:diagnosis", match: refs("Encounter", "f203"), include: refs("Condition", "stroke", "f201")},
		{name: "include/deduplicated", path: "Observation?subject=Patient/f201&_include=Observation:subject", match: obsOfF201, include: refs("Patient", "f201")},
		{name: "include/several-matches", path: "Encounter?subject=Patient/f001&_include=Encounter:participant", match: refs("Encounter", "f001", "f002", "f003"), include: refs("Practitioner", "f001", "f002", "f003")},
		{name: "include/target-type", path: "Encounter?_id=f001&_include=Encounter:participant:Practitioner", match: refs("Encounter", "f001"), include: refs("Practitioner", "f002")},
		{name: "include/target-type-other", path: "Encounter?_id=f001&_include=Encounter:participant:RelatedPerson", match: refs("Encounter", "f001")},
		// Patient/727127 is not among the examples: nothing to include.
		{name: "include/missing-target", path: "Observation?_id=example-diplotype1&_include=Observation:subject", match: refs("Observation", "example-diplotype1")},
		// Encounter f001: subject Patient/f001, participant Practitioner/f002,
		// serviceProvider Organization/f001.
		{name: "include/wildcard", path: "Encounter?_id=f001&_include=*", match: refs("Encounter", "f001"), include: join(refs("Patient", "f001"), refs("Practitioner", "f002"), refs("Organization", "f001"))},
		{name: "include/wildcard-param", path: "Encounter?_id=f001&_include=Encounter:*", match: refs("Encounter", "f001"), include: join(refs("Patient", "f001"), refs("Practitioner", "f002"), refs("Organization", "f001"))},
		{name: "include/iterate", path: "Encounter?_id=f001&_include=Encounter:subject&_include:iterate=Patient:organization", match: refs("Encounter", "f001"), include: join(refs("Patient", "f001"), refs("Organization", "f001"))},
		{name: "include/no-iterate", path: "Encounter?_id=f001&_include=Encounter:subject&_include=Patient:organization", match: refs("Encounter", "f001"), include: refs("Patient", "f001")},
		// Organization f002 → partOf f001; iterating again finds nothing more.
		{name: "include/iterate-chain", path: "Patient?_id=f001&_include=Patient:organization&_include:iterate=Organization:partof", match: refs("Patient", "f001"), include: refs("Organization", "f001")},
		{name: "revinclude/subject", path: "Patient?_id=f201&_revinclude=Encounter:subject", match: refs("Patient", "f201"), include: refs("Encounter", "f201", "f202", "f203")},
		{name: "revinclude/link", path: "Patient?_id=pat1&_revinclude=Patient:link", match: refs("Patient", "pat1"), include: refs("Patient", "pat2")},
		{name: "revinclude/none", path: "Patient?_id=glossy&_revinclude=Encounter:subject", match: refs("Patient", "glossy")},
		// Encounters f201-f203 of Patient f201, then the Conditions naming
		// them: f201 (Encounter/f201), f203 and f204 (Encounter/f203).
		{name: "revinclude/iterate", path: "Patient?_id=f201&_revinclude=Encounter:subject&_revinclude:iterate=Condition:encounter", match: refs("Patient", "f201"), include: join(refs("Encounter", "f201", "f202", "f203"), refs("Condition", "f201", "f203", "f204"))},
		// Practitioner f003 is the participant of Encounter f002 only.
		{name: "revinclude/wildcard-param", path: "Practitioner?_id=f003&_revinclude=Encounter:*", match: refs("Practitioner", "f003"), include: refs("Encounter", "f002")},
		{name: "revinclude/and-include", path: "Encounter?_id=f202&_include=Encounter:subject&_revinclude=Procedure:encounter", match: refs("Encounter", "f202"), include: join(refs("Patient", "f201"), refs("Procedure", "f201"))},
		{name: "revinclude/organization", path: "Organization?_id=f001&_revinclude=Organization:partof", match: refs("Organization", "f001"), include: refs("Organization", "f002", "f003")},
		{name: "include/with-paging", path: "Observation?subject=Patient/f001&_include=Observation:subject&_count=3", match: obsOfF001, include: refs("Patient", "f001"), pageSize: 3},
	}
}

func sortCases() []searchCase {
	return []searchCase{
		// glossy and xcda share 1932-09-24, so _id breaks the tie.
		{name: "sort/date-asc", path: "Patient?birthdate=lt1970&_sort=birthdate,_id", ordered: true, match: refs("Patient", "glossy", "xcda", "f001", "xds", "f201", "proband")},
		{name: "sort/date-desc", path: "Patient?birthdate=lt1970&_sort=-birthdate,_id", ordered: true, match: refs("Patient", "proband", "f201", "xds", "f001", "glossy", "xcda")},
		{name: "sort/date-desc-id-desc", path: "Patient?birthdate=lt1970&_sort=-birthdate,-_id", ordered: true, match: refs("Patient", "proband", "f201", "xds", "f001", "xcda", "glossy")},
		// Families: Bor (f201), Doe (xds), Donald (pat1, pat2), Notsowell (pat3, pat4).
		{name: "sort/string-two-keys", path: "Patient?_id=pat1,pat2,pat3,pat4,f201,xds&_sort=family,_id", ordered: true, match: refs("Patient", "f201", "xds", "pat1", "pat2", "pat3", "pat4")},
		// Notsowell: Sandy (pat4) before Simon (pat3).
		{name: "sort/string-desc-then-asc", path: "Patient?_id=pat3,pat4,f201,xds&_sort=-family,given", ordered: true, match: refs("Patient", "pat4", "pat3", "xds", "f201")},
		{name: "sort/id", path: "Organization?_sort=_id", ordered: true, match: refs("Organization", "1", "1832473e-2fe0-452d-abe9-3cdb9879522f", "2", "2.16.840.1.113883.19.5", "3", "f001", "f002", "f003", "f201", "f203", "hl7", "hl7pay", "mmanu")},
		{name: "sort/id-desc", path: "Practitioner?_sort=-_id", ordered: true, match: refs("Practitioner", "xcda1", "xcda-author", "f204", "f203", "f202", "f201", "f007", "f006", "f005", "f004", "f003", "f002", "f001", "example")},
		// Periods sort by their start: f001 and unsat start 09:30, f002-f004 10:30 on 2013-04-02.
		{name: "sort/period-start", path: "Observation?subject=Patient/f001&_sort=date,_id", ordered: true, match: refs("Observation", "f001", "unsat", "f002", "f003", "f004", "f005", "ekg")},
		{name: "sort/encounter-desc", path: "Encounter?date=ge2000&_sort=-date", ordered: true, match: refs("Encounter", "emerg", "home", "f203")},
		// Variant starts 13116 (three fda-*), 18131012, 18139214, 22125503,
		// 32316186, 55227976, 55227978, 128273724, 128273725, 1282737234.
		{name: "sort/number", path: "MolecularSequence?variant-start=gt10000&_sort=variant-start,_id", ordered: true, match: refs("MolecularSequence", "fda-example", "fda-vcf-comparison", "fda-vcfeval-comparison", "example-TPMT-two", "example-TPMT-one", "example", "breastcancer", "example-pgx-1", "example-pgx-2", "sequence-complex-variant", "graphic-example-1", "graphic-example-3")},
		{name: "sort/number-desc", path: "MolecularSequence?variant-start=gt10000&_sort=-variant-start,_id", ordered: true, match: refs("MolecularSequence", "graphic-example-3", "graphic-example-1", "sequence-complex-variant", "example-pgx-2", "example-pgx-1", "breastcancer", "example", "example-TPMT-one", "example-TPMT-two", "fda-example", "fda-vcf-comparison", "fda-vcfeval-comparison")},
		// entered-in-error sorts before final.
		{name: "sort/token", path: "Observation?subject=Patient/f201&_sort=status,_id", ordered: true, match: refs("Observation", "f202", "f203", "f204", "f205", "f206")},
		{name: "sort/paged", path: "Organization?_sort=-_id&_count=4", ordered: true, pageSize: 4, match: refs("Organization", "mmanu", "hl7pay", "hl7", "f203", "f201", "f003", "f002", "f001", "3", "2.16.840.1.113883.19.5", "2", "1832473e-2fe0-452d-abe9-3cdb9879522f", "1")},
		{name: "sort/quantity", path: "Observation?value-quantity=" + q("gt0|http://unitsofmeasure.org|mmol/L") + "&_sort=-value-quantity", ordered: true, match: refs("Observation", "f002", "f001")},
	}
}

// allObservations are the 63 valid Observation examples.
var allObservations = refs("Observation", "10minute-apgar-score", "1minute-apgar-score",
	"20minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "656", "abdo-tender",
	"alcohol-type", "bgpanel", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar",
	"bloodgroup", "bmd", "bmi", "bmi-using-related", "body-height", "body-length",
	"body-temperature", "date-lastmp", "decimal", "ekg", "example", "example-TPMT-diplotype",
	"example-TPMT-haplotype-one", "example-TPMT-haplotype-two", "example-diplotype1",
	"example-genetics-1", "example-genetics-2", "example-genetics-3", "example-genetics-4",
	"example-genetics-5", "example-genetics-brcapat", "example-haplotype1", "example-haplotype2",
	"example-phenotype", "eye-color", "f001", "f002", "f003", "f004", "f005", "f202", "f203",
	"f204", "f205", "f206", "gcs-qa", "glasgow", "head-circumference", "heart-rate", "herd1",
	"map-sitting", "mbp", "respiratory-rate", "rhstatus", "satO2", "secondsmoke", "trachcare",
	"unsat", "vitals-panel", "vomiting", "vp-oyster")

// rxOfPat1 are the 39 MedicationRequests whose subject is Patient/pat1.
var rxOfPat1 = refs("MedicationRequest", "medrx002", "medrx0302", "medrx0303", "medrx0304",
	"medrx0305", "medrx0306", "medrx0307", "medrx0308", "medrx0309", "medrx0310", "medrx0311",
	"medrx0312", "medrx0313", "medrx0314", "medrx0315", "medrx0316", "medrx0317", "medrx0318",
	"medrx0319", "medrx0320", "medrx0321", "medrx0322", "medrx0323", "medrx0324", "medrx0325",
	"medrx0326", "medrx0327", "medrx0328", "medrx0329", "medrx0330", "medrx0331", "medrx0332",
	"medrx0333", "medrx0334", "medrx0335", "medrx0336", "medrx0337", "medrx0338", "medrx0339")

func pagingCases() []searchCase {
	return []searchCase{
		{name: "paging/count-10", path: "MedicationRequest?subject=Patient/pat1&_count=10", match: rxOfPat1, pageSize: 10},
		{name: "paging/count-7-all-observations", path: "Observation?_count=7", match: allObservations, pageSize: 7},
		{name: "paging/default-size", path: "Observation", match: allObservations},
		{name: "paging/count-1", path: "Patient?gender=female&_count=1", match: refs("Patient", "animal", "genetics-example1", "infant-mom", "infant-twin-1", "mom", "pat4", "proband"), pageSize: 1},
		{name: "paging/count-exact-fit", path: "Patient?gender=female&_count=7", match: refs("Patient", "animal", "genetics-example1", "infant-mom", "infant-twin-1", "mom", "pat4", "proband"), pageSize: 7},
		{name: "paging/count-larger", path: "Patient?_count=100", match: allPatients, pageSize: 100},
		{name: "paging/count-5-total", path: "Patient?_count=5&_total=accurate", match: allPatients, pageSize: 5, total: intp(22)},
		{name: "paging/chain", path: "Observation?subject:Patient.name=chalmers&_count=4", match: obsOfExample, pageSize: 4},
		{name: "paging/has", path: "Patient?_has:Observation:subject:status=final&_count=2", match: refs("Patient", "example", "f001", "f201", "pat2"), pageSize: 2},
		{name: "paging/post", method: http.MethodPost, path: "MedicationRequest/_search", form: "subject=Patient/pat1&_count=15", match: rxOfPat1, pageSize: 15},
	}
}

func resultCases() []searchCase {
	return []searchCase{
		{name: "summary-count/patients", path: "Patient?gender=female&_summary=count", countOnly: true, total: intp(7)},
		{name: "summary-count/observations", path: "Observation?_summary=count", countOnly: true, total: intp(63)},
		{name: "summary-count/none", path: "Patient?gender=nosuch&_summary=count", countOnly: true, total: intp(0)},
		{name: "summary-count/chain", path: "Observation?subject:Patient.name=pieter&_summary=count", countOnly: true, total: intp(7)},
		{name: "count-0/total-only", path: "Patient?gender=female&_count=0", total: intp(7)},
		{name: "total/accurate", path: "Patient?gender=male&_total=accurate", match: refs("Patient", "ch-example", "dicom", "example", "f001", "f201", "glossy", "infant-fetal", "infant-twin-2", "newborn", "pat1", "pat3", "xcda", "xds"), total: intp(13)},
		{name: "total/accurate-paged", path: "MedicationRequest?subject=Patient/pat1&_total=accurate&_count=5", match: rxOfPat1, total: intp(39), pageSize: 5},
		{name: "total/none", path: "Patient?gender=other&_total=none", match: refs("Patient", "pat2"), total: intp(-1)},
		// Includes do not count in the total.
		{name: "total/with-include", path: "Encounter?subject=Patient/f001&_include=Encounter:participant&_total=accurate", match: refs("Encounter", "f001", "f002", "f003"), include: refs("Practitioner", "f001", "f002", "f003"), total: intp(3)},
		{name: "elements/gender", path: "Patient?_id=example,pat2&_elements=gender", match: refs("Patient", "example", "pat2"), elements: []string{"gender"}},
		{name: "elements/two", path: "Patient?family=donald&_elements=name,gender", match: refs("Patient", "pat1", "pat2"), elements: []string{"name", "gender"}},
		{name: "elements/observation", path: "Observation?subject=Patient/f201&_elements=status,code", match: obsOfF201, elements: []string{"status", "code"}},
		{name: "elements/with-paging", path: "Observation?subject=Patient/f001&_elements=status&_count=2", match: obsOfF001, elements: []string{"status"}, mandatory: []string{"code"}, pageSize: 2},
		{name: "lastUpdated/all", path: "Patient?_lastUpdated=gt2020-01-01", match: allPatients},
		{name: "lastUpdated/none-before", path: "Patient?_lastUpdated=lt2020-01-01"},
		{name: "lastUpdated/none-after", path: "Patient?_lastUpdated=gt2100-01-01"},
		{name: "lastUpdated/and-param", path: "Encounter?_lastUpdated=ge2020&class=IMP", match: refs("Encounter", "emerg", "example", "f203")},
		{name: "lastUpdated/missing", path: "Encounter?_lastUpdated:missing=true"},
		{name: "lenient/unknown-param-ignored", path: "Encounter?nosuchparam=x&class=HH", match: refs("Encounter", "home")},
	}
}

// vitalSignsProfiled are the examples that claim the vitalsigns profile.
var vitalSignsProfiled = refs("Observation", "blood-pressure-cancel", "blood-pressure-dar",
	"blood-pressure", "bmi", "body-height", "body-length", "body-temperature",
	"head-circumference", "heart-rate", "respiratory-rate", "satO2", "vitals-panel")

// metaCases: no valid example carries meta.tag or meta.source, so the tag
// and source cases run over the three tagged Basic resources of
// searchFixtures (ids search-tagged-1..3) besides the examples.
func metaCases() []searchCase {
	tags := "http://example.org/search-tags|"
	return []searchCase{
		{name: "_profile/vitalsigns", path: "Observation?_profile=" + q("http://hl7.org/fhir/StructureDefinition/vitalsigns"), match: vitalSignsProfiled},
		{name: "_profile/other-type", path: "Patient?_profile=" + q("http://hl7.org/fhir/StructureDefinition/vitalsigns")},
		{name: "_profile/questionnaire", path: "Questionnaire?_profile=" + q("http://hl7.org/fhir/StructureDefinition/cqf-questionnaire"), match: refs("Questionnaire", "phq-9-questionnaire")},
		{name: "_profile/and-code", path: "Observation?_profile=" + q("http://hl7.org/fhir/StructureDefinition/vitalsigns") + "&code=" + q("http://loinc.org|85354-9"), match: refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar")},
		{name: "_security/system-and-code", path: "Condition?_security=" + q("http://terminology.hl7.org/CodeSystem/v3-ActCode|TBOO"), match: refs("Condition", "f202")},
		{name: "_security/code", path: "Condition?_security=TBOO", match: refs("Condition", "f202")},
		{name: "_security/none", path: "Patient?_security=TBOO"},
		{name: "_tag/system-and-code", path: "Basic?_tag=" + q(tags+"alpha"), match: refs("Basic", "search-tagged-1", "search-tagged-2")},
		{name: "_tag/code", path: "Basic?_tag=beta", match: refs("Basic", "search-tagged-2", "search-tagged-3")},
		{name: "_tag/and", path: "Basic?_tag=alpha&_tag=beta", match: refs("Basic", "search-tagged-2")},
		{name: "_tag/or", path: "Basic?_tag=" + q(tags+"alpha") + "," + q(tags+"gamma"), match: refs("Basic", "search-tagged-1", "search-tagged-2", "search-tagged-3")},
		{name: "_tag/not", path: "Basic?_tag:not=" + q(tags+"alpha"), match: refs("Basic", "basic-example-narrative", "classModel", "referral", "search-tagged-3")},
		{name: "_tag/other-type", path: "Patient?_tag=alpha"},
		{name: "_tag/wrong-system", path: "Basic?_tag=" + q("http://example.org/other|alpha")},
		{name: "_source/exact", path: "Basic?_source=" + q("http://example.org/search-source/a"), match: refs("Basic", "search-tagged-1")},
		{name: "_source/or", path: "Basic?_source=" + q("http://example.org/search-source/a") + "," + q("http://example.org/search-source/b"), match: refs("Basic", "search-tagged-1", "search-tagged-2", "search-tagged-3")},
		{name: "_source/none", path: "Patient?_source=" + q("http://example.org/search-source/a")},
		{name: "_list/conditions", path: "Condition?_list=example", match: refs("Condition", "example", "example2")},
		{name: "_list/allergies", path: "AllergyIntolerance?_list=current-allergies", match: refs("AllergyIntolerance", "example", "medication")},
		// List/genetic holds contained items and Condition/family-history.
		{name: "_list/mixed-items", path: "Condition?_list=genetic", match: refs("Condition", "family-history")},
		// List/long names 79 patients, 18 of them stored.
		{name: "_list/long", path: "Patient?_list=long", match: refs("Patient", "example", "pat1", "pat2", "pat3", "pat4", "xcda", "xds", "animal", "dicom", "ihe-pcd", "f001", "f201", "glossy", "proband", "genetics-example1", "ch-example", "newborn", "mom")},
		{name: "_list/and-param", path: "Patient?_list=long&gender=female", match: refs("Patient", "animal", "pat4", "proband", "genetics-example1", "mom")},
		{name: "_list/empty-list", path: "Patient?_list=example-empty"},
		{name: "_list/unknown-list", path: "Patient?_list=nosuch"},
		{name: "_list/wrong-type", path: "Patient?_list=example"},
	}
}

func textCases() []searchCase {
	return []searchCase{
		{name: "_text/one", path: "Patient?_text=retriever", match: refs("Patient", "animal")},
		{name: "_text/case", path: "Patient?_text=PLEASANTVILLE", match: refs("Patient", "animal", "example")},
		// "DECEASED" in pat3 and pat4, "deceased : false" in f001 and f201.
		{name: "_text/several", path: "Patient?_text=deceased", match: refs("Patient", "f001", "f201", "pat3", "pat4")},
		{name: "_text/acme", path: "Patient?_text=acme", match: refs("Patient", "example", "pat1", "pat2", "pat3", "pat4")},
		// xds lives in Metropolis, which its narrative does not say.
		{name: "_text/narrative-only", path: "Patient?_text=metropolis"},
		{name: "_content/element", path: "Patient?_content=metropolis", match: refs("Patient", "xds")},
		{name: "_content/narrative", path: "Patient?_content=retriever", match: refs("Patient", "animal")},
		{name: "_text/and-param", path: "Patient?_text=henry&birthdate=1932-09-24", match: refs("Patient", "glossy", "xcda")},
		{name: "_text/none", path: "Patient?_text=zzzunknownword"},
	}
}

// compartmentExample is the Patient compartment of Patient/example, by the R4 CompartmentDefinition
// (143 resources; the Patient itself is in it only through "link"; AuditEvent
// example-rest names it with a versioned reference).
var compartmentExample = []string{
	"Account/ewg", "Account/example", "AdverseEvent/example", "AllergyIntolerance/example",
	"AllergyIntolerance/fishallergy", "AllergyIntolerance/medication", "AllergyIntolerance/nkla",
	"Appointment/2docs", "Appointment/example", "Appointment/examplereq",
	"AppointmentResponse/example", "AuditEvent/example-disclosure", "AuditEvent/example-rest", "BodyStructure/fetus",
	"BodyStructure/skin-patch", "BodyStructure/tumor", "CarePlan/example",
	"CarePlan/obesity-narrative", "CareTeam/example", "ChargeItem/example",
	"ClinicalImpression/example", "Communication/example", "CommunicationRequest/example",
	"Condition/example", "Condition/example2", "Condition/family-history", "Condition/stroke",
	"Consent/consent-example-pkb", "DeviceRequest/example", "DeviceRequest/left-lens",
	"DeviceRequest/right-lens", "DiagnosticReport/ultrasound", "Encounter/emerg", "Encounter/example",
	"Encounter/home", "EpisodeOfCare/example", "FamilyMemberHistory/father", "Flag/example",
	"Flag/example-encounter", "Goal/example", "Goal/stop-smoking", "Immunization/example",
	"Immunization/historical", "Immunization/notGiven", "Immunization/protocol",
	"Immunization/subpotent", "ImmunizationEvaluation/example", "ImmunizationEvaluation/notValid",
	"ImmunizationRecommendation/example", "Invoice/example", "List/current-allergies", "List/example",
	"List/example-double-cousin-relationship", "List/example-empty", "List/genetic", "List/med-list",
	"Media/1.2.840.11361907579238403408700.3.1.04.19970327150033", "Media/xray",
	"MolecularSequence/example", "MolecularSequence/example-TPMT-one",
	"MolecularSequence/example-TPMT-two", "MolecularSequence/example-pgx-1",
	"MolecularSequence/example-pgx-2", "MolecularSequence/fda-example",
	"MolecularSequence/fda-vcf-comparison", "MolecularSequence/fda-vcfeval-comparison",
	"NutritionOrder/cardiacdiet", "NutritionOrder/diabeticdiet", "NutritionOrder/diabeticsupplement",
	"NutritionOrder/energysupplement", "NutritionOrder/enteralbolus",
	"NutritionOrder/enteralcontinuous", "NutritionOrder/fiberrestricteddiet",
	"NutritionOrder/infantenteral", "NutritionOrder/proteinsupplement", "NutritionOrder/pureeddiet",
	"NutritionOrder/pureeddiet-simple", "NutritionOrder/renaldiet", "NutritionOrder/texturemodified",
	"Observation/abdo-tender", "Observation/alcohol-type", "Observation/blood-pressure",
	"Observation/blood-pressure-cancel", "Observation/blood-pressure-dar", "Observation/bmi",
	"Observation/bmi-using-related", "Observation/body-height", "Observation/body-length",
	"Observation/body-temperature", "Observation/example", "Observation/example-TPMT-diplotype",
	"Observation/example-TPMT-haplotype-one", "Observation/example-TPMT-haplotype-two",
	"Observation/example-genetics-1", "Observation/example-genetics-2",
	"Observation/example-genetics-3", "Observation/example-genetics-4",
	"Observation/example-genetics-5", "Observation/eye-color", "Observation/gcs-qa",
	"Observation/glasgow", "Observation/head-circumference", "Observation/heart-rate",
	"Observation/map-sitting", "Observation/mbp", "Observation/respiratory-rate", "Observation/satO2",
	"Observation/vitals-panel", "Person/example", "Procedure/HCBS", "Procedure/ambulation",
	"Procedure/appendectomy-narrative", "Procedure/biopsy", "Procedure/colon-biopsy",
	"Procedure/colonoscopy", "Procedure/example", "Procedure/example-implant",
	"Procedure/physical-therapy", "QuestionnaireResponse/gcs", "RelatedPerson/benedicte",
	"RequestGroup/example", "RequestGroup/kdn5-example", "ResearchSubject/example",
	"RiskAssessment/breastcancer-risk", "RiskAssessment/prognosis", "RiskAssessment/riskexample",
	"ServiceRequest/ambulation", "ServiceRequest/benchpress", "ServiceRequest/colon-biopsy",
	"ServiceRequest/colonoscopy", "ServiceRequest/do-not-turn", "ServiceRequest/example",
	"ServiceRequest/example-implant", "ServiceRequest/lipid", "ServiceRequest/og-example1",
	"ServiceRequest/physical-therapy", "ServiceRequest/physiotherapy", "ServiceRequest/vent",
	"Specimen/101", "Specimen/isolate", "Specimen/vma-urine", "VisionPrescription/33123",
	"VisionPrescription/33124",
}

// compartmentF201 is the Patient compartment of Patient/f201.
var compartmentF201 = []string{
	"Basic/referral", "CarePlan/f201", "CarePlan/f202", "CarePlan/f203", "Condition/f201",
	"Condition/f202", "Condition/f203", "Condition/f204", "Condition/f205",
	"CoverageEligibilityResponse/E2502", "CoverageEligibilityResponse/E2503", "DiagnosticReport/f201",
	"Encounter/f201", "Encounter/f202", "Encounter/f203", "List/f201", "Observation/f202",
	"Observation/f203", "Observation/f204", "Observation/f205", "Observation/f206", "Procedure/f201",
	"QuestionnaireResponse/f201", "RelatedPerson/f002",
}

// compartmentF001 is the Patient compartment of Patient/f001.
var compartmentF001 = []string{
	"CarePlan/f001", "CarePlan/f002", "CarePlan/f003", "Condition/f001", "Condition/f002",
	"Condition/f003", "Consent/consent-example-Emergency", "Consent/consent-example-Out",
	"Consent/consent-example-basic", "Consent/consent-example-grantor",
	"Consent/consent-example-notAuthor", "Consent/consent-example-notOrg",
	"Consent/consent-example-notThem", "Consent/consent-example-notThis",
	"Consent/consent-example-notTime", "Encounter/f001", "Encounter/f002", "Encounter/f003",
	"Observation/ekg", "Observation/f001", "Observation/f002", "Observation/f003", "Observation/f004",
	"Observation/f005", "Observation/unsat", "Procedure/f001", "Procedure/f002", "Procedure/f003",
	"Procedure/f004", "RelatedPerson/f001",
}

func compartmentCases() []searchCase {
	return []searchCase{
		{name: "compartment/observations", path: "Patient/example/Observation", match: obsOfExample},
		{name: "compartment/observations-with-param", path: "Patient/example/Observation?code=" + q("http://loinc.org|85354-9"), match: refs("Observation", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar")},
		{name: "compartment/observations-paged", path: "Patient/example/Observation?_count=10", match: obsOfExample, pageSize: 10},
		{name: "compartment/encounters", path: "Patient/f201/Encounter", match: refs("Encounter", "f201", "f202", "f203")},
		// Condition is in the compartment through patient and asserter.
		{name: "compartment/conditions-asserter", path: "Patient/f001/Condition", match: refs("Condition", "f001", "f002", "f003")},
		{name: "compartment/conditions", path: "Patient/f201/Condition", match: refs("Condition", "f201", "f202", "f203", "f204", "f205")},
		{name: "compartment/practitioner", path: "Practitioner/f201/Encounter", match: refs("Encounter", "f201", "f202", "f203")},
		{name: "compartment/encounter", path: "Encounter/f203/Condition", match: refs("Condition", "f203", "f204")},
		{name: "compartment/empty", path: "Patient/glossy/Observation"},
		{name: "compartment/all-example", path: "Patient/example/*", match: compartmentExample},
		{name: "compartment/all-f201", path: "Patient/f201/*", match: compartmentF201},
		{name: "compartment/all-f001", path: "Patient/f001/*", match: compartmentF001},
		// Group/102 lists pat3 as a member; List/long only as an entry, which
		// is not a compartment criterion.
		{name: "compartment/all-small", path: "Patient/pat3/*", match: refs("Group", "102")},
		// $everything: the patient and its compartment at least (the server
		// may add resources they reference).
		{name: "everything/f201", path: "Patient/f201/$everything", anyMode: true, atLeast: true, match: join(refs("Patient", "f201"), compartmentF201)},
		{name: "everything/example", path: "Patient/example/$everything", anyMode: true, atLeast: true, match: join(refs("Patient", "example"), compartmentExample)},
		{name: "everything/paged", path: "Patient/f001/$everything?_count=7", anyMode: true, atLeast: true, match: join(refs("Patient", "f001"), compartmentF001)},
	}
}

func systemCases() []searchCase {
	return []searchCase{
		{name: "system/type-and-name", path: "?_type=Patient,Practitioner&name=van", match: join(refs("Patient", "f001"), refs("Practitioner", "f001", "f006"))},
		// "Health Level Seven International" names both.
		{name: "system/type-organization-location", path: "?_type=Organization,Location&name=health", match: join(refs("Organization", "hl7"), refs("Location", "hl7"))},
		{name: "system/type-id", path: "?_type=Patient,Observation&_id=example", match: join(refs("Patient", "example"), refs("Observation", "example"))},
		{name: "system/type-only", path: "?_type=Group", match: refs("Group", "101", "102", "example-patientlist", "herd1")},
		{name: "system/id-every-type", path: "?_id=f201", match: []string{"CarePlan/f201", "Condition/f201", "DiagnosticReport/f201", "Encounter/f201", "List/f201", "Organization/f201", "Patient/f201", "Practitioner/f201", "Procedure/f201", "Questionnaire/f201", "QuestionnaireResponse/f201", "Substance/f201"}},
		{name: "system/post", method: http.MethodPost, path: "_search", form: "_type=Group,Location&_count=3", match: join(refs("Group", "101", "102", "example-patientlist", "herd1"), refs("Location", "1", "2", "amb", "hl7", "ph", "ukp")), pageSize: 3},
		{name: "system/type-id-or", path: "?_type=Encounter,Condition&_id=f201,f203", match: join(refs("Condition", "f201", "f203"), refs("Encounter", "f201", "f203"))},
		{name: "system/summary-count", path: "?_type=Patient,Practitioner&_summary=count", countOnly: true, total: intp(36)},
		{name: "post/form", method: http.MethodPost, path: "Patient/_search", form: "family=donald", match: refs("Patient", "pat1", "pat2")},
		// Parameters in the URL and in the body are combined.
		{name: "post/url-and-body", method: http.MethodPost, path: "Patient/_search?gender=other", form: "family=donald", match: refs("Patient", "pat2")},
		{name: "post/include", method: http.MethodPost, path: "Encounter/_search", form: "_id=f001&_include=Encounter:subject", match: refs("Encounter", "f001"), include: refs("Patient", "f001")},
		{name: "post/sort", method: http.MethodPost, path: "Patient/_search", form: "birthdate=lt1950&_sort=-birthdate,_id", ordered: true, match: refs("Patient", "f001", "glossy", "xcda")},
	}
}

func terminologyCases() []searchCase {
	clinical := "http://terminology.hl7.org/CodeSystem/condition-clinical|"
	return []searchCase{
		{name: "in/gender", path: "Patient?gender:in=" + q("http://hl7.org/fhir/ValueSet/administrative-gender"), match: patientsExcept("ihe-pcd")},
		{name: "not-in/gender", path: "Patient?gender:not-in=" + q("http://hl7.org/fhir/ValueSet/administrative-gender"), match: refs("Patient", "ihe-pcd")},
		// condition-severity holds SNOMED 24484000, 6736007 and 255604002;
		// f003 and f203 use other codes, f205, family-history and stroke none.
		{name: "in/severity", path: "Condition?severity:in=" + q("http://hl7.org/fhir/ValueSet/condition-severity"), match: refs("Condition", "example", "example2", "f001", "f002", "f201", "f202", "f204")},
		{name: "not-in/severity", path: "Condition?severity:not-in=" + q("http://hl7.org/fhir/ValueSet/condition-severity"), match: refs("Condition", "f003", "f203", "f205", "family-history", "stroke")},
		{name: "in/category", path: "Condition?category:in=" + q("http://hl7.org/fhir/ValueSet/condition-category"), match: refs("Condition", "example", "example2", "f201", "f202", "f203", "f204", "family-history", "stroke")},
		// resolved and remission are below inactive.
		{name: "below/clinical-status", path: "Condition?clinical-status:below=" + q(clinical+"inactive"), match: refs("Condition", "f201", "f202", "f204")},
		{name: "above/clinical-status", path: "Condition?clinical-status:above=" + q(clinical+"resolved"), match: refs("Condition", "f201", "f202", "f204")},
		{name: "below/leaf", path: "Condition?clinical-status:below=" + q(clinical+"resolved"), match: refs("Condition", "f201", "f202")},
		{name: "below/active", path: "Condition?clinical-status:below=" + q(clinical+"active"), match: refs("Condition", "example", "example2", "f001", "f002", "f003", "f203", "f205", "family-history", "stroke")},
		// amended's only child is corrected; no Observation has either.
		{name: "below/observation-status", path: "Observation?status:below=" + q("http://hl7.org/fhir/observation-status|amended")},
		{name: "in/observation-category", path: "Observation?category:in=" + q("http://hl7.org/fhir/ValueSet/observation-category"), match: refs("Observation", "10minute-apgar-score", "1minute-apgar-score", "20minute-apgar-score", "2minute-apgar-score", "5minute-apgar-score", "abdo-tender", "alcohol-type", "bgpanel", "blood-pressure", "blood-pressure-cancel", "blood-pressure-dar", "bloodgroup", "bmi", "bmi-using-related", "body-height", "body-length", "body-temperature", "date-lastmp", "ekg", "example", "f202", "head-circumference", "heart-rate", "herd1", "map-sitting", "mbp", "respiratory-rate", "rhstatus", "satO2", "secondsmoke", "trachcare", "vitals-panel")},
	}
}

func errorCases() []searchCase {
	strict := map[string]string{"Prefer": "handling=strict"}
	return []searchCase{
		{name: "error/unknown-param-strict", path: "Patient?nosuchparam=x", headers: strict, status: http.StatusBadRequest},
		{name: "error/bad-date", path: "Patient?birthdate=notadate", headers: strict, status: http.StatusBadRequest},
		{name: "error/bad-prefix-number", path: "RiskAssessment?probability=zz0.5", headers: strict, status: http.StatusBadRequest},
		{name: "error/unknown-modifier", path: "Patient?gender:nosuch=male", headers: strict, status: http.StatusBadRequest},
		{name: "error/unknown-chain-param", path: "Observation?subject:Patient.nosuch=x", headers: strict, status: http.StatusBadRequest},
		{name: "error/unknown-sort-strict", path: "Patient?_sort=nosuch", headers: strict, status: http.StatusBadRequest},
		{name: "error/unknown-type", path: "NoSuchType?name=x", status: http.StatusNotFound},
		{name: "error/system-unknown-type", path: "?_type=NoSuchType", status: http.StatusBadRequest},
		{name: "error/bad-quantity", path: "Observation?value-quantity=abc", headers: strict, status: http.StatusBadRequest},
		{name: "error/bad-has", path: "Patient?_has:Observation=x", headers: strict, status: http.StatusBadRequest},
		// Without Prefer: handling=strict a malformed value is ignored (and
		// reported in an outcome entry), not an error.
		{name: "lenient/bad-date-ignored", path: "Encounter?date=notadate&class=HH", match: refs("Encounter", "home")},
		{name: "lenient/unknown-modifier-ignored", path: "Encounter?class:nosuch=x&class=HH", match: refs("Encounter", "home")},
	}
}

package dicomweb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/telehub/telehub/fhir"
)

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

// patientIdentifiers lists the identifiers a data set gives its patient,
// the INS first: PatientID with its issuer, and the Other Patient IDs.
func patientIdentifiers(attrs Dataset) []identifier {
	var ins, others []identifier
	add := func(value, issuer string, qualifiers Attr) {
		value = strings.TrimSpace(value)
		if value == "" {
			return
		}
		universal := ""
		for _, item := range qualifiers.Value {
			if d, ok := item.(Dataset); ok {
				universal = d.First(tagUniversalEntityID)
			} else if m, ok := item.(map[string]any); ok {
				universal = datasetOf(m).First(tagUniversalEntityID)
			}
		}
		issuer = strings.TrimPrefix(strings.TrimSpace(issuer), "urn:oid:")
		switch {
		case issuer == oidINS || universal == oidINS || strings.HasSuffix(issuer, "&"+oidINS+"&ISO"):
			ins = append(ins, identifier{System: SystemINS, Value: value})
		case universal != "" && validUID(universal):
			others = append(others, identifier{System: "urn:oid:" + universal, Value: value})
		case issuer != "" && validUID(issuer):
			others = append(others, identifier{System: "urn:oid:" + issuer, Value: value})
		default:
			others = append(others, identifier{Value: value})
		}
	}
	add(attrs.First(tagPatientID), attrs.First(tagIssuerOfPatientID), attrs[tagIssuerQualifiersSeq])
	for _, item := range attrs[tagOtherPatientIDsSeq].Value {
		d, ok := item.(Dataset)
		if !ok {
			if m, isMap := item.(map[string]any); isMap {
				d = datasetOf(m)
			}
		}
		add(d.First(tagPatientID), d.First(tagIssuerOfPatientID), d[tagIssuerQualifiersSeq])
	}
	return append(ins, others...)
}

// datasetOf reads a sequence item decoded from stored JSON back as a Dataset.
func datasetOf(m map[string]any) Dataset {
	b, _ := json.Marshal(m)
	var d Dataset
	_ = decodeRecord(b, &d)
	return d
}

func (id identifier) param() string {
	if id.System == "" {
		return id.Value
	}
	return id.System + "|" + id.Value
}

// findPatient returns the id of the Patient the data set names, or "".
func (s *Server) findPatient(ctx context.Context, attrs Dataset) (string, error) {
	for _, id := range patientIdentifiers(attrs) {
		found, err := s.fhir.Find(ctx, "Patient", url.Values{"identifier": {id.param()}}, 2)
		if err != nil {
			return "", fmt.Errorf("find patient %s: %w", id.param(), err)
		}
		if len(found) == 1 {
			return found[0].ID, nil
		}
	}
	return "", nil
}

// ensurePatient finds the study's Patient or creates it as a provisional
// identity from the DICOM patient module.
func (s *Server) ensurePatient(ctx context.Context, attrs Dataset, study string) (string, error) {
	id, err := s.findPatient(ctx, attrs)
	if err != nil || id != "" {
		return id, err
	}
	ids := patientIdentifiers(attrs)
	if len(ids) == 0 {
		ids = []identifier{{System: SystemStudyPatient, Value: study}}
	}
	p := map[string]any{
		"resourceType": "Patient",
		"meta": map[string]any{"tag": []map[string]string{{"system": SystemIdentityReliability, "code": "PROV",
			"display": "Provisional identity (from DICOM data)"}}},
		"identifier": ids,
	}
	if name := humanName(attrs.First(tagPatientName)); name != nil {
		p["name"] = []any{name}
	}
	if d := fhirDate(attrs.First(tagPatientBirthDate)); d != "" {
		p["birthDate"] = d
	}
	if g, ok := map[string]string{"M": "male", "F": "female", "O": "other"}[attrs.First(tagPatientSex)]; ok {
		p["gender"] = g
	}
	// A deterministic id makes concurrent STOWs for a new patient (on this
	// node or another) meet on one resource instead of creating two.
	return s.createOnce(ctx, "Patient", "dicom-"+digestID(ids[0].param()), p)
}

// createOnce creates typ/id from body unless it exists, and returns id. Of
// concurrent creators one wins; the others find its resource.
func (s *Server) createOnce(ctx context.Context, typ, id string, res map[string]any) (string, error) {
	res["id"] = id
	body, err := json.Marshal(res)
	if err != nil {
		return "", err
	}
	for range maxConflicts {
		_, err := s.fhir.Read(ctx, typ, id)
		if err == nil {
			return id, nil
		}
		if st := fhir.StatusOf(err); st != http.StatusNotFound && st != http.StatusGone {
			return "", fmt.Errorf("read %s/%s: %w", typ, id, err)
		}
		_, err = s.fhir.Update(ctx, typ, id, body, 0)
		if err == nil {
			return id, nil
		}
		if st := fhir.StatusOf(err); st != http.StatusConflict && st != http.StatusPreconditionFailed {
			return "", fmt.Errorf("create %s/%s: %w", typ, id, err)
		}
	}
	return "", fmt.Errorf("create %s/%s: too many concurrent writers", typ, id)
}

// digestID is a FHIR id made from a key: 32 hex digits of its SHA-256.
func digestID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// humanName turns a DICOM PN ("Family^Given^Middle^Prefix^Suffix") into a
// FHIR HumanName.
func humanName(pn string) map[string]any {
	parts := strings.Split(strings.SplitN(pn, "=", 2)[0], "^")
	name := map[string]any{}
	if f := strings.TrimSpace(parts[0]); f != "" {
		name["family"] = f
	}
	var given []string
	for _, i := range []int{1, 2} {
		if i < len(parts) && strings.TrimSpace(parts[i]) != "" {
			given = append(given, strings.TrimSpace(parts[i]))
		}
	}
	if len(given) > 0 {
		name["given"] = given
	}
	if len(parts) > 3 && strings.TrimSpace(parts[3]) != "" {
		name["prefix"] = []string{strings.TrimSpace(parts[3])}
	}
	if len(parts) > 4 && strings.TrimSpace(parts[4]) != "" {
		name["suffix"] = []string{strings.TrimSpace(parts[4])}
	}
	if len(name) == 0 {
		return nil
	}
	return name
}

var daPattern = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})$`)

// fhirDate turns a DA value into a FHIR date ("" when it is not one).
func fhirDate(da string) string {
	m := daPattern.FindStringSubmatch(strings.TrimSpace(da))
	if m == nil {
		return ""
	}
	return m[1] + "-" + m[2] + "-" + m[3]
}

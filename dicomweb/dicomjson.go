package dicomweb

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Attr is one attribute in the DICOM JSON model (PS3.18 F.2): its VR and
// either values, inline binary (base64) or a bulk data URI.
type Attr struct {
	VR           string `json:"vr"`
	Value        []any  `json:"Value,omitempty"`
	InlineBinary string `json:"InlineBinary,omitempty"`
	BulkDataURI  string `json:"BulkDataURI,omitempty"`
}

// Dataset is a DICOM data set in the JSON model, keyed by the tag as eight
// upper-case hex digits ("0020000D"). encoding/json writes map keys sorted,
// which is the tag order the model asks for.
type Dataset map[string]Attr

// bulkThreshold is the size above which binary values are served by
// reference (BulkDataURI) rather than inline.
const bulkThreshold = 1024

// instancePlaceholder stands for the instance's WADO-RS URL in stored
// BulkDataURIs; it is replaced when metadata is served, so that stored
// metadata does not depend on the public base URL.
const instancePlaceholder = "@instance@"

// tagKey formats t as in the JSON model.
func tagKey(t tag.Tag) string { return fmt.Sprintf("%04X%04X", t.Group, t.Element) }

// toJSON converts parsed top-level elements into the JSON model, leaving
// out the file meta group (0002) and group lengths. Large binary values of
// top-level elements, pixel data always, become BulkDataURIs under the
// instance placeholder; nested ones are inlined.
func toJSON(elems []*dicom.Element, topLevel bool) Dataset {
	out := Dataset{}
	for _, e := range elems {
		if e.Tag.Group == 0x0002 || e.Tag.Element == 0x0000 || e.Tag.Group == 0xFFFE {
			continue
		}
		vr := e.RawValueRepresentation
		if vr == "" || len(vr) != 2 {
			vr = "UN"
		}
		key := tagKey(e.Tag)
		a := Attr{VR: vr}
		switch e.Value.ValueType() {
		case dicom.PixelData:
			if vr != "OB" && vr != "OW" {
				a.VR = "OW"
			}
			a.BulkDataURI = instancePlaceholder + "/bulkdata/" + key
			if !topLevel {
				continue // an icon's pixels: not worth a route of their own
			}
		case dicom.Bytes:
			b := dicom.MustGetBytes(e.Value)
			if len(b) == 0 {
				break
			}
			if topLevel && len(b) > bulkThreshold {
				a.BulkDataURI = instancePlaceholder + "/bulkdata/" + key
			} else {
				a.InlineBinary = base64.StdEncoding.EncodeToString(b)
			}
		case dicom.Sequences:
			for _, item := range e.Value.GetValue().([]*dicom.SequenceItemValue) {
				a.Value = append(a.Value, toJSON(item.GetValue().([]*dicom.Element), false))
			}
		case dicom.Ints:
			ints := dicom.MustGetInts(e.Value)
			if vr == "AT" {
				for i := 0; i+1 < len(ints); i += 2 {
					a.Value = append(a.Value, fmt.Sprintf("%04X%04X", ints[i], ints[i+1]))
				}
				break
			}
			for _, v := range ints {
				a.Value = append(a.Value, v)
			}
		case dicom.Floats:
			fs := dicom.MustGetFloats(e.Value)
			if topLevel && len(fs)*8 > bulkThreshold && (vr == "OF" || vr == "OD") {
				a.BulkDataURI = instancePlaceholder + "/bulkdata/" + key
				break
			}
			for _, v := range fs {
				a.Value = append(a.Value, v)
			}
		case dicom.Strings:
			a.Value = stringValues(vr, dicom.MustGetStrings(e.Value))
		}
		out[key] = a
	}
	return out
}

// stringValues types string values as the JSON model wants them: person
// names as objects, IS and DS as numbers; empty values as null between
// others and absent when alone.
func stringValues(vr string, values []string) []any {
	if len(values) == 1 && strings.TrimSpace(values[0]) == "" {
		return nil
	}
	var out []any
	for _, v := range values {
		v = strings.TrimRight(v, " \x00")
		if vr != "LT" && vr != "ST" && vr != "UT" {
			v = strings.TrimLeft(v, " ")
		}
		switch {
		case v == "":
			out = append(out, nil)
		case vr == "PN":
			out = append(out, personName(v))
		case vr == "IS" || vr == "DS":
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				out = append(out, json.Number(normaliseNumber(v)))
			} else {
				out = append(out, nil) // not a number: JSON has no place for it
			}
		default:
			out = append(out, v)
		}
	}
	return out
}

// normaliseNumber makes a DS or IS string valid JSON ("+1.0" → "1.0", ".5" → "0.5").
func normaliseNumber(v string) string {
	v = strings.TrimPrefix(v, "+")
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimPrefix(v, "-")
	if strings.HasPrefix(v, ".") {
		v = "0" + v
	}
	v = strings.TrimSuffix(v, ".")
	for len(v) > 1 && v[0] == '0' && v[1] != '.' && v[1] != 'e' && v[1] != 'E' {
		v = v[1:]
	}
	if neg {
		v = "-" + v
	}
	return v
}

// personName splits a PN value into its component groups.
func personName(v string) map[string]string {
	groups := strings.SplitN(v, "=", 3)
	out := map[string]string{}
	for i, name := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
		if i < len(groups) && groups[i] != "" {
			out[name] = groups[i]
		}
	}
	return out
}

// Strings returns the attribute's values as strings: a person name's
// alphabetic group, numbers as written.
func (a Attr) Strings() []string {
	var out []string
	for _, v := range a.Value {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case json.Number:
			out = append(out, x.String())
		case float64:
			out = append(out, strconv.FormatFloat(x, 'f', -1, 64))
		case int:
			out = append(out, strconv.Itoa(x))
		case map[string]string:
			out = append(out, x["Alphabetic"])
		case map[string]any:
			s, _ := x["Alphabetic"].(string)
			out = append(out, s)
		case nil:
			out = append(out, "")
		}
	}
	return out
}

// First returns the first value of tag key as a string ("" when absent).
func (d Dataset) First(key string) string {
	if s := d[key].Strings(); len(s) > 0 {
		return s[0]
	}
	return ""
}

// Tags of the attributes TeleHub reads itself.
const (
	tagSpecificCharacterSet    = "00080005"
	tagSOPClassUID             = "00080016"
	tagSOPInstanceUID          = "00080018"
	tagStudyDate               = "00080020"
	tagSeriesDate              = "00080021"
	tagStudyTime               = "00080030"
	tagSeriesTime              = "00080031"
	tagAccessionNumber         = "00080050"
	tagModality                = "00080060"
	tagModalitiesInStudy       = "00080061"
	tagSOPClassesInStudy       = "00080062"
	tagInstanceAvailability    = "00080056"
	tagReferringPhysicianName  = "00080090"
	tagTimezoneOffsetFromUTC   = "00080201"
	tagStudyDescription        = "00081030"
	tagSeriesDescription       = "0008103E"
	tagRetrieveURL             = "00081190"
	tagPatientName             = "00100010"
	tagPatientID               = "00100020"
	tagIssuerOfPatientID       = "00100021"
	tagIssuerQualifiersSeq     = "00100024"
	tagPatientBirthDate        = "00100030"
	tagPatientSex              = "00100040"
	tagOtherPatientIDsSeq      = "00101002"
	tagBodyPartExamined        = "00180015"
	tagStudyInstanceUID        = "0020000D"
	tagSeriesInstanceUID       = "0020000E"
	tagStudyID                 = "00200010"
	tagSeriesNumber            = "00200011"
	tagInstanceNumber          = "00200013"
	tagNumberOfStudySeries     = "00201206"
	tagNumberOfStudyInstances  = "00201208"
	tagNumberOfSeriesInstances = "00201209"
	tagSamplesPerPixel         = "00280002"
	tagNumberOfFrames          = "00280008"
	tagRows                    = "00280010"
	tagColumns                 = "00280011"
	tagBitsAllocated           = "00280100"
	tagUniversalEntityID       = "00400032"
	tagPerformedStartDate      = "00400244"
	tagPerformedStartTime      = "00400245"
	tagRequestAttributesSeq    = "00400275"
	tagPixelData               = "7FE00010"
)

// Attributes kept at the study and series levels (PS3.18 table 6.7.1-2 and
// the study and series modules); the patient module (group 0010) is kept at
// the study level too. Everything else stays with the instance.
var (
	studyLevelTags = set(tagSpecificCharacterSet, tagStudyDate, tagStudyTime, tagAccessionNumber,
		tagReferringPhysicianName, tagTimezoneOffsetFromUTC, tagStudyDescription, tagStudyInstanceUID,
		tagStudyID, "00080051" /* IssuerOfAccessionNumberSequence */, "00081060" /* NameOfPhysiciansReadingStudy */)
	seriesLevelTags = set(tagSpecificCharacterSet, tagModality, tagSeriesDate, tagSeriesTime,
		tagSeriesDescription, tagSeriesInstanceUID, tagSeriesNumber, tagBodyPartExamined,
		tagPerformedStartDate, tagPerformedStartTime, tagRequestAttributesSeq, tagTimezoneOffsetFromUTC,
		"00180015", "00200060" /* Laterality */, "00080070" /* Manufacturer */, "0008103F", "00181030" /* ProtocolName */)
)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// studyAttrs and seriesAttrs pick an instance's study- and series-level attributes.
func studyAttrs(all Dataset) Dataset {
	out := Dataset{}
	for k, a := range all {
		if studyLevelTags[k] || strings.HasPrefix(k, "0010") {
			out[k] = a
		}
	}
	return out
}

func seriesAttrs(all Dataset) Dataset {
	out := Dataset{}
	for k, a := range all {
		if seriesLevelTags[k] {
			out[k] = a
		}
	}
	return out
}

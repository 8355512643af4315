package dicomweb

import (
	"encoding/json"
	"fmt"
	"strings"
)

// dicomAttr is one attribute of the DICOM JSON model (PS3.18 F.2), or of
// the flavour Orthanc answers its /dicom-web/servers/…/qido calls in, where
// Value is a plain string and the tag may be upper-case hexadecimal.
type dicomAttr struct {
	VR    string          `json:"vr"`
	Value json.RawMessage `json:"Value"`
}

// str returns the first value of a string attribute ("" when absent); tag
// is matched without regard to case.
func str(m map[string]dicomAttr, tag string) string {
	a, ok := m[tag]
	if !ok {
		a, ok = m[strings.ToUpper(tag)]
	}
	if !ok || len(a.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(a.Value, &s) == nil {
		return s
	}
	var vs []json.RawMessage
	if json.Unmarshal(a.Value, &vs) != nil || len(vs) == 0 {
		return ""
	}
	if json.Unmarshal(vs[0], &s) == nil {
		return s
	}
	return fmt.Sprint(string(vs[0]))
}

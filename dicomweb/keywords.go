package dicomweb

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// tagKeyword names the tags the study index uses by their DICOM keywords.
var tagKeyword = map[string]string{
	tagStudyInstanceUID: "StudyInstanceUID", tagPatientID: "PatientID", tagAccessionNumber: "AccessionNumber",
	tagStudyID: "StudyID", tagPatientName: "PatientName", tagReferringPhysicianName: "ReferringPhysicianName",
	tagModalitiesInStudy: "ModalitiesInStudy", tagStudyDate: "StudyDate",
}

// keywordCache remembers resolved keywords: the dictionary lookup by name
// is a linear scan.
var keywordCache sync.Map // keyword → tag.Info

// lookupAttribute resolves a query key, a keyword ("PatientName") or a hex
// tag ("00100010"), to its JSON model key and VR.
func lookupAttribute(name string) (key, vr string, err error) {
	if len(name) == 8 {
		if n, perr := strconv.ParseUint(name, 16, 32); perr == nil {
			t := tag.Tag{Group: uint16(n >> 16), Element: uint16(n)}
			info, ferr := tag.Find(t)
			if ferr != nil {
				return strings.ToUpper(name), "UN", nil // private or unknown: matched as text
			}
			return tagKey(t), info.VR, nil
		}
	}
	if v, ok := keywordCache.Load(name); ok {
		info := v.(tag.Info)
		return tagKey(info.Tag), info.VR, nil
	}
	info, ferr := tag.FindByName(name)
	if ferr != nil || name == "" {
		return "", "", fmt.Errorf("unknown attribute %q (give a DICOM keyword or eight hex digits)", name)
	}
	keywordCache.Store(name, info)
	return tagKey(info.Tag), info.VR, nil
}

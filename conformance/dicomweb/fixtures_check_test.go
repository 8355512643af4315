package dicomweb

import (
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// TestFixtures checks the generator: every file parses, in the transfer
// syntax and with the photometric interpretation it claims.
func TestFixtures(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, f := range makeFixtures(t) {
		ds, err := dicom.ParseFile(f.path, nil)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		get := func(tg tag.Tag) string {
			e, err := ds.FindElementByTag(tg)
			if err != nil {
				t.Fatalf("%s: %v: %v", f.name, tg, err)
			}
			return strings.TrimRight(dicom.MustGetStrings(e.Value)[0], "\x00 ")
		}
		if got := get(tag.TransferSyntaxUID); got != f.transferSyntax {
			t.Errorf("%s: transfer syntax %s, want %s", f.name, got, f.transferSyntax)
		}
		if got := get(tag.PhotometricInterpretation); got != f.photometric {
			t.Errorf("%s: photometric %s, want %s", f.name, got, f.photometric)
		}
		if got := get(tag.SOPInstanceUID); got != f.sop || seen[got] {
			t.Errorf("%s: SOP instance %s, want %s, once", f.name, got, f.sop)
		}
		seen[f.sop] = true
		if got := get(tag.StudyInstanceUID); got != fixtureStudy {
			t.Errorf("%s: study %s", f.name, got)
		}
	}
}

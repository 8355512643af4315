package bench

import (
	"bytes"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func TestSynthInstances(t *testing.T) {
	t.Parallel()
	s, err := NewSynth(42, 128, 256)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() < 128*256*2 {
		t.Fatalf("size %d is smaller than the pixels", s.Size())
	}
	seen := map[string]bool{}
	for _, c := range [][3]int{{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {3, 2, 7}} {
		b := s.Instance(c[0], c[1], c[2])
		ds, err := dicom.Parse(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			t.Fatalf("instance %v does not parse: %v", c, err)
		}
		str := func(tg tag.Tag) string {
			e, err := ds.FindElementByTag(tg)
			if err != nil {
				t.Fatalf("instance %v: %v: %v", c, tg, err)
			}
			return dicom.MustGetStrings(e.Value)[0]
		}
		if got, want := str(tag.StudyInstanceUID), s.StudyUID(c[0]); got != want {
			t.Errorf("study %q, want %q", got, want)
		}
		if got, want := str(tag.SeriesInstanceUID), s.SeriesUID(c[0], c[1]); got != want {
			t.Errorf("series %q, want %q", got, want)
		}
		sop := str(tag.SOPInstanceUID)
		if sop != s.InstanceUID(c[0], c[1], c[2]) || str(tag.MediaStorageSOPInstanceUID) != sop {
			t.Errorf("SOP instance %q, want %q in both places", sop, s.InstanceUID(c[0], c[1], c[2]))
		}
		if seen[sop] {
			t.Errorf("SOP instance UID %s generated twice", sop)
		}
		seen[sop] = true
		if got, want := str(tag.PatientID), s.PatientID(c[0]); got != want {
			t.Errorf("patient %q, want %q", got, want)
		}
	}
	same, _ := NewSynth(42, 128, 256)
	if !bytes.Equal(same.Instance(1, 2, 3), s.Instance(1, 2, 3)) {
		t.Error("two generators with one seed make different files")
	}
	other, _ := NewSynth(43, 128, 256)
	if other.StudyUID(0) == s.StudyUID(0) {
		t.Error("two seeds share a study UID")
	}
}

package render

import (
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// An enhanced multi-frame image: the shared functional groups set a window
// and a rescale, the second frame's own groups another window; both beat
// the top-level window.
func TestFunctionalGroups(t *testing.T) {
	t.Parallel()
	voi := func(c, w string) *dicom.Element {
		return elem(t, tag.FrameVOILUTSequence, [][]*dicom.Element{{elem(t, tag.WindowCenter, []string{c}), elem(t, tag.WindowWidth, []string{w})}})
	}
	shared := elem(t, tag.SharedFunctionalGroupsSequence, [][]*dicom.Element{{
		voi("100", "51"),
		elem(t, tag.PixelValueTransformationSequence, [][]*dicom.Element{{
			elem(t, tag.RescaleIntercept, []string{"-10"}), elem(t, tag.RescaleSlope, []string{"1"})}}),
	}})
	perFrame := elem(t, tag.PerFrameFunctionalGroupsSequence, [][]*dicom.Element{{}, {voi("200", "51")}})
	px := []int{0, 85, 110, 135, 185, 210, 235, 255}
	ds := build(t, spec{rows: 1, cols: 8, bits: 8, photometric: "MONOCHROME2", center: "0", width: "10",
		frames: [][]int{px, px}, extra: []*dicom.Element{shared, perFrame}})
	for f, c := range []float64{100, 200} {
		img := renderPNG(t, ds, f+1, Options{})
		for i, v := range px {
			want := linear(float64(v)-10, c, 51)
			if got := grayAt(t, img, i, 0); !near(got, want, 1) {
				t.Errorf("frame %d, stored %d: %d, want %.1f (window %v/51 after rescale -10)", f+1, v, got, want, c)
			}
		}
	}
}

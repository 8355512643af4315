package render

import (
	"math"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// A VOI LUT Sequence applies when the data set has no window, and gives
// way to a window, the data set's or the request's.
func TestVOILUT(t *testing.T) {
	t.Parallel()
	const first, bits = 20, 12
	lut := make([]int, 200)
	for i := range lut {
		lut[i] = i * i / 10 // non-linear, within 12 bits
	}
	data := elem(t, tag.LUTData, lut)
	data.RawValueRepresentation = "US" // the parser's dictionary says LT; the standard, US or OW
	seq := elem(t, tag.VOILUTSequence, [][]*dicom.Element{{elem(t, tag.LUTDescriptor, []int{len(lut), first, bits}), data}})
	px := []int{0, 20, 21, 100, 150, 219, 220, 255}
	ds := build(t, spec{rows: 1, cols: len(px), bits: 8, photometric: "MONOCHROME2", frames: [][]int{px}, extra: []*dicom.Element{seq}})
	img := renderPNG(t, ds, 1, Options{})
	for x, v := range px {
		i := min(max(v-first, 0), len(lut)-1)
		want := float64(lut[i]) / float64(1<<bits-1) * 255
		if got := grayAt(t, img, x, 0); math.Abs(float64(got)-want) > 0.5 {
			t.Errorf("stored %d: %d, want %.1f", v, got, want)
		}
	}
	// The request's window wins over the LUT.
	img = renderPNG(t, ds, 1, Options{WindowCenter: f64(127.5), WindowWidth: f64(255), WindowFunction: "LINEAR_EXACT"})
	if got := grayAt(t, img, 3, 0); got != 100 {
		t.Errorf("stored 100 under the identity window: %d", got)
	}
}

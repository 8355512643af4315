package render

import (
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func TestPaletteColor(t *testing.T) {
	t.Parallel()
	const first = 10
	lut := func(f func(i int) int) []byte {
		b := make([]byte, 2*256)
		for i := 0; i < 256; i++ {
			v := f(i) << 8 // 16-bit entries
			b[2*i], b[2*i+1] = byte(v), byte(v>>8)
		}
		return b
	}
	red, green, blue := func(i int) int { return i }, func(i int) int { return 255 - i }, func(int) int { return 128 }
	extra := []*dicom.Element{
		elem(t, tag.RedPaletteColorLookupTableDescriptor, []int{256, first, 16}),
		elem(t, tag.GreenPaletteColorLookupTableDescriptor, []int{256, first, 16}),
		elem(t, tag.BluePaletteColorLookupTableDescriptor, []int{256, first, 16}),
		elem(t, tag.RedPaletteColorLookupTableData, lut(red)),
		elem(t, tag.GreenPaletteColorLookupTableData, lut(green)),
		elem(t, tag.BluePaletteColorLookupTableData, lut(blue)),
	}
	px := []int{0, 10, 11, 100, 200, 265, 300, 1000}
	ds := build(t, spec{rows: 1, cols: len(px), bits: 16, photometric: "PALETTE COLOR", frames: [][]int{px}, extra: extra})
	img := renderPNG(t, ds, 1, Options{})
	for x, v := range px {
		i := min(max(v-first, 0), 255) // out-of-range values take the end entries
		want := [3]uint8{uint8(red(i)), uint8(green(i)), uint8(blue(i))}
		if got := rgbAt(img, x, 0); got != want {
			t.Errorf("stored %d: %v, want %v", v, got, want)
		}
	}
}

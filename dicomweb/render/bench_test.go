package render

import (
	"testing"

	"github.com/suyashkumar/dicom"
)

// BenchmarkRender measures one 512×512 16-bit CT frame rendered to JPEG
// and to a 128×128 PNG thumbnail.
func BenchmarkRender(b *testing.B) {
	px := make([]int, 512*512)
	for i := range px {
		px[i] = (i%512)*4 + (i/512)*2
	}
	ds := build(b, spec{rows: 512, cols: 512, bits: 16, stored: 12, photometric: "MONOCHROME2",
		slope: "1", inter: "-1024", center: "40", width: "400", frames: [][]int{px}})
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"jpeg", Options{}},
		{"thumbnail-png", Options{Accept: []string{"image/png"}, Viewport: struct{ Width, Height int }{128, 128}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchRender(b, ds, c.opts)
		})
	}
}

func benchRender(b *testing.B, ds *dicom.Dataset, opts Options) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Render(ds, 1, opts); err != nil {
			b.Fatal(err)
		}
	}
}

package render

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/suyashkumar/dicom"
)

// TestTestdataFiles renders the dcmtk-made files of testdata/dicom, and
// checks that each JPEG Baseline file renders like its uncompressed twin.
func TestTestdataFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "testdata", "dicom")
	load := func(name string) *dicom.Dataset {
		ds, err := dicom.ParseFile(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return &ds
	}
	if _, err := os.Stat(filepath.Join(dir, "gray8-jpeg.dcm")); err != nil {
		t.Skipf("testdata/dicom has no fixtures: %v", err)
	}
	for _, pair := range []struct {
		native, jpeg string
		frames       int
	}{
		{"gray8-multiframe.dcm", "gray8-jpeg.dcm", 3},
		{"rgb-planar0.dcm", "rgb-jpeg.dcm", 1},
		{"rgb-planar0.dcm", "rgb-planar1.dcm", 1},
		{"rgb-planar0.dcm", "rgb-jpeg-rgb.dcm", 1},
		{"mr16-explicit.dcm", "mr16-implicit.dcm", 1},
	} {
		a, b := load(pair.native), load(pair.jpeg)
		for f := 1; f <= pair.frames; f++ {
			x, y := renderPNG(t, a, f, Options{}), renderPNG(t, b, f, Options{})
			if x.Bounds() != y.Bounds() {
				t.Fatalf("%s/%s frame %d: %v vs %v", pair.native, pair.jpeg, f, x.Bounds(), y.Bounds())
			}
			// Lossy JPEG, and 4:2:2 chroma at the colour bars' edges: compare
			// means over each row rather than single pixels.
			for row := 0; row < x.Bounds().Dy(); row++ {
				var sa, sb float64
				for col := 0; col < x.Bounds().Dx(); col++ {
					p, q := rgbAt(x, col, row), rgbAt(y, col, row)
					for c := 0; c < 3; c++ {
						sa += float64(p[c])
						sb += float64(q[c])
					}
				}
				n := float64(3 * x.Bounds().Dx())
				if d := sa/n - sb/n; d > 3 || d < -3 {
					t.Errorf("%s/%s frame %d row %d: means %.1f vs %.1f", pair.native, pair.jpeg, f, row, sa/n, sb/n)
					break
				}
			}
		}
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	for _, e := range entries {
		body, _, err := Render(load(filepath.Base(e)), 1, Options{Accept: []string{"image/png"}})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(e), err)
			continue
		}
		if _, err := png.Decode(bytes.NewReader(body)); err != nil {
			t.Errorf("%s: %v", filepath.Base(e), err)
		}
	}
}

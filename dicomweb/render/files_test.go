package render

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// moduleTestdata is the testdata folder of github.com/suyashkumar/dicom in
// the module cache: real PET, MR, X-ray and multi-frame CT files (see its
// data_details.md for their sources and licences).
func moduleTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/suyashkumar/dicom").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "testdata")
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("github.com/suyashkumar/dicom is not in the module cache (%v)", err)
	}
	return dir
}

func TestRealFiles(t *testing.T) {
	dir := moduleTestdata(t)
	for _, name := range []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s: %v", name, err)
			}
			ds, err := dicom.ParseFile(path, nil)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			in, err := readInfo(&ds)
			if err != nil {
				t.Fatalf("info: %v", err)
			}
			// Every frame renders at native size; the last one is checked
			// too so multi-frame indexing is exercised on a real file.
			for _, f := range []int{1, in.frames} {
				if _, _, err := Render(&ds, f, Options{}); err != nil {
					t.Fatalf("frame %d with the data set's window: %v", f, err)
				}
				// The data set's own window may legitimately show a dark
				// image (2.dcm, an early PET frame); the frame's full range
				// must not.
				opts := Options{Accept: []string{"image/png"}, WindowFunction: "LINEAR_EXACT"}
				if in.samples == 1 {
					c, w := modalityRange(t, &ds, in, f)
					opts.WindowCenter, opts.WindowWidth = &c, &w
				}
				body, _, err := Render(&ds, f, opts)
				if err != nil {
					t.Fatalf("frame %d: %v", f, err)
				}
				img, err := png.Decode(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if b := img.Bounds(); b.Dx() != in.cols || b.Dy() != in.rows {
					t.Fatalf("frame %d: %dx%d, want %dx%d", f, b.Dx(), b.Dy(), in.cols, in.rows)
				}
				// A real image under its own window is not one flat colour.
				lo, hi := uint32(1<<16), uint32(0)
				for y := 0; y < in.rows; y += 4 {
					for x := 0; x < in.cols; x += 4 {
						r, _, _, _ := img.At(x, y).RGBA()
						lo, hi = min(lo, r), max(hi, r)
					}
				}
				if hi-lo < 1<<12 {
					t.Errorf("frame %d renders nearly flat (%d..%d)", f, lo>>8, hi>>8)
				}
			}
			if _, _, err := Render(&ds, in.frames+1, Options{}); !errors.Is(err, ErrNoFrame) {
				t.Errorf("frame %d of %d: %v, want ErrNoFrame", in.frames+1, in.frames, err)
			}
			thumb, _, err := Render(&ds, 1, Options{Accept: []string{"image/png"}, Viewport: struct{ Width, Height int }{64, 64}})
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(thumb))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); max(b.Dx(), b.Dy()) != 64 {
				t.Errorf("thumbnail %v does not fit 64x64 tightly", b)
			}
		})
	}
}

// modalityRange returns the centre and width of frame f's modality values.
func modalityRange(t *testing.T, ds *dicom.Dataset, in imageInfo, f int) (center, width float64) {
	t.Helper()
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatal(err)
	}
	pd := e.Value.GetValue().(dicom.PixelDataInfo)
	lo, hi := minMax(nativeGray(pd.Frames[f-1].NativeData.Data, in).pix)
	a, b := float64(lo)*in.slope+in.intercept, float64(hi)*in.slope+in.intercept
	return (a + b) / 2, max(math.Abs(b-a), 1)
}

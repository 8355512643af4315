package dicomweb

import (
	"bytes"
	"image"
	"image/png"
	"strconv"
	"testing"

	"github.com/suyashkumar/dicom"

	"github.com/telehub/telehub/dicomweb/render"
)

// TestRenderedEndpoint asks TeleHub for /rendered and /thumbnail of every
// fixture and compares the answers with dicomweb/render run on the file.
func TestRenderedEndpoint(t *testing.T) {
	t.Parallel()
	fx := makeFixtures(t)
	h := startHub(t)
	h.stowFiles(t, fx)
	for _, f := range fx {
		ds, err := dicom.ParseFile(f.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		base := "/studies/" + fixtureStudy + "/series/" + f.series + "/instances/" + f.sop
		for _, c := range []struct {
			path  string
			frame int
			opts  render.Options
		}{
			{base + "/rendered", 1, render.Options{}},
			{base + "/frames/" + strconv.Itoa(f.frames) + "/rendered", f.frames, render.Options{}},
			{base + "/rendered?window=100,50,linear", 1, render.Options{WindowCenter: ptr(100.0), WindowWidth: ptr(50.0)}},
		} {
			status, hdr, body := h.get(t, c.path, "image/png")
			if status != 200 {
				t.Errorf("%s %s: %d %s", f.name, c.path, status, clipped(body))
				continue
			}
			if ct := hdr.Get("Content-Type"); ct != "image/png" {
				t.Errorf("%s %s: Content-Type %q", f.name, c.path, ct)
			}
			c.opts.Accept = []string{"image/png"}
			want, _, err := render.Render(&ds, c.frame, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			samePixels(t, f.name+" "+c.path, body, want)
		}
		status, _, body := h.get(t, base+"/thumbnail?viewport=20,20", "image/jpeg")
		if status != 200 {
			t.Errorf("%s thumbnail: %d %s", f.name, status, clipped(body))
			continue
		}
		img, format, err := image.Decode(bytes.NewReader(body))
		if err != nil || format != "jpeg" || max(img.Bounds().Dx(), img.Bounds().Dy()) != 20 {
			t.Errorf("%s thumbnail: %s %v %v", f.name, format, err, img)
		}
	}
}

func samePixels(t *testing.T, what string, got, want []byte) {
	t.Helper()
	a, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Errorf("%s: %v (%d bytes)", what, err, len(got))
		return
	}
	b, err := png.Decode(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if a.Bounds() != b.Bounds() {
		t.Errorf("%s: %v, want %v", what, a.Bounds(), b.Bounds())
		return
	}
	for y := 0; y < a.Bounds().Dy(); y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			if a.At(x, y) != b.At(x, y) {
				t.Errorf("%s: pixel %d,%d is %v, want %v", what, x, y, a.At(x, y), b.At(x, y))
				return
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

package dicomweb

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/telehub/telehub/dicomweb/render"
)

// TestRenderMatchesDCMTK renders every frame of every fixture with
// dicomweb/render and with dcmtk's dcmj2pnm, under the same VOI window
// (the data set's, else min/max), and compares them pixel by pixel.
func TestRenderMatchesDCMTK(t *testing.T) {
	t.Parallel()
	requireTools(t, "dcmj2pnm")
	type file struct {
		name, path string
		lossy      bool
	}
	var files []file
	for _, f := range makeFixtures(t) {
		files = append(files, file{f.name, f.path, f.transferSyntax == tsJPEGBaseline})
	}
	for _, p := range moduleFiles(t) {
		files = append(files, file{"suyashkumar-" + filepath.Base(p), p, false})
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			ds, err := dicom.ParseFile(f.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			frames := 1
			if e, err := ds.FindElementByTag(tag.NumberOfFrames); err == nil {
				frames, _ = strconv.Atoi(dicom.MustGetStrings(e.Value)[0])
			}
			voi := []string{"+Wm"} // min/max, as render does without a window
			if _, err := ds.FindElementByTag(tag.VOILUTSequence); err == nil {
				voi = []string{"+Wl", "1"}
			}
			if _, err := ds.FindElementByTag(tag.WindowCenter); err == nil {
				voi = []string{"+Wi", "1"} // a window wins over a VOI LUT, in render as here
			}
			// dcmtk does not read the window of an enhanced multi-frame
			// image's functional groups: it is given explicitly.
			if c, w, ok := sharedWindow(&ds); ok {
				voi = []string{"+Ww", c, w}
			}
			dir := t.TempDir()
			for fr := 1; fr <= frames; fr++ {
				if fr > 2 && fr < frames {
					continue // first, second and last frames are enough
				}
				body, _, err := render.Render(&ds, fr, render.Options{Accept: []string{"image/png"}})
				if err != nil {
					t.Fatalf("frame %d: %v", fr, err)
				}
				ours, err := png.Decode(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, fmt.Sprintf("f%d.png", fr))
				args := append([]string{"+on", "+F", strconv.Itoa(fr)}, voi...)
				run(t, dir, "dcmj2pnm", append(args, f.path, out)...)
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				theirs, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				// Rounding differs by one level between the two pipelines.
				// JPEG decoders (libijg, image/jpeg) differ by a few more,
				// and upsample 4:2:2 chroma differently (libijg blends
				// neighbours, image/jpeg repeats), which moves colour edges
				// by a pixel: lossy files are compared with a one-pixel slack.
				tol, meanTol, slack := 1.0, 0.6, 0
				if f.lossy {
					tol, meanTol, slack = 6, 2, 1
				}
				compare(t, fr, ours, theirs, tol, meanTol, slack)
			}
		})
	}
}

// compare fails the test when a pixel of ours differs from every pixel of
// theirs within slack columns of it by more than tol, or when the
// differences average more than meanTol.
func compare(t *testing.T, fr int, ours, theirs image.Image, tol, meanTol float64, slack int) {
	t.Helper()
	if ours.Bounds().Size() != theirs.Bounds().Size() {
		t.Fatalf("frame %d: %v, dcmtk %v", fr, ours.Bounds().Size(), theirs.Bounds().Size())
	}
	b := ours.Bounds()
	var worst, sum float64
	var wx, wy int
	n := 0
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r1, g1, b1, _ := ours.At(b.Min.X+x, b.Min.Y+y).RGBA()
			best := 1e9
			for dx := -slack; dx <= slack; dx++ {
				if x+dx < 0 || x+dx >= b.Dx() {
					continue
				}
				r2, g2, b2, _ := theirs.At(x+dx, y).RGBA()
				best = min(best, max(diff(r1, r2), diff(g1, g2), diff(b1, b2)))
			}
			sum += best
			n++
			if best > worst {
				worst, wx, wy = best, x, y
			}
		}
	}
	if mean := sum / float64(n); worst > tol || mean > meanTol {
		r1, g1, b1, _ := ours.At(wx, wy).RGBA()
		r2, g2, b2, _ := theirs.At(wx, wy).RGBA()
		t.Errorf("frame %d: differs from dcmtk by up to %.0f (at %d,%d: %d,%d,%d vs %d,%d,%d), %.2f on average",
			fr, worst, wx, wy, r1>>8, g1>>8, b1>>8, r2>>8, g2>>8, b2>>8, mean)
	}
}

func diff(a, b uint32) float64 {
	d := float64(a>>8) - float64(b>>8)
	if d < 0 {
		return -d
	}
	return d
}

// sharedWindow returns the window of the shared functional groups' Frame
// VOI LUT macro, if the image has one.
func sharedWindow(ds *dicom.Dataset) (center, width string, ok bool) {
	item := func(d []*dicom.Element, t tag.Tag) []*dicom.Element {
		for _, e := range d {
			if e.Tag == t {
				if seq, _ := e.Value.GetValue().([]*dicom.SequenceItemValue); len(seq) > 0 {
					els, _ := seq[0].GetValue().([]*dicom.Element)
					return els
				}
			}
		}
		return nil
	}
	voi := item(item(ds.Elements, tag.SharedFunctionalGroupsSequence), tag.FrameVOILUTSequence)
	for _, e := range voi {
		switch e.Tag {
		case tag.WindowCenter:
			center = dicom.MustGetStrings(e.Value)[0]
		case tag.WindowWidth:
			width = dicom.MustGetStrings(e.Value)[0]
		}
	}
	return strings.TrimSpace(center), strings.TrimSpace(width), center != "" && width != ""
}

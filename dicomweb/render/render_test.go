package render

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"
)

// ramp is a w×h grey ramp whose pixel i holds lo+i*step (stored values).
func ramp(w, h, lo, step int) []int {
	p := make([]int, w*h)
	for i := range p {
		p[i] = lo + i*step
	}
	return p
}

// linear is PS3.3 C.11.2.1.2.1, written out independently of voi.go.
func linear(x, c, w float64) float64 {
	switch {
	case x <= c-0.5-(w-1)/2:
		return 0
	case x > c-0.5+(w-1)/2:
		return 255
	}
	return ((x-(c-0.5))/(w-1) + 0.5) * 255
}

func near(got uint8, want float64, tol float64) bool { return math.Abs(float64(got)-want) <= tol }

func TestGrayWindowing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		s     spec
		opts  Options
		want  func(stored int) float64 // display value of a stored value
		check []int                    // pixel indexes to check
	}{
		{
			name:  "8-bit MONOCHROME2 min/max",
			s:     spec{rows: 4, cols: 16, bits: 8, photometric: "MONOCHROME2", frames: [][]int{ramp(16, 4, 10, 3)}},
			want:  func(v int) float64 { return float64(v-10) / float64(63*3) * 255 },
			check: []int{0, 1, 31, 62, 63},
		},
		{
			name:  "8-bit MONOCHROME1 min/max is inverted",
			s:     spec{rows: 4, cols: 16, bits: 8, photometric: "MONOCHROME1", frames: [][]int{ramp(16, 4, 0, 4)}},
			want:  func(v int) float64 { return 255 - float64(v)/252*255 },
			check: []int{0, 20, 63},
		},
		{
			name:  "16-bit unsigned, request window",
			s:     spec{rows: 8, cols: 32, bits: 16, stored: 12, photometric: "MONOCHROME2", frames: [][]int{ramp(32, 8, 0, 16)}},
			opts:  Options{WindowCenter: f64(2000), WindowWidth: f64(1000)},
			want:  func(v int) float64 { return linear(float64(v), 2000, 1000) },
			check: []int{0, 90, 100, 125, 150, 200, 255},
		},
		{
			name: "16-bit signed CT, rescale and data set window",
			s: spec{rows: 8, cols: 32, bits: 16, stored: 16, signed: true, photometric: "MONOCHROME2",
				slope: "1", inter: "-1024", center: "40", width: "400",
				frames: [][]int{ramp(32, 8, 700, 3)}},
			want:  func(v int) float64 { return linear(float64(v)-1024, 40, 400) },
			check: []int{0, 50, 100, 150, 200, 255},
		},
		{
			name: "signed 12 of 16 bits, garbage above bit 11, slope 2",
			// Stored 0xF000|0xFFF is -1 in 12 bits; the high nibble is overlay
			// noise the renderer must mask off.
			s: spec{rows: 1, cols: 4, bits: 16, stored: 12, signed: true, photometric: "MONOCHROME2",
				slope: "2", inter: "0", frames: [][]int{{0xF000 | 0xFFF, 0x800, 0x7FF, 0}}},
			opts: Options{WindowCenter: f64(0), WindowWidth: f64(8192), WindowFunction: "linear_exact"},
			want: func(v int) float64 {
				v &= 0xFFF
				if v&0x800 != 0 {
					v -= 0x1000
				}
				return (float64(2*v)/8192 + 0.5) * 255
			},
			check: []int{0, 1, 2, 3},
		},
		{
			name: "sigmoid function from the data set",
			s: spec{rows: 1, cols: 6, bits: 8, photometric: "MONOCHROME2", center: "100", width: "50", voiFunction: "SIGMOID",
				frames: [][]int{{0, 75, 100, 125, 140, 255}}},
			want:  func(v int) float64 { return 255 / (1 + math.Exp(-4*(float64(v)-100)/50)) },
			check: []int{0, 1, 2, 3, 4, 5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ds := build(t, tc.s)
			img := renderPNG(t, ds, 1, tc.opts)
			if b := img.Bounds(); b.Dx() != tc.s.cols || b.Dy() != tc.s.rows {
				t.Fatalf("size %v, want %dx%d", b, tc.s.cols, tc.s.rows)
			}
			for _, i := range tc.check {
				x, y := i%tc.s.cols, i/tc.s.cols
				got := grayAt(t, img, x, y)
				want := tc.want(tc.s.frames[0][i])
				if !near(got, want, 1) {
					t.Errorf("pixel %d (stored %d): got %d, want %.1f", i, tc.s.frames[0][i], got, want)
				}
			}
		})
	}
}

// colourBars is a w×1 image of eight bars (black, blue, green, cyan, red,
// magenta, yellow, white), as RGB triples.
func colourBars() [][3]int {
	var bars [][3]int
	for i := 0; i < 8; i++ {
		bars = append(bars, [3]int{255 * (i >> 2 & 1), 255 * (i >> 1 & 1), 255 * (i & 1)})
	}
	return bars
}

// store lays triples out per planar configuration.
func store(px [][3]int, planar int) []int {
	out := make([]int, 0, len(px)*3)
	if planar == 0 {
		for _, p := range px {
			out = append(out, p[0], p[1], p[2])
		}
		return out
	}
	for s := 0; s < 3; s++ {
		for _, p := range px {
			out = append(out, p[s])
		}
	}
	return out
}

// toYBR is the forward YBR_FULL transform (PS3.3 C.7.6.3.1.2).
func toYBR(p [3]int) [3]int {
	r, g, b := float64(p[0]), float64(p[1]), float64(p[2])
	cl := func(v float64) int { return int(math.Round(math.Max(0, math.Min(255, v)))) }
	return [3]int{
		cl(0.299*r + 0.587*g + 0.114*b),
		cl(-0.168736*r - 0.331264*g + 0.5*b + 128),
		cl(0.5*r - 0.418688*g - 0.081312*b + 128),
	}
}

func TestColour(t *testing.T) {
	t.Parallel()
	bars := colourBars()
	ybr := make([][3]int, len(bars))
	for i, p := range bars {
		ybr[i] = toYBR(p)
	}
	wide := make([][3]int, len(bars)) // 16-bit samples, 12 stored
	for i, p := range bars {
		wide[i] = [3]int{p[0] << 4, p[1] << 4, p[2] << 4}
	}
	tests := []struct {
		name string
		s    spec
		tol  float64
	}{
		{"RGB planar 0", spec{photometric: "RGB", bits: 8, frames: [][]int{store(bars, 0)}}, 0},
		{"RGB planar 1", spec{photometric: "RGB", bits: 8, planar: 1, frames: [][]int{store(bars, 1)}}, 0},
		{"RGB 16-bit", spec{photometric: "RGB", bits: 16, stored: 12, frames: [][]int{store(wide, 0)}}, 0},
		{"YBR_FULL planar 0", spec{photometric: "YBR_FULL", bits: 8, frames: [][]int{store(ybr, 0)}}, 2},
		{"YBR_FULL planar 1", spec{photometric: "YBR_FULL", bits: 8, planar: 1, frames: [][]int{store(ybr, 1)}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.s.rows, tc.s.cols, tc.s.samples = 1, len(bars), 3
			img := renderPNG(t, build(t, tc.s), 1, Options{})
			for x, want := range bars {
				got := rgbAt(img, x, 0)
				for c := 0; c < 3; c++ {
					if !near(got[c], float64(want[c]), tc.tol) {
						t.Errorf("bar %d: got %v, want %v", x, got, want)
						break
					}
				}
			}
		})
	}
}

func TestMultiFrame(t *testing.T) {
	t.Parallel()
	// Three frames, each flat at a different level plus one dark and one
	// bright pixel so the min/max window is the same for all.
	var frames [][]int
	for f := 0; f < 3; f++ {
		p := []int{0, 100 * (f + 1), 100 * (f + 1), 400}
		frames = append(frames, p)
	}
	ds := build(t, spec{rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME2", frames: frames})
	for f := 1; f <= 3; f++ {
		img := renderPNG(t, ds, f, Options{WindowCenter: f64(200), WindowWidth: f64(400), WindowFunction: "LINEAR_EXACT"})
		want := (float64(100*f)-200)/400*255 + 127.5
		if got := grayAt(t, img, 1, 0); !near(got, want, 1) {
			t.Errorf("frame %d: got %d, want %.1f", f, got, want)
		}
	}
	for _, f := range []int{0, -1, 4} {
		if _, _, err := Render(ds, f, Options{}); !errors.Is(err, ErrNoFrame) {
			t.Errorf("frame %d: err %v, want ErrNoFrame", f, err)
		}
	}
}

func TestViewport(t *testing.T) {
	t.Parallel()
	// 64×32: left half 0, right half 200, rendered with a fixed window.
	p := make([]int, 64*32)
	for i := range p {
		if i%64 >= 32 {
			p[i] = 200
		}
	}
	ds := build(t, spec{rows: 32, cols: 64, bits: 8, photometric: "MONOCHROME2", frames: [][]int{p}})
	opts := Options{WindowCenter: f64(127.5), WindowWidth: f64(255), WindowFunction: "LINEAR_EXACT"}
	tests := []struct{ vw, vh, w, h int }{
		{16, 16, 16, 8},
		{0, 8, 16, 8},
		{10, 0, 10, 5},
		{128, 128, 128, 64},
		{0, 0, 64, 32},
	}
	for _, tc := range tests {
		o := opts
		o.Viewport.Width, o.Viewport.Height = tc.vw, tc.vh
		img := renderPNG(t, ds, 1, o)
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("viewport %d,%d: size %dx%d, want %dx%d", tc.vw, tc.vh, b.Dx(), b.Dy(), tc.w, tc.h)
			continue
		}
		if got := grayAt(t, img, 0, 0); got != 0 {
			t.Errorf("viewport %d,%d: left %d, want 0", tc.vw, tc.vh, got)
		}
		if got := grayAt(t, img, tc.w-1, tc.h-1); got != 200 {
			t.Errorf("viewport %d,%d: right %d, want 200", tc.vw, tc.vh, got)
		}
	}
	// A box straddling the edge averages both halves.
	o := opts
	o.Viewport.Width = 3
	img := renderPNG(t, ds, 1, o)
	if got := grayAt(t, img, 1, 0); !near(got, 100, 8) {
		t.Errorf("middle of a 3-pixel-wide thumbnail: %d, want about 100", got)
	}
}

func TestNegotiation(t *testing.T) {
	t.Parallel()
	ds := build(t, spec{rows: 8, cols: 8, bits: 8, photometric: "MONOCHROME2", frames: [][]int{ramp(8, 8, 0, 4)}})
	tests := []struct {
		accept []string
		want   string
		err    error
	}{
		{nil, "image/jpeg", nil},
		{[]string{"image/png"}, "image/png", nil},
		{[]string{"image/gif", "image/png"}, "image/png", nil},
		{[]string{"image/png;q=0", "image/jpeg"}, "image/jpeg", nil},
		{[]string{"text/html, image/*"}, "image/jpeg", nil},
		{[]string{"*/*"}, "image/jpeg", nil},
		{[]string{"IMAGE/PNG; charset=x"}, "image/png", nil},
		{[]string{"image/gif"}, "", ErrNotAcceptable},
		{[]string{"application/dicom"}, "", ErrNotAcceptable},
		{[]string{"image/jpeg;q=0.0"}, "", ErrNotAcceptable},
	}
	for _, tc := range tests {
		body, mt, err := Render(ds, 1, Options{Accept: tc.accept})
		if !errors.Is(err, tc.err) || mt != tc.want {
			t.Errorf("Accept %q: %q, %v; want %q, %v", tc.accept, mt, err, tc.want, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if _, format, err := image.Decode(bytes.NewReader(body)); err != nil || "image/"+format != mt {
			t.Errorf("Accept %q: body is %q (%v), want %s", tc.accept, format, err, mt)
		}
	}
}

func TestJPEGOutput(t *testing.T) {
	t.Parallel()
	ds := build(t, spec{rows: 16, cols: 16, bits: 8, photometric: "MONOCHROME2", frames: [][]int{ramp(16, 16, 0, 1)}})
	small, _, err := Render(ds, 1, Options{Quality: 10})
	if err != nil {
		t.Fatal(err)
	}
	big, _, err := Render(ds, 1, Options{Quality: 100})
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	// min/max window: the last pixel (255) is white, the first black.
	if g := color.GrayModel.Convert(img.At(15, 15)).(color.Gray).Y; g < 245 {
		t.Errorf("last pixel %d, want white", g)
	}
	if g := color.GrayModel.Convert(img.At(0, 0)).(color.Gray).Y; g > 10 {
		t.Errorf("first pixel %d, want black", g)
	}
	if len(small) >= len(big) {
		t.Errorf("quality 10 gave %d bytes, quality 100 %d: quality is not applied", len(small), len(big))
	}
}

// jpegOf encodes img as a baseline JPEG, as a modality's encoder would.
func jpegOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEncapsulatedJPEG(t *testing.T) {
	t.Parallel()
	gray := func(level uint8) image.Image {
		g := image.NewGray(image.Rect(0, 0, 16, 8))
		for i := range g.Pix {
			g.Pix[i] = level
		}
		g.Pix[0] = 0
		g.Pix[len(g.Pix)-1] = 255
		return g
	}
	const baseline = "1.2.840.10008.1.2.4.50"
	ds := build(t, spec{rows: 8, cols: 16, bits: 8, photometric: "MONOCHROME2", transferSyntax: baseline,
		encapsulated: [][]byte{jpegOf(t, gray(60)), jpegOf(t, gray(180))}})
	for f, level := range []float64{60, 180} {
		img := renderPNG(t, ds, f+1, Options{WindowCenter: f64(127.5), WindowWidth: f64(255), WindowFunction: "LINEAR_EXACT"})
		if got := grayAt(t, img, 8, 4); !near(got, level, 3) {
			t.Errorf("frame %d: %d, want about %.0f", f+1, got, level)
		}
	}
	if _, _, err := Render(ds, 3, Options{}); !errors.Is(err, ErrNoFrame) {
		t.Errorf("frame 3 of 2: %v, want ErrNoFrame", err)
	}

	rgb := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(rgb.Pix); i += 4 {
		copy(rgb.Pix[i:], []uint8{200, 40, 90, 255})
	}
	colour := build(t, spec{rows: 16, cols: 16, bits: 8, samples: 3, photometric: "YBR_FULL_422", transferSyntax: baseline,
		encapsulated: [][]byte{jpegOf(t, rgb)}})
	img := renderPNG(t, colour, 1, Options{})
	got := rgbAt(img, 8, 8)
	for c, want := range []float64{200, 40, 90} {
		if !near(got[c], want, 4) {
			t.Errorf("colour JPEG: %v, want about [200 40 90]", got)
			break
		}
	}
}

// A JPEG whose header makes decoders assume YCbCr while the DICOM header
// says RGB (no colour transform): the components must be taken as R, G, B.
func TestJPEGWithoutColourTransform(t *testing.T) {
	t.Parallel()
	planes := image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio444)
	for i := range planes.Y {
		planes.Y[i], planes.Cb[i], planes.Cr[i] = 200, 40, 90 // R, G, B
	}
	ds := build(t, spec{rows: 16, cols: 16, bits: 8, samples: 3, photometric: "RGB",
		transferSyntax: "1.2.840.10008.1.2.4.50", encapsulated: [][]byte{jpegOf(t, planes)}})
	got := rgbAt(renderPNG(t, ds, 1, Options{}), 8, 8)
	for c, want := range []float64{200, 40, 90} {
		if !near(got[c], want, 3) {
			t.Fatalf("got %v, want about [200 40 90]", got)
		}
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	gray := spec{rows: 4, cols: 4, bits: 8, photometric: "MONOCHROME2", frames: [][]int{ramp(4, 4, 0, 1)}}
	with := func(f func(*spec)) spec { s := gray; f(&s); return s }
	tests := []struct {
		name string
		s    spec
		opts Options
		err  error
	}{
		{"window width 0", gray, Options{WindowCenter: f64(1), WindowWidth: f64(0)}, ErrInvalid},
		{"LINEAR width 0.5", gray, Options{WindowCenter: f64(1), WindowWidth: f64(0.5)}, ErrInvalid},
		{"center without width", gray, Options{WindowCenter: f64(1)}, ErrInvalid},
		{"unknown function", gray, Options{WindowCenter: f64(1), WindowWidth: f64(9), WindowFunction: "CUBIC"}, ErrInvalid},
		{"quality 101", gray, Options{Quality: 101}, ErrInvalid},
		{"quality -1", gray, Options{Quality: -1}, ErrInvalid},
		{"negative viewport", gray, Options{Viewport: struct{ Width, Height int }{-1, 5}}, ErrInvalid},
		{"huge viewport", gray, Options{Viewport: struct{ Width, Height int }{1 << 20, 5}}, ErrInvalid},
		{"PALETTE COLOR without tables", with(func(s *spec) { s.photometric = "PALETTE COLOR" }), Options{}, ErrUnsupported},
		{"no pixel data", with(func(s *spec) { s.skipPixelData = true }), Options{}, ErrUnsupported},
		{"JPEG 2000", spec{rows: 4, cols: 4, bits: 8, photometric: "MONOCHROME2", transferSyntax: "1.2.840.10008.1.2.4.90",
			encapsulated: [][]byte{{0xff, 0x4f, 0xff, 0x51}}}, Options{}, ErrUnsupported},
		{"corrupt JPEG", spec{rows: 4, cols: 4, bits: 8, photometric: "MONOCHROME2", transferSyntax: "1.2.840.10008.1.2.4.50",
			encapsulated: [][]byte{{0xff, 0xd8, 0xff, 0x00}}}, Options{}, ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Render(build(t, tc.s), 1, tc.opts)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
		})
	}
	if _, _, err := Render(nil, 1, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("nil data set: %v", err)
	}
}

func TestParseWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		c, w     float64
		function string
		ok       bool
	}{
		{"40,400", 40, 400, "", true},
		{"-600, 1500 ,linear_exact", -600, 1500, "LINEAR_EXACT", true},
		{"0,0.5,SIGMOID", 0, 0.5, "SIGMOID", true},
		{"0,0.5", 0, 0, "", false},
		{"40", 0, 0, "", false},
		{"a,400", 0, 0, "", false},
		{"40,400,cubic", 0, 0, "", false},
		{"40,400,LINEAR,x", 0, 0, "", false},
		{"40,-1,SIGMOID", 0, 0, "", false},
		{"NaN,400", 0, 0, "", false},
	}
	for _, tc := range tests {
		c, w, f, err := ParseWindow(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseWindow(%q): err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseWindow(%q): err %v is not ErrInvalid", tc.in, err)
			}
			continue
		}
		if c != tc.c || w != tc.w || f != tc.function {
			t.Errorf("ParseWindow(%q) = %v, %v, %q; want %v, %v, %q", tc.in, c, w, f, tc.c, tc.w, tc.function)
		}
	}
}

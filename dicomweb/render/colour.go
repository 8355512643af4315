package render

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// nativeColour converts RGB or YBR_FULL samples, in either planar
// configuration, to 8-bit RGB.
func nativeColour(data [][]int, in imageInfo) (*image.RGBA, error) {
	n := len(data)
	// The parser hands out samples as if interleaved; flatten them back to
	// the stored order so both planar configurations read from one buffer.
	flat := make([]int, 0, n*3)
	for _, px := range data {
		if len(px) != 3 {
			return nil, fmt.Errorf("%w: colour pixel with %d samples", ErrUnsupported, len(px))
		}
		flat = append(flat, px...)
	}
	shift := max(in.bitsStored-8, 0)
	mask := 1<<in.bitsStored - 1
	sample := func(p, s int) int {
		var v int
		if in.planar == 1 {
			v = flat[s*n+p]
		} else {
			v = flat[p*3+s]
		}
		return (v & mask) >> shift
	}
	out := image.NewRGBA(image.Rect(0, 0, in.cols, in.rows))
	for p := 0; p < n; p++ {
		a, b, c := sample(p, 0), sample(p, 1), sample(p, 2)
		var px color.RGBA
		if in.photometric == "YBR_FULL" {
			px = ybrFull(a, b, c)
		} else {
			px = color.RGBA{uint8(a), uint8(b), uint8(c), 255}
		}
		copy(out.Pix[p*4:], []uint8{px.R, px.G, px.B, 255})
	}
	return out, nil
}

// ybrFull converts a YBR_FULL triple (PS3.3 C.7.6.3.1.2) to RGB.
func ybrFull(y, cb, cr int) color.RGBA {
	fy, fcb, fcr := float64(y), float64(cb)-128, float64(cr)-128
	clamp := func(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(255, v)))) }
	return color.RGBA{
		R: clamp(fy + 1.402*fcr),
		G: clamp(fy - 0.344136*fcb - 0.714136*fcr),
		B: clamp(fy + 1.772*fcb),
		A: 255,
	}
}

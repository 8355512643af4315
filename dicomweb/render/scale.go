package render

import "image"

// fitViewport scales img to fit inside vw×vh, keeping its aspect ratio; a
// zero dimension is free. Downscaling averages the source pixels each
// output pixel covers (a box filter, so thumbnails do not alias); upscaling
// repeats pixels, which keeps a radiologist's pixels visible as pixels.
func fitViewport(img image.Image, vw, vh int) image.Image {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if (vw == 0 && vh == 0) || sw == 0 || sh == 0 {
		return img
	}
	dw, dh := fitSize(sw, sh, vw, vh)
	if dw == sw && dh == sh {
		return img
	}
	switch m := img.(type) {
	case *image.Gray:
		out := image.NewGray(image.Rect(0, 0, dw, dh))
		resample(m.Pix, m.Stride, 1, sw, sh, out.Pix, out.Stride, dw, dh)
		return out
	case *image.RGBA:
		out := image.NewRGBA(image.Rect(0, 0, dw, dh))
		resample(m.Pix, m.Stride, 4, sw, sh, out.Pix, out.Stride, dw, dh)
		return out
	}
	return img
}

// fitSize is the largest size with the source's aspect ratio that fits the
// viewport, at least one pixel each way.
func fitSize(sw, sh, vw, vh int) (int, int) {
	var dw, dh int
	switch {
	case vw == 0:
		dh, dw = vh, sw*vh/sh
	case vh == 0:
		dw, dh = vw, sh*vw/sw
	case sw*vh <= sh*vw: // the height binds
		dh, dw = vh, sw*vh/sh
	default:
		dw, dh = vw, sh*vw/sw
	}
	return max(dw, 1), max(dh, 1)
}

// resample maps the source box [x0,x1)×[y0,y1) of each output pixel to
// the mean of its samples, channel by channel.
func resample(src []uint8, sstride, ch, sw, sh int, dst []uint8, dstride, dw, dh int) {
	sum := make([]int, ch)
	for oy := 0; oy < dh; oy++ {
		y0 := oy * sh / dh
		y1 := max((oy+1)*sh/dh, y0+1)
		for ox := 0; ox < dw; ox++ {
			x0 := ox * sw / dw
			x1 := max((ox+1)*sw/dw, x0+1)
			clear(sum)
			for y := y0; y < y1; y++ {
				row := src[y*sstride:]
				for x := x0; x < x1; x++ {
					for c := 0; c < ch; c++ {
						sum[c] += int(row[x*ch+c])
					}
				}
			}
			n := (y1 - y0) * (x1 - x0)
			o := oy*dstride + ox*ch
			for c := 0; c < ch; c++ {
				dst[o+c] = uint8((sum[c] + n/2) / n)
			}
		}
	}
}

package render

import (
	"fmt"
	"image"
	"math"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// decodeFrame returns frame (1-based) of ds as an 8-bit *image.Gray or
// *image.RGBA ready for display.
func decodeFrame(ds *dicom.Dataset, in imageInfo, frame int, opts Options) (image.Image, error) {
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil || e.Value == nil {
		return nil, fmt.Errorf("%w: the instance has no pixel data", ErrUnsupported)
	}
	pd, ok := e.Value.GetValue().(dicom.PixelDataInfo)
	if !ok {
		return nil, fmt.Errorf("%w: pixel data of an unexpected form", ErrUnsupported)
	}
	if pd.IntentionallySkipped || pd.IntentionallyUnprocessed || pd.ParseErr != nil {
		return nil, fmt.Errorf("%w: pixel data was not parsed", ErrUnsupported)
	}
	if pd.IsEncapsulated {
		data, err := encapsulatedFrame(pd, in, frame)
		if err != nil {
			return nil, err
		}
		return decodeJPEG(data, in, opts)
	}
	if frame < 1 || frame > len(pd.Frames) {
		return nil, fmt.Errorf("%w: frame %d of %d", ErrNoFrame, frame, len(pd.Frames))
	}
	nf := pd.Frames[frame-1].NativeData
	if nf.Rows != in.rows || nf.Cols != in.cols || len(nf.Data) != in.rows*in.cols {
		return nil, fmt.Errorf("%w: frame of %dx%d pixels in an image of %dx%d", ErrUnsupported, nf.Cols, nf.Rows, in.cols, in.rows)
	}
	switch in.photometric {
	case "MONOCHROME1", "MONOCHROME2":
		if in.samples != 1 {
			return nil, fmt.Errorf("%w: %s with %d samples per pixel", ErrUnsupported, in.photometric, in.samples)
		}
		return renderGray(nativeGray(nf.Data, in), in, opts)
	case "PALETTE COLOR":
		if in.samples != 1 {
			return nil, fmt.Errorf("%w: %s with %d samples per pixel", ErrUnsupported, in.photometric, in.samples)
		}
		p, err := readPalette(ds)
		if err != nil {
			return nil, err
		}
		return p.apply(nativeGray(nf.Data, in)), nil
	case "RGB", "YBR_FULL":
		if in.samples != 3 {
			return nil, fmt.Errorf("%w: %s with %d samples per pixel", ErrUnsupported, in.photometric, in.samples)
		}
		return nativeColour(nf.Data, in)
	default:
		return nil, fmt.Errorf("%w: photometric interpretation %s", ErrUnsupported, in.photometric)
	}
}

// grayFrame is one frame of single-sample pixels, already masked to Bits
// Stored and sign-extended.
type grayFrame struct {
	w, h int
	pix  []int
}

func nativeGray(data [][]int, in imageInfo) grayFrame {
	g := grayFrame{w: in.cols, h: in.rows, pix: make([]int, len(data))}
	mask := 1<<in.bitsStored - 1
	sign := 1 << (in.bitsStored - 1)
	for i, px := range data {
		v := 0
		if len(px) > 0 {
			v = px[0] & mask
		}
		if in.signed && v&sign != 0 {
			v -= 1 << in.bitsStored
		}
		g.pix[i] = v
	}
	return g
}

// renderGray applies the modality LUT, the VOI transformation and the
// MONOCHROME1 inversion.
func renderGray(g grayFrame, in imageInfo, opts Options) (*image.Gray, error) {
	w := pickVOI(g, in, opts)
	out := image.NewGray(image.Rect(0, 0, g.w, g.h))
	// Stored values span at most 2^16 codes for the images met in practice,
	// so a LUT over the frame's range replaces a float pipeline per pixel.
	lo, hi := minMax(g.pix)
	if hi-lo < 1<<20 {
		lut := make([]uint8, hi-lo+1)
		for i := range lut {
			lut[i] = display(float64(lo+i)*in.slope+in.intercept, w, in.photometric)
		}
		for i, v := range g.pix {
			out.Pix[i] = lut[v-lo]
		}
		return out, nil
	}
	for i, v := range g.pix {
		out.Pix[i] = display(float64(v)*in.slope+in.intercept, w, in.photometric)
	}
	return out, nil
}

// voiTransform maps a modality value to an 8-bit display value: a window
// or a VOI LUT.
type voiTransform interface{ apply(x float64) uint8 }

func display(x float64, w voiTransform, photometric string) uint8 {
	y := w.apply(x)
	if photometric == "MONOCHROME1" {
		return 255 - y
	}
	return y
}

// pickVOI chooses the request's window, else the data set's window, else
// its VOI LUT, else the frame's min/max after rescale.
func pickVOI(g grayFrame, in imageInfo, opts Options) voiTransform {
	if opts.WindowCenter != nil && opts.WindowWidth != nil {
		f := opts.WindowFunction
		if f == "" {
			f = in.voiFunction
		}
		return window{center: *opts.WindowCenter, width: *opts.WindowWidth, function: f}
	}
	if in.window != nil {
		return *in.window
	}
	if in.voiLUT != nil {
		return in.voiLUT
	}
	lo, hi := minMax(g.pix)
	a := float64(lo)*in.slope + in.intercept
	b := float64(hi)*in.slope + in.intercept
	return minMaxWindow(math.Min(a, b), math.Max(a, b))
}

func minMax(pix []int) (lo, hi int) {
	if len(pix) == 0 {
		return 0, 0
	}
	lo, hi = pix[0], pix[0]
	for _, v := range pix[1:] {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}

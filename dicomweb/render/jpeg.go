package render

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/suyashkumar/dicom"
)

// JPEG transfer syntaxes image/jpeg decodes: baseline (8-bit) and extended
// (when the stream is 8-bit; 12-bit streams fail in the decoder).
const (
	tsJPEGBaseline = "1.2.840.10008.1.2.4.50"
	tsJPEGExtended = "1.2.840.10008.1.2.4.51"
)

// encapsulatedFrame returns the compressed bytes of frame (1-based). The
// parser gives one entry per fragment: with as many fragments as frames each
// is a frame; a single-frame image may be split over several fragments.
func encapsulatedFrame(pd dicom.PixelDataInfo, in imageInfo, frame int) ([]byte, error) {
	if in.transferSyntax != tsJPEGBaseline && in.transferSyntax != tsJPEGExtended {
		return nil, fmt.Errorf("%w: transfer syntax %s (only JPEG baseline is decoded)", ErrUnsupported, in.transferSyntax)
	}
	if frame < 1 || frame > in.frames {
		return nil, fmt.Errorf("%w: frame %d of %d", ErrNoFrame, frame, in.frames)
	}
	switch {
	case len(pd.Frames) == in.frames:
		return pd.Frames[frame-1].EncapsulatedData.Data, nil
	case in.frames == 1:
		var b []byte
		for _, f := range pd.Frames {
			b = append(b, f.EncapsulatedData.Data...)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("%w: %d fragments for %d frames", ErrUnsupported, len(pd.Frames), in.frames)
	}
}

// decodeJPEG decodes a JPEG frame. Grey frames go through the same modality
// and VOI pipeline as native ones; colour frames come out as RGB.
func decodeJPEG(data []byte, in imageInfo, opts Options) (image.Image, error) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: JPEG frame: %v", ErrUnsupported, err)
	}
	b := img.Bounds()
	if b.Dx() != in.cols || b.Dy() != in.rows {
		return nil, fmt.Errorf("%w: JPEG frame of %dx%d pixels in an image of %dx%d", ErrUnsupported, b.Dx(), b.Dy(), in.cols, in.rows)
	}
	switch m := img.(type) {
	case *image.Gray:
		g := grayFrame{w: b.Dx(), h: b.Dy(), pix: make([]int, b.Dx()*b.Dy())}
		for y := 0; y < g.h; y++ {
			for x := 0; x < g.w; x++ {
				g.pix[y*g.w+x] = int(m.Pix[y*m.Stride+x])
			}
		}
		in.bitsStored, in.signed = 8, false
		return renderGray(g, in, opts)
	case *image.YCbCr:
		if in.photometric == "RGB" {
			// The DICOM header says the components are R, G, B with no colour
			// transform, whatever the JPEG markers led the decoder to think.
			return planesAsRGB(m), nil
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out, nil
}

func planesAsRGB(m *image.YCbCr) *image.RGBA {
	b := m.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			o := out.PixOffset(x-b.Min.X, y-b.Min.Y)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = m.Y[yi], m.Cb[ci], m.Cr[ci], 255
		}
	}
	return out
}

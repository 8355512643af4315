package render

import (
	"bytes"
	"image"
	"image/png"
	"strconv"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// spec describes a synthetic image; frames hold stored sample values in the
// order they are stored (per planar configuration), one slice per frame.
type spec struct {
	rows, cols     int
	bits, stored   int
	signed         bool
	samples        int
	photometric    string
	planar         int
	slope, inter   string
	center, width  string
	voiFunction    string
	frames         [][]int
	encapsulated   [][]byte // JPEG frames instead of native ones
	transferSyntax string
	skipPixelData  bool
	extra          []*dicom.Element // written before the pixel data
}

// build writes the spec as a DICOM Part 10 file and parses it back, so the
// tests exercise the same parser the server uses.
func build(t testing.TB, s spec) *dicom.Dataset {
	t.Helper()
	if s.samples == 0 {
		s.samples = 1
	}
	if s.stored == 0 {
		s.stored = s.bits
	}
	if s.transferSyntax == "" {
		s.transferSyntax = uid.ExplicitVRLittleEndian
	}
	nframes := len(s.frames)
	if s.encapsulated != nil {
		nframes = len(s.encapsulated)
	}
	el := func(tg tag.Tag, v any) *dicom.Element {
		e, err := dicom.NewElement(tg, v)
		if err != nil {
			t.Fatalf("element %v: %v", tg, err)
		}
		return e
	}
	pr := 0
	if s.signed {
		pr = 1
	}
	elems := []*dicom.Element{
		el(tag.MediaStorageSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.7"}),
		el(tag.MediaStorageSOPInstanceUID, []string{"1.2.3.4.5"}),
		el(tag.TransferSyntaxUID, []string{s.transferSyntax}),
		el(tag.SOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.7"}),
		el(tag.SOPInstanceUID, []string{"1.2.3.4.5"}),
		el(tag.SamplesPerPixel, []int{s.samples}),
		el(tag.PhotometricInterpretation, []string{s.photometric}),
	}
	if s.samples > 1 {
		elems = append(elems, el(tag.PlanarConfiguration, []int{s.planar}))
	}
	if nframes > 1 {
		elems = append(elems, el(tag.NumberOfFrames, []string{strconv.Itoa(nframes)}))
	}
	elems = append(elems,
		el(tag.Rows, []int{s.rows}),
		el(tag.Columns, []int{s.cols}),
		el(tag.BitsAllocated, []int{s.bits}),
		el(tag.BitsStored, []int{s.stored}),
		el(tag.HighBit, []int{s.stored - 1}),
		el(tag.PixelRepresentation, []int{pr}),
	)
	if s.center != "" {
		elems = append(elems, el(tag.WindowCenter, []string{s.center}), el(tag.WindowWidth, []string{s.width}))
	}
	if s.slope != "" {
		elems = append(elems, el(tag.RescaleIntercept, []string{s.inter}), el(tag.RescaleSlope, []string{s.slope}))
	}
	if s.voiFunction != "" {
		elems = append(elems, el(tag.VOILUTFunction, []string{s.voiFunction}))
	}
	elems = append(elems, s.extra...)
	elems = append(elems, s.extra...)
	if !s.skipPixelData {
		var pd dicom.PixelDataInfo
		if s.encapsulated != nil {
			pd.IsEncapsulated = true
			for _, b := range s.encapsulated {
				if len(b)%2 == 1 {
					b = append(b, 0) // fragments have even lengths; decoders stop at EOI
				}
				pd.Frames = append(pd.Frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: b}})
			}
		} else {
			for _, f := range s.frames {
				nf := frame.NativeFrame{Rows: s.rows, Cols: s.cols, BitsPerSample: s.bits}
				for p := 0; p < s.rows*s.cols; p++ {
					nf.Data = append(nf.Data, f[p*s.samples:(p+1)*s.samples])
				}
				pd.Frames = append(pd.Frames, &frame.Frame{NativeData: nf})
			}
		}
		e := el(tag.PixelData, pd)
		if s.bits > 8 && !pd.IsEncapsulated {
			e.RawValueRepresentation = "OW"
		} else {
			e.RawValueRepresentation = "OB"
		}
		if pd.IsEncapsulated {
			e.ValueLength = tag.VLUndefinedLength
		}
		elems = append(elems, e)
	}
	var buf bytes.Buffer
	if err := dicom.Write(&buf, dicom.Dataset{Elements: elems}, dicom.SkipVRVerification()); err != nil {
		t.Fatalf("write: %v", err)
	}
	ds, err := dicom.Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &ds
}

// renderPNG renders to PNG (lossless, so pixel values can be compared).
func renderPNG(t *testing.T, ds *dicom.Dataset, frameNo int, opts Options) image.Image {
	t.Helper()
	opts.Accept = []string{"image/png"}
	body, mt, err := Render(ds, frameNo, opts)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if mt != "image/png" {
		t.Fatalf("media type %q, want image/png", mt)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	return img
}

func grayAt(t *testing.T, img image.Image, x, y int) uint8 {
	t.Helper()
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("image is %T, want *image.Gray", img)
	}
	return g.GrayAt(x, y).Y
}

func rgbAt(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

func f64(v float64) *float64 { return &v }

// elem makes an element or fails the test.
func elem(t testing.TB, tg tag.Tag, v any) *dicom.Element {
	t.Helper()
	e, err := dicom.NewElement(tg, v)
	if err != nil {
		t.Fatalf("element %v: %v", tg, err)
	}
	return e
}

package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// imageInfo is what the Image Pixel module (PS3.3 C.7.6.3) and its
// neighbours say about how to read and display the pixel data.
type imageInfo struct {
	rows, cols     int
	samples        int // samples per pixel
	bitsAllocated  int
	bitsStored     int
	signed         bool // Pixel Representation 1: two's complement
	photometric    string
	planar         int // 0: R1G1B1 R2G2B2 …, 1: RRR… GGG… BBB…
	frames         int
	transferSyntax string
	slope          float64
	intercept      float64
	// window is the data set's first VOI window, if it has one.
	window      *window
	voiLUT      *voiLUT // the data set's first VOI LUT, used without a window
	voiFunction string
}

func readInfo(ds *dicom.Dataset) (imageInfo, error) {
	in := imageInfo{samples: 1, slope: 1, frames: 1, photometric: "MONOCHROME2"}
	var err error
	if in.rows, err = intOf(ds, tag.Rows); err != nil {
		return in, err
	}
	if in.cols, err = intOf(ds, tag.Columns); err != nil {
		return in, err
	}
	if in.rows <= 0 || in.cols <= 0 {
		return in, fmt.Errorf("%w: image of %dx%d pixels", ErrUnsupported, in.cols, in.rows)
	}
	if in.bitsAllocated, err = intOf(ds, tag.BitsAllocated); err != nil {
		return in, err
	}
	switch in.bitsAllocated {
	case 1, 8, 16, 32:
	default:
		return in, fmt.Errorf("%w: Bits Allocated %d", ErrUnsupported, in.bitsAllocated)
	}
	in.bitsStored = in.bitsAllocated
	if v, err := intOf(ds, tag.BitsStored); err == nil && v > 0 && v <= in.bitsAllocated {
		in.bitsStored = v
	}
	if v, err := intOf(ds, tag.SamplesPerPixel); err == nil {
		in.samples = v
	}
	if v, err := intOf(ds, tag.PixelRepresentation); err == nil {
		in.signed = v == 1
	}
	if v, err := intOf(ds, tag.PlanarConfiguration); err == nil {
		in.planar = v
	}
	if v, err := intOf(ds, tag.NumberOfFrames); err == nil && v > 0 {
		in.frames = v
	}
	if s := stringOf(ds, tag.PhotometricInterpretation); s != "" {
		in.photometric = strings.ToUpper(s)
	}
	in.transferSyntax = stringOf(ds, tag.TransferSyntaxUID)
	if v, ok := floatOf(ds, tag.RescaleSlope); ok && v != 0 {
		in.slope = v
	}
	if v, ok := floatOf(ds, tag.RescaleIntercept); ok {
		in.intercept = v
	}
	in.voiFunction = "LINEAR"
	in.readVOI(ds)
	if luts := items(ds, tag.VOILUTSequence); len(luts) > 0 {
		in.voiLUT = readVOILUT(luts[0], in.signed)
	}
	return in, nil
}

// readVOI takes the VOI window and function of ds, when it has them.
func (in *imageInfo) readVOI(ds *dicom.Dataset) {
	if f := strings.ToUpper(stringOf(ds, tag.VOILUTFunction)); voiFunctions[f] {
		in.voiFunction = f
		if in.window != nil {
			in.window.function = f
		}
	}
	c, okC := floatOf(ds, tag.WindowCenter)
	w, okW := floatOf(ds, tag.WindowWidth)
	// A data set's window that the function cannot use is ignored rather
	// than refused: the min/max window still shows the image.
	if okC && okW && checkWidth(w, in.voiFunction) == nil {
		in.window = &window{center: c, width: w, function: in.voiFunction}
	}
}

// forFrame applies the functional groups of an enhanced multi-frame image
// (PS3.3 C.7.6.16) to frame (1-based): the Pixel Value Transformation
// (rescale) and Frame VOI LUT (window) macros of the shared groups, then
// those of the frame's own groups, which take precedence over both the
// shared ones and the top-level attributes.
func (in *imageInfo) forFrame(ds *dicom.Dataset, frame int) {
	var groups []*dicom.Dataset
	if shared := items(ds, tag.SharedFunctionalGroupsSequence); len(shared) > 0 {
		groups = append(groups, shared[0])
	}
	if perFrame := items(ds, tag.PerFrameFunctionalGroupsSequence); frame >= 1 && frame <= len(perFrame) {
		groups = append(groups, perFrame[frame-1])
	}
	for _, g := range groups {
		if pvt := items(g, tag.PixelValueTransformationSequence); len(pvt) > 0 {
			if v, ok := floatOf(pvt[0], tag.RescaleSlope); ok && v != 0 {
				in.slope = v
			}
			if v, ok := floatOf(pvt[0], tag.RescaleIntercept); ok {
				in.intercept = v
			}
		}
		if voi := items(g, tag.FrameVOILUTSequence); len(voi) > 0 {
			in.readVOI(voi[0])
		}
	}
}

// items returns the items of sequence t in ds, each as a data set.
func items(ds *dicom.Dataset, t tag.Tag) []*dicom.Dataset {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	seq, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	out := make([]*dicom.Dataset, 0, len(seq))
	for _, it := range seq {
		if els, ok := it.GetValue().([]*dicom.Element); ok {
			out = append(out, &dicom.Dataset{Elements: els})
		}
	}
	return out
}

// intOf reads the first value of an integer element (US, SS, UL, SL) or an
// integer string (IS).
func intOf(ds *dicom.Dataset, t tag.Tag) (int, error) {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return 0, fmt.Errorf("%w: no %s element", ErrUnsupported, tagName(t))
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		if len(v) > 0 {
			return v[0], nil
		}
	case []string:
		if len(v) > 0 {
			n, err := strconv.Atoi(strings.TrimSpace(v[0]))
			if err != nil {
				return 0, fmt.Errorf("%w: %s %q is not an integer", ErrUnsupported, tagName(t), v[0])
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: empty %s element", ErrUnsupported, tagName(t))
}

// floatOf reads the first value of a decimal string (DS) or float element.
func floatOf(ds *dicom.Dataset, t tag.Tag) (float64, bool) {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return 0, false
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		if len(v) > 0 {
			// DS values may be multi-valued in one string ("40\400").
			s := strings.TrimSpace(strings.SplitN(v[0], `\`, 2)[0])
			f, err := strconv.ParseFloat(s, 64)
			return f, err == nil
		}
	case []float64:
		if len(v) > 0 {
			return v[0], true
		}
	case []int:
		if len(v) > 0 {
			return float64(v[0]), true
		}
	}
	return 0, false
}

func stringOf(ds *dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return ""
	}
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return strings.TrimRight(strings.TrimSpace(v[0]), "\x00")
	}
	return ""
}

func tagName(t tag.Tag) string {
	if info, err := tag.Find(t); err == nil {
		return info.Name
	}
	return t.String()
}

// Package render turns one frame of a DICOM instance into a consumer image
// (JPEG or PNG) for the WADO-RS /rendered and /thumbnail resources.
//
// It follows the DICOM display pipeline (PS3.3 C.11, PS3.4 N.2) for the
// images a tele-radiology viewer meets: stored values are masked to Bits
// Stored and sign-extended, mapped through Rescale Slope/Intercept (the
// modality LUT), through the VOI transformation (the request's window, else
// the data set's Window Center/Width, else its VOI LUT Sequence, else the
// frame's min/max) and inverted for MONOCHROME1. Enhanced multi-frame
// images take their rescale and window from the frame's functional groups.
// Colour images (RGB and YBR_FULL in either planar configuration, PALETTE
// COLOR through its lookup tables) come out as 8-bit RGB. Encapsulated JPEG
// baseline frames are decoded with image/jpeg. What it cannot render
// faithfully (JPEG lossless, JPEG 2000 and RLE frames, segmented palettes,
// native YBR_*_422) is refused with ErrUnsupported rather than shown wrong;
// a Modality LUT Sequence is ignored (rare outside ultrasound).
//
// The package has no state and does no I/O: callers parse the instance with
// github.com/suyashkumar/dicom and write the returned bytes.
package render

import (
	"errors"
	"fmt"
	"strings"

	"github.com/suyashkumar/dicom"
)

// ErrNotAcceptable is returned when none of the requested media types can be
// produced (HTTP 406).
var ErrNotAcceptable = errors.New("render: none of the accepted media types can be produced (image/jpeg, image/png)")

// ErrUnsupported is returned for pixel data this package cannot render
// faithfully: compressed transfer syntaxes other than JPEG baseline/extended
// 8-bit, segmented palettes, native YBR_*_422, missing or unparsed pixel
// data.
var ErrUnsupported = errors.New("render: pixel data not renderable")

// ErrNoFrame is returned when the requested frame does not exist (HTTP 404).
var ErrNoFrame = errors.New("render: no such frame")

// ErrInvalid is returned for bad rendering parameters (HTTP 400): a window
// width that is not positive, a negative viewport, a quality outside 1..100.
var ErrInvalid = errors.New("render: invalid rendering parameter")

// Options says how to render a frame.
type Options struct {
	// Accept lists media types in preference order ("image/jpeg",
	// "image/png", "image/*", "*/*"; parameters are ignored, q=0 excludes).
	// Empty means image/jpeg.
	Accept []string
	// WindowCenter and WindowWidth override the data set's VOI window; both
	// must be set for the override to apply.
	WindowCenter, WindowWidth *float64
	// WindowFunction is LINEAR (the default), LINEAR_EXACT or SIGMOID; empty
	// uses the data set's VOI LUT Function, else LINEAR.
	WindowFunction string
	// Viewport is the box the image is scaled to fit, keeping its aspect
	// ratio; a zero dimension is free (0,0 keeps the native size).
	Viewport struct{ Width, Height int }
	// Quality is the JPEG quality, 1..100; 0 means 90.
	Quality int
}

// Render renders frame (1-based) of ds and returns the encoded image and its
// media type.
func Render(ds *dicom.Dataset, frame int, opts Options) (body []byte, mediaType string, err error) {
	if ds == nil {
		return nil, "", fmt.Errorf("%w: no data set", ErrUnsupported)
	}
	mediaType, err = negotiate(opts.Accept)
	if err != nil {
		return nil, "", err
	}
	opts.WindowFunction = strings.ToUpper(strings.TrimSpace(opts.WindowFunction))
	if err := opts.check(); err != nil {
		return nil, "", err
	}
	info, err := readInfo(ds)
	if err != nil {
		return nil, "", err
	}
	info.forFrame(ds, frame)
	img, err := decodeFrame(ds, info, frame, opts)
	if err != nil {
		return nil, "", err
	}
	img = fitViewport(img, opts.Viewport.Width, opts.Viewport.Height)
	body, err = encode(img, mediaType, opts.Quality)
	if err != nil {
		return nil, "", err
	}
	return body, mediaType, nil
}

func (o Options) check() error {
	if o.Quality < 0 || o.Quality > 100 {
		return fmt.Errorf("%w: quality %d is not within 1..100", ErrInvalid, o.Quality)
	}
	if o.Viewport.Width < 0 || o.Viewport.Height < 0 {
		return fmt.Errorf("%w: viewport %d,%d is negative", ErrInvalid, o.Viewport.Width, o.Viewport.Height)
	}
	const maxViewport = 16384 // a bound on the memory one request can ask for
	if o.Viewport.Width > maxViewport || o.Viewport.Height > maxViewport {
		return fmt.Errorf("%w: viewport %d,%d is larger than %d", ErrInvalid, o.Viewport.Width, o.Viewport.Height, maxViewport)
	}
	if (o.WindowCenter == nil) != (o.WindowWidth == nil) {
		return fmt.Errorf("%w: window needs both a center and a width", ErrInvalid)
	}
	if o.WindowFunction != "" {
		if !voiFunctions[o.WindowFunction] {
			return fmt.Errorf("%w: window function %q is not LINEAR, LINEAR_EXACT or SIGMOID", ErrInvalid, o.WindowFunction)
		}
	}
	if o.WindowWidth != nil {
		if err := checkWidth(*o.WindowWidth, o.WindowFunction); err != nil {
			return err
		}
	}
	return nil
}

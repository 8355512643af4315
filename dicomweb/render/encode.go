package render

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"strings"
)

const (
	mediaJPEG = "image/jpeg"
	mediaPNG  = "image/png"
)

// negotiate picks the first media type of accept this package produces.
// JPEG is the default of WADO-RS rendered resources (PS3.18 8.7.4).
func negotiate(accept []string) (string, error) {
	if len(accept) == 0 {
		return mediaJPEG, nil
	}
	for _, a := range accept {
		for _, one := range strings.Split(a, ",") {
			mt, params, _ := strings.Cut(one, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			if mt == "" || excluded(params) {
				continue
			}
			switch mt {
			case mediaJPEG, "image/*", "*/*":
				return mediaJPEG, nil
			case mediaPNG:
				return mediaPNG, nil
			}
		}
	}
	return "", fmt.Errorf("%w: asked for %s", ErrNotAcceptable, strings.Join(accept, ", "))
}

// excluded says whether media-type parameters carry q=0.
func excluded(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			v = strings.TrimSpace(v)
			if v == "0" || strings.TrimRight(strings.TrimPrefix(v, "0."), "0") == "" && strings.HasPrefix(v, "0.") {
				return true
			}
		}
	}
	return false
}

func encode(img image.Image, mediaType string, quality int) ([]byte, error) {
	var buf bytes.Buffer
	switch mediaType {
	case mediaPNG:
		// Speed over size: rendered images are made per request.
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("render: encode PNG: %w", err)
		}
	default:
		if quality == 0 {
			quality = 90
		}
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
			return nil, fmt.Errorf("render: encode JPEG: %w", err)
		}
	}
	return buf.Bytes(), nil
}

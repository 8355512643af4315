package render

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// voiFunctions are the VOI LUT Functions of PS3.3 C.11.2.1.3.
var voiFunctions = map[string]bool{"LINEAR": true, "LINEAR_EXACT": true, "SIGMOID": true}

// window is a VOI window over modality values (after rescale).
type window struct {
	center, width float64
	function      string
}

// checkWidth says whether width is usable with function: LINEAR needs a
// width of at least 1, the others a positive one (PS3.3 C.11.2.1.2).
func checkWidth(width float64, function string) error {
	if math.IsNaN(width) || math.IsInf(width, 0) {
		return fmt.Errorf("%w: window width %v", ErrInvalid, width)
	}
	if function == "" || function == "LINEAR" {
		if width < 1 {
			return fmt.Errorf("%w: window width %v is below 1", ErrInvalid, width)
		}
		return nil
	}
	if width <= 0 {
		return fmt.Errorf("%w: window width %v is not positive", ErrInvalid, width)
	}
	return nil
}

// apply maps a modality value to an 8-bit display value.
func (w window) apply(x float64) uint8 {
	const ymax = 255.0
	var y float64
	switch w.function {
	case "LINEAR_EXACT":
		switch {
		case x <= w.center-w.width/2:
			y = 0
		case x > w.center+w.width/2:
			y = ymax
		default:
			y = ((x-w.center)/w.width + 0.5) * ymax
		}
	case "SIGMOID":
		y = ymax / (1 + math.Exp(-4*(x-w.center)/w.width))
	default: // LINEAR, with its historical half-pixel offsets
		lo := w.center - 0.5 - (w.width-1)/2
		hi := w.center - 0.5 + (w.width-1)/2
		switch {
		case x <= lo:
			y = 0
		case x > hi:
			y = ymax
		default:
			y = ((x-(w.center-0.5))/(w.width-1) + 0.5) * ymax
		}
	}
	return uint8(math.Round(math.Max(0, math.Min(ymax, y))))
}

// minMaxWindow is the window that spreads [lo, hi] over the whole display
// range: lo shows black and hi white.
func minMaxWindow(lo, hi float64) window {
	if hi <= lo {
		// A flat image: any value shows mid-grey rather than black, which
		// would look like a missing image.
		return window{center: lo, width: 1, function: "LINEAR_EXACT"}
	}
	return window{center: (lo + hi) / 2, width: hi - lo, function: "LINEAR_EXACT"}
}

// ParseWindow parses the WADO-RS rendering parameter
// window=center,width[,function] (PS3.18 8.3.5.1.4). The function is
// returned upper-cased, or empty when absent.
func ParseWindow(s string) (center, width float64, function string, err error) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, "", fmt.Errorf("%w: window %q is not center,width[,function]", ErrInvalid, s)
	}
	center, err = strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	if err != nil || math.IsNaN(center) || math.IsInf(center, 0) {
		return 0, 0, "", fmt.Errorf("%w: window center %q is not a number", ErrInvalid, parts[0])
	}
	width, err = strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	if err != nil {
		return 0, 0, "", fmt.Errorf("%w: window width %q is not a number", ErrInvalid, parts[1])
	}
	if len(parts) == 3 {
		function = strings.ToUpper(strings.TrimSpace(parts[2]))
		if !voiFunctions[function] {
			return 0, 0, "", fmt.Errorf("%w: window function %q is not LINEAR, LINEAR_EXACT or SIGMOID", ErrInvalid, parts[2])
		}
	}
	if err := checkWidth(width, function); err != nil {
		return 0, 0, "", err
	}
	return center, width, function, nil
}

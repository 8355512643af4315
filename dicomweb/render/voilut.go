package render

import (
	"encoding/binary"
	"math"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// voiLUT is a VOI LUT (PS3.3 C.11.2.1.1): a table from modality values to
// display values of bits bits.
type voiLUT struct {
	first int   // modality value of the first entry
	bits  int   // bits per entry
	data  []int // entries
}

// readVOILUT reads one item of the VOI LUT Sequence of an image whose
// pixels are signed or not; a malformed one is ignored (nil), so the image
// still shows under its min/max window.
func readVOILUT(item *dicom.Dataset, signed bool) *voiLUT {
	e, err := item.FindElementByTag(tag.LUTDescriptor)
	if err != nil {
		return nil
	}
	d, ok := e.Value.GetValue().([]int)
	if !ok || len(d) != 3 || d[2] < 1 || d[2] > 16 {
		return nil
	}
	n := d[0]
	if n == 0 {
		n = 1 << 16
	}
	// The first value mapped is signed when the pixel data is (its VR is
	// US or SS accordingly), whatever VR the parser read it with.
	first := d[1]
	if signed && first >= 1<<15 {
		first -= 1 << 16
	}
	e, err = item.FindElementByTag(tag.LUTData)
	if err != nil {
		return nil
	}
	var data []int
	switch v := e.Value.GetValue().(type) {
	case []int: // US
		data = v
	case []byte: // OW: little-endian words
		for i := 0; i+1 < len(v); i += 2 {
			data = append(data, int(binary.LittleEndian.Uint16(v[i:])))
		}
	}
	if len(data) < n {
		return nil
	}
	return &voiLUT{first: first, bits: d[2], data: data[:n]}
}

// apply looks x up, values outside the table taking its end entries, and
// scales the entry to 8 bits.
func (l *voiLUT) apply(x float64) uint8 {
	i := min(max(int(math.Floor(x))-l.first, 0), len(l.data)-1)
	top := float64(int(1)<<l.bits - 1)
	return uint8(math.Round(math.Min(float64(l.data[i]), top) / top * 255))
}

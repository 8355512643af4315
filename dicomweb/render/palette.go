package render

import (
	"encoding/binary"
	"fmt"
	"image"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// palette is a PALETTE COLOR lookup table (PS3.3 C.7.6.3.1.5), reduced to
// 8 bits per channel.
type palette struct {
	first   int        // stored value mapped to the first entry
	entries [][3]uint8 // R, G, B per entry
}

// readPalette reads the three (non-segmented) lookup tables of ds.
func readPalette(ds *dicom.Dataset) (*palette, error) {
	descs := [3]tag.Tag{tag.RedPaletteColorLookupTableDescriptor, tag.GreenPaletteColorLookupTableDescriptor, tag.BluePaletteColorLookupTableDescriptor}
	datas := [3]tag.Tag{tag.RedPaletteColorLookupTableData, tag.GreenPaletteColorLookupTableData, tag.BluePaletteColorLookupTableData}
	var p *palette
	for c := 0; c < 3; c++ {
		e, err := ds.FindElementByTag(descs[c])
		if err != nil {
			return nil, fmt.Errorf("%w: PALETTE COLOR without %s (segmented palettes are not supported)", ErrUnsupported, tagName(descs[c]))
		}
		d, ok := e.Value.GetValue().([]int)
		if !ok || len(d) != 3 {
			return nil, fmt.Errorf("%w: malformed %s", ErrUnsupported, tagName(descs[c]))
		}
		n, first, bits := d[0], d[1], d[2]
		if n == 0 {
			n = 1 << 16 // PS3.3: 0 means 2^16 entries
		}
		e, err = ds.FindElementByTag(datas[c])
		if err != nil {
			return nil, fmt.Errorf("%w: PALETTE COLOR without %s (segmented palettes are not supported)", ErrUnsupported, tagName(datas[c]))
		}
		raw, ok := e.Value.GetValue().([]byte)
		if !ok {
			return nil, fmt.Errorf("%w: malformed %s", ErrUnsupported, tagName(datas[c]))
		}
		vals, err := lutEntries(raw, n, bits)
		if err != nil {
			return nil, err
		}
		if p == nil {
			p = &palette{first: first, entries: make([][3]uint8, n)}
		} else if p.first != first || len(p.entries) != n {
			return nil, fmt.Errorf("%w: the three palette tables differ in size or first value", ErrUnsupported)
		}
		for i, v := range vals {
			p.entries[i][c] = v
		}
	}
	return p, nil
}

// lutEntries decodes n entries of bits bits each to 8 bits. Sixteen-bit
// entries are little-endian words (the data is OW); eight-bit ones come one
// per byte or, as many writers store them, one per word.
func lutEntries(raw []byte, n, bits int) ([]uint8, error) {
	out := make([]uint8, n)
	switch {
	case bits == 16 && len(raw) >= 2*n:
		for i := range out {
			out[i] = uint8(binary.LittleEndian.Uint16(raw[2*i:]) >> 8)
		}
	case bits == 8 && len(raw) >= 2*n:
		for i := range out {
			out[i] = raw[2*i]
		}
	case bits == 8 && len(raw) >= n:
		copy(out, raw)
	default:
		return nil, fmt.Errorf("%w: palette of %d entries of %d bits in %d bytes", ErrUnsupported, n, bits, len(raw))
	}
	return out, nil
}

// apply maps stored values through the palette; values outside it take the
// first or last entry.
func (p *palette) apply(g grayFrame) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, g.w, g.h))
	last := len(p.entries) - 1
	for i, v := range g.pix {
		e := p.entries[min(max(v-p.first, 0), last)]
		copy(out.Pix[4*i:], []uint8{e[0], e[1], e[2], 255})
	}
	return out
}

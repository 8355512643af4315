package render

import (
	"errors"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// readInfo names what is missing or wrong in the Image Pixel module.
func TestReadInfoRefuses(t *testing.T) {
	t.Parallel()
	base := func(skip tag.Tag, bits int) *dicom.Dataset {
		ds := &dicom.Dataset{}
		for _, e := range []*dicom.Element{
			elem(t, tag.Rows, []int{4}), elem(t, tag.Columns, []int{4}), elem(t, tag.BitsAllocated, []int{bits}),
		} {
			if e.Tag != skip {
				ds.Elements = append(ds.Elements, e)
			}
		}
		return ds
	}
	for _, c := range []struct {
		ds   *dicom.Dataset
		want string
	}{
		{base(tag.Rows, 8), "Rows"},
		{base(tag.Columns, 8), "Columns"},
		{base(tag.BitsAllocated, 8), "BitsAllocated"},
		{base(tag.Tag{}, 12), "Bits Allocated 12"},
		{&dicom.Dataset{Elements: []*dicom.Element{elem(t, tag.Rows, []int{0}), elem(t, tag.Columns, []int{4})}}, "0 pixels"},
	} {
		_, err := readInfo(c.ds)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err %v, want ErrUnsupported naming %q", err, c.want)
		}
	}
}

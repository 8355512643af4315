package dicomweb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Transfer syntaxes TeleHub names itself.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsExplicitBE = "1.2.840.10008.1.2.2"
	tsDeflated   = "1.2.840.10008.1.2.1.99"
)

// errNotDICOM and errMissingUID are the ways a part fails to be an instance;
// they are answered with failure reason 0xC000 (cannot understand).
var (
	errNotDICOM   = errors.New("not a DICOM file (no DICM prefix after the 128-byte preamble)")
	errMissingUID = errors.New("missing or invalid UID")
	errTruncated  = errors.New("truncated file: the pixel data runs past its end")
)

// instanceFile is what STOW learns from one file before storing it.
type instanceFile struct {
	Study, Series, SOP, SOPClass, TransferSyntax string
	Attrs                                        Dataset
	Frames                                       int
	Rows, Columns, BitsAllocated, Samples        int
	Encapsulated                                 bool
	// PixelOffset and PixelLength locate the value of native Pixel Data in
	// the file (PixelOffset -1 when there is none or it is encapsulated), so
	// that frames are read from the blob without parsing it again.
	PixelOffset, PixelLength int64
}

// parseReaders buffer the parts STOW parses.
var parseReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

var uidPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// validUID reports whether s is a DICOM UID (PS3.5 9.1).
func validUID(s string) bool { return len(s) <= 64 && uidPattern.MatchString(s) }

// parseInstance reads the file f (a part in the STOW spool) from its
// start: the header, every attribute but the pixel data (skipped, so
// memory stays flat however large the file).
func parseInstance(f *io.SectionReader) (*instanceFile, error) {
	var pre [132]byte
	if _, err := f.ReadAt(pre[:], 0); err != nil || string(pre[128:]) != "DICM" {
		return nil, errNotDICOM
	}
	// The parser reads small pieces: a buffer spares it a system call each.
	r := parseReaders.Get().(*bufio.Reader)
	r.Reset(f)
	ds, err := parseDataset(r, f.Size(), true)
	r.Reset(nil)
	parseReaders.Put(r)
	if err != nil {
		return nil, err
	}
	in := &instanceFile{Attrs: toJSON(ds.Elements, true), PixelOffset: -1}
	in.TransferSyntax = elementString(&ds, tag.TransferSyntaxUID)
	in.Study = in.Attrs.First(tagStudyInstanceUID)
	in.Series = in.Attrs.First(tagSeriesInstanceUID)
	in.SOP = in.Attrs.First(tagSOPInstanceUID)
	in.SOPClass = in.Attrs.First(tagSOPClassUID)
	if meta := elementString(&ds, tag.MediaStorageSOPInstanceUID); in.SOP == "" {
		in.SOP = meta
	}
	if meta := elementString(&ds, tag.MediaStorageSOPClassUID); in.SOPClass == "" {
		in.SOPClass = meta
	}
	for name, uid := range map[string]string{"StudyInstanceUID": in.Study, "SeriesInstanceUID": in.Series,
		"SOPInstanceUID": in.SOP, "SOPClassUID": in.SOPClass} {
		if !validUID(uid) {
			return nil, fmt.Errorf("%w: %s %q", errMissingUID, name, uid)
		}
	}
	if in.TransferSyntax == "" {
		in.TransferSyntax = tsImplicitLE
	}
	// Viewers pick their decoder from the transfer syntax in the metadata:
	// the file's own (0002,0010) and the standard AvailableTransferSyntaxUID.
	in.Attrs["00020010"] = Attr{VR: "UI", Value: []any{in.TransferSyntax}}
	in.Attrs["00083002"] = Attr{VR: "UI", Value: []any{in.TransferSyntax}}
	in.Rows = atoi(in.Attrs.First(tagRows))
	in.Columns = atoi(in.Attrs.First(tagColumns))
	in.BitsAllocated = atoi(in.Attrs.First(tagBitsAllocated))
	in.Samples = max(1, atoi(in.Attrs.First(tagSamplesPerPixel)))
	in.Frames = atoi(in.Attrs.First(tagNumberOfFrames))
	pixel, err := ds.FindElementByTag(tag.PixelData)
	if err == nil {
		in.Frames = max(in.Frames, 1)
		if pixel.ValueLength == tag.VLUndefinedLength {
			in.Encapsulated = true
		} else if off, err := findPixelData(f, f.Size(), in.TransferSyntax, pixel.ValueLength); err == nil {
			in.PixelOffset, in.PixelLength = off, int64(pixel.ValueLength)
		} else if in.TransferSyntax != tsDeflated {
			// The parser skips pixel data without reading it: a header
			// whose value runs past the end of the file is a truncated file.
			return nil, errTruncated
		}
	} else {
		in.Frames = 0
	}
	return in, nil
}

// parseDataset parses a DICOM file from r; skipPixels leaves pixel data out.
// Only a clean end of the data set counts: the library's Parse takes an
// end of file in the middle of an element for the end of the data, which
// would let a truncated file through. The parser can panic on some
// malformed input: that is an error here.
func parseDataset(r io.Reader, size int64, skipPixels bool) (ds dicom.Dataset, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed DICOM data: %v", p)
		}
	}()
	opts := []dicom.ParseOption{dicom.AllowMissingMetaElementGroupLength()}
	if skipPixels {
		opts = append(opts, dicom.SkipPixelData())
	}
	p, err := dicom.NewParser(r, size, nil, opts...)
	if err != nil {
		return ds, fmt.Errorf("cannot parse DICOM header: %w", err)
	}
	ds.Elements = append(ds.Elements, p.GetMetadata().Elements...)
	for {
		e, err := p.Next()
		if errors.Is(err, dicom.ErrorEndOfDICOM) {
			return ds, nil
		}
		if err != nil {
			return ds, fmt.Errorf("cannot parse DICOM data after %d elements (truncated or malformed): %w", len(ds.Elements), err)
		}
		ds.Elements = append(ds.Elements, e)
	}
}

func elementString(ds *dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value.ValueType() != dicom.Strings {
		return ""
	}
	if s := dicom.MustGetStrings(e.Value); len(s) > 0 {
		return trimUID(s[0])
	}
	return ""
}

func trimUID(s string) string { return string(bytes.Trim([]byte(s), " \x00")) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// findPixelData finds where the value of the top-level, native Pixel Data
// element starts: the first (7FE0,0010) header with the value length the
// parser read (an icon's pixel data, earlier, has another length).
func findPixelData(f *io.SectionReader, size int64, ts string, vl uint32) (int64, error) {
	var pattern []byte
	switch ts {
	case tsImplicitLE:
		pattern = binary.LittleEndian.AppendUint32([]byte{0xE0, 0x7F, 0x10, 0x00}, vl)
	case tsExplicitBE:
		pattern = binary.BigEndian.AppendUint32([]byte{0x7F, 0xE0, 0x00, 0x10, 'O', 'W', 0, 0}, vl)
	case tsDeflated:
		return -1, errors.New("deflated data set: no offset")
	default:
		pattern = binary.LittleEndian.AppendUint32([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0}, vl)
	}
	alt := bytes.Clone(pattern)
	if ts != tsImplicitLE {
		alt[5] = 'B' // OB
	}
	// Pixel Data is almost always the last element: then its header sits
	// right before the last vl bytes, and one small read finds it.
	if off := size - int64(vl); off-int64(len(pattern)) >= 132 {
		tail := make([]byte, len(pattern))
		if _, err := f.ReadAt(tail, off-int64(len(pattern))); err == nil && (bytes.Equal(tail, pattern) || bytes.Equal(tail, alt)) {
			return off, nil
		}
	}
	if _, err := f.Seek(132, io.SeekStart); err != nil {
		return -1, err
	}
	r := bufio.NewReaderSize(f, 1<<16)
	window := make([]byte, 0, 1<<17)
	base := int64(132) // file offset of window[0]
	buf := make([]byte, 1<<16)
	for {
		n, err := r.Read(buf)
		window = append(window, buf[:n]...)
		for _, p := range [][]byte{pattern, alt} {
			if i := bytes.Index(window, p); i >= 0 {
				off := base + int64(i) + int64(len(p))
				if off+int64(vl) <= size {
					return off, nil
				}
			}
		}
		if err != nil {
			return -1, errors.New("pixel data header not found")
		}
		if keep := len(pattern) - 1; len(window) > keep {
			base += int64(len(window) - keep)
			window = append(window[:0], window[len(window)-keep:]...)
		}
	}
}

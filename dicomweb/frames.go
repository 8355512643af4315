package dicomweb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// frameMediaType is the media type of the frames of a transfer syntax:
// application/octet-stream for native pixels, the codec's for encapsulated.
func frameMediaType(ts string) string {
	switch ts {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE, tsDeflated:
		return "application/octet-stream"
	case "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70":
		return "image/jpeg"
	case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81":
		return "image/jls"
	case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91":
		return "image/jp2"
	case "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93":
		return "image/jpx"
	case "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return "image/jphc"
	case "1.2.840.10008.1.2.5":
		return "image/dicom-rle"
	case "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101":
		return "video/mpeg"
	case "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104",
		"1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106":
		return "video/mp4"
	}
	return "application/octet-stream"
}

// acceptsFrames reports whether the Accept ranges admit frames of media
// type typ in transfer syntax ts (no transcoding: the stored form or nothing).
func acceptsFrames(ranges []acceptRange, typ, ts string) bool {
	if len(ranges) == 0 {
		return true
	}
	for _, r := range ranges {
		if r.q <= 0 {
			continue
		}
		want := ""
		switch r.media {
		case "*/*", "multipart/*":
			return true
		case "multipart/related":
			want = strings.ToLower(r.params["type"])
		default:
			want = r.media
		}
		if want != "" && want != "*/*" && want != typ && !(strings.HasSuffix(want, "/*") && strings.HasPrefix(typ, strings.TrimSuffix(want, "*"))) {
			continue
		}
		if t := r.params["transfer-syntax"]; t == "" || t == "*" || t == ts ||
			(typ == "application/octet-stream" && t == tsExplicitLE && ts != tsExplicitBE) {
			return true
		}
	}
	return false
}

// parseFrameList reads "1,3,5" (1-based frame numbers).
func parseFrameList(list string, frames int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a frame number (frames are numbered from 1)", f)
		}
		if n > frames {
			return nil, fmt.Errorf("%w: frame %d of an instance that has %d", errNotFound, n, frames)
		}
		out = append(out, n)
	}
	return out, nil
}

// frames answers the frames of an instance: native pixels as
// application/octet-stream, encapsulated ones in their transfer syntax.
func (s *Server) frames(c echo.Context) error {
	ranges := parseAccept(c.Request().Header.Get("Accept"))
	t, err := s.resolve(c)
	if err != nil {
		return s.resolveError(c, err)
	}
	in := t.instances[0]
	if in.Frames == 0 {
		return fail(c, http.StatusNotFound, "instance %s has no pixel data", in.UID)
	}
	list, err := parseFrameList(c.Param("frames"), in.Frames)
	if errors.Is(err, errNotFound) {
		return fail(c, http.StatusNotFound, "%s", strings.TrimPrefix(err.Error(), "not found: "))
	}
	if err != nil {
		return fail(c, http.StatusBadRequest, "%v", err)
	}
	typ := frameMediaType(in.TransferSyntax)
	decode := false
	if !acceptsFrames(ranges, typ, in.TransferSyntax) {
		// JPEG baseline is the one codec Go decodes: its frames can be
		// served as native pixels to clients that take nothing else.
		decode = isJPEGBaseline(in.TransferSyntax) && acceptsFrames(ranges, "application/octet-stream", tsExplicitLE)
		if !decode {
			return fail(c, http.StatusNotAcceptable, "the frames of instance %s are served as %s (transfer syntax %s)%s",
				in.UID, typ, in.TransferSyntax, map[bool]string{true: " or, decoded, as application/octet-stream", false: " only"}[isJPEGBaseline(in.TransferSyntax)])
		}
	}
	data, err := s.readFrames(c.Request().Context(), in, list)
	if err != nil {
		return s.internal(c, "read frames", err)
	}
	if decode {
		for i, d := range data {
			if data[i], err = decodeJPEG(d); err != nil {
				return s.internal(c, "decode JPEG frame", err)
			}
		}
		return s.writeParts(c, "application/octet-stream", &instanceRecord{TransferSyntax: tsExplicitLE}, data)
	}
	return s.writeParts(c, typ, in, data)
}

// writeParts answers byte strings as a multipart/related of type typ.
func (s *Server) writeParts(c echo.Context, typ string, in *instanceRecord, parts [][]byte) error {
	mw, err := s.startMultipart(c, typ)
	if err != nil {
		return err
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		ct := typ
		if typ != "application/octet-stream" || in.TransferSyntax == tsExplicitBE {
			ct += "; transfer-syntax=" + in.TransferSyntax
		}
		h.Set("Content-Type", ct)
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil
		}
		if _, err := w.Write(p); err != nil {
			return nil
		}
	}
	return mw.Close()
}

// readFrames reads frames (1-based) of an instance. Native frames are read
// in place, at their offset in the blob, without parsing; encapsulated
// ones come from the parsed fragments (one fragment per frame, or all the
// fragments of a single-frame image).
func (s *Server) readFrames(ctx context.Context, in *instanceRecord, list []int) ([][]byte, error) {
	if !in.Encapsulated && in.PixelOffset >= 0 && in.BitsAllocated%8 == 0 && in.BitsAllocated > 0 {
		size := int64(in.Rows) * int64(in.Columns) * int64(in.Samples) * int64(in.BitsAllocated/8)
		if size > 0 && size*int64(in.Frames) <= in.PixelLength {
			return s.readNativeFrames(ctx, in, list, size)
		}
	}
	ds, err := s.parseBlob(ctx, in, false)
	if err != nil {
		return nil, err
	}
	pixel, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil, fmt.Errorf("instance %s: no pixel data", in.UID)
	}
	info := dicom.MustGetPixelDataInfo(pixel.Value)
	var out [][]byte
	for _, n := range list {
		if info.IsEncapsulated {
			switch {
			case len(info.Frames) == in.Frames:
				out = append(out, info.Frames[n-1].EncapsulatedData.Data)
			case in.Frames == 1:
				var all []byte
				for _, f := range info.Frames {
					all = append(all, f.EncapsulatedData.Data...)
				}
				out = append(out, all)
			default:
				return nil, fmt.Errorf("instance %s: %d fragments for %d frames: frames spanning fragments are not supported", in.UID, len(info.Frames), in.Frames)
			}
			continue
		}
		if n > len(info.Frames) {
			return nil, fmt.Errorf("instance %s: frame %d missing from pixel data", in.UID, n)
		}
		out = append(out, nativeBytes(&info.Frames[n-1].NativeData, in.BitsAllocated))
	}
	return out, nil
}

func (s *Server) readNativeFrames(ctx context.Context, in *instanceRecord, list []int, size int64) ([][]byte, error) {
	var out [][]byte
	for _, n := range list {
		blob, err := s.openInstance(ctx, in)
		if err != nil {
			return nil, err
		}
		err = blob.Skip(in.PixelOffset + int64(n-1)*size)
		buf := make([]byte, size)
		if err == nil {
			_, err = io.ReadFull(blob, buf)
		}
		blob.Close()
		if err != nil {
			return nil, fmt.Errorf("instance %s frame %d: %w", in.UID, n, err)
		}
		out = append(out, buf)
	}
	return out, nil
}

// nativeBytes encodes parsed native pixels back into little-endian bytes,
// sample after sample as the parser read them (so in the stored order).
func nativeBytes(f *frame.NativeFrame, bits int) []byte {
	var buf bytes.Buffer
	for _, px := range f.Data {
		for _, v := range px {
			switch {
			case bits <= 8:
				buf.WriteByte(byte(v))
			case bits <= 16:
				buf.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
			default:
				buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
			}
		}
	}
	return buf.Bytes()
}

// parseBlob parses a stored instance; skipPixels leaves its pixel data out.
func (s *Server) parseBlob(ctx context.Context, in *instanceRecord, skipPixels bool) (*dicom.Dataset, error) {
	blob, err := s.openInstance(ctx, in)
	if err != nil {
		return nil, err
	}
	defer blob.Close()
	ds, err := parseDataset(blob, blob.Size(), skipPixels)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", in.UID, err)
	}
	return &ds, nil
}

// floatBytes encodes OF (float32) or OD (float64) values little-endian.
func floatBytes(values []float64, vr string) []byte {
	var out []byte
	for _, v := range values {
		if vr == "OD" || vr == "FD" {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
		} else {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(v)))
		}
	}
	return out
}

func isJPEGBaseline(ts string) bool {
	return ts == "1.2.840.10008.1.2.4.50" || ts == "1.2.840.10008.1.2.4.51"
}

// decodeJPEG decodes a JPEG baseline frame into native pixels: one byte
// per pixel for grey images, interleaved RGB for colour ones (what a
// decompressed YBR_FULL_422 frame becomes).
func decodeJPEG(b []byte) ([]byte, error) {
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	r := img.Bounds()
	if g, ok := img.(*image.Gray); ok {
		out := make([]byte, 0, r.Dx()*r.Dy())
		for y := r.Min.Y; y < r.Max.Y; y++ {
			out = append(out, g.Pix[g.PixOffset(r.Min.X, y):g.PixOffset(r.Max.X, y)]...)
		}
		return out, nil
	}
	out := make([]byte, 0, 3*r.Dx()*r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out, nil
}

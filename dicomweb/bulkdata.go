package dicomweb

import (
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/suyashkumar/dicom"
)

// bulkdata answers a top-level attribute's value by itself: the pixel
// data (its frames) or another binary value, as multipart/related.
func (s *Server) bulkdata(c echo.Context) error {
	key := strings.ToUpper(c.Param("tag"))
	if _, err := strconv.ParseUint(key, 16, 32); err != nil || len(key) != 8 {
		return fail(c, http.StatusBadRequest, "%q is not a tag (eight hex digits)", c.Param("tag"))
	}
	ranges := parseAccept(c.Request().Header.Get("Accept"))
	t, err := s.resolve(c)
	if err != nil {
		return s.resolveError(c, err)
	}
	in := t.instances[0]
	ctx := c.Request().Context()
	if key == tagPixelData {
		if in.Frames == 0 {
			return fail(c, http.StatusNotFound, "instance %s has no pixel data", in.UID)
		}
		typ := frameMediaType(in.TransferSyntax)
		if !acceptsFrames(ranges, typ, in.TransferSyntax) {
			return fail(c, http.StatusNotAcceptable, "the pixel data of instance %s is served as %s only", in.UID, typ)
		}
		if !in.Encapsulated && in.PixelOffset >= 0 {
			return s.streamPixelData(c, typ, in)
		}
		list := make([]int, in.Frames)
		for i := range list {
			list[i] = i + 1
		}
		data, err := s.readFrames(ctx, in, list)
		if err != nil {
			return s.internal(c, "read frames", err)
		}
		return s.writeParts(c, typ, in, data)
	}
	if !acceptsFrames(ranges, "application/octet-stream", tsExplicitLE) {
		return fail(c, http.StatusNotAcceptable, "bulk data is served as application/octet-stream only")
	}
	ds, err := s.parseBlob(ctx, in, true)
	if err != nil {
		return s.internal(c, "read instance", err)
	}
	var value []byte
	for _, e := range ds.Elements {
		if tagKey(e.Tag) != key {
			continue
		}
		switch e.Value.ValueType() {
		case dicom.Bytes:
			value = dicom.MustGetBytes(e.Value)
		case dicom.Floats:
			value = floatBytes(dicom.MustGetFloats(e.Value), e.RawValueRepresentation)
		}
	}
	if value == nil {
		return fail(c, http.StatusNotFound, "instance %s has no bulk data at %s", in.UID, key)
	}
	return s.writeParts(c, "application/octet-stream", &instanceRecord{TransferSyntax: tsExplicitLE}, [][]byte{value})
}

// streamPixelData answers native pixel data as one part, copied from the
// blob without holding it in memory.
func (s *Server) streamPixelData(c echo.Context, typ string, in *instanceRecord) error {
	blob, err := s.openInstance(c.Request().Context(), in)
	if err != nil {
		return s.internal(c, "open instance", err)
	}
	defer blob.Close()
	if err := blob.Skip(in.PixelOffset); err != nil {
		return s.internal(c, "read pixel data", err)
	}
	mw, err := s.startMultipart(c, typ)
	if err != nil {
		return err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", typ)
	w, err := mw.CreatePart(h)
	if err != nil {
		return nil
	}
	if _, err := io.Copy(w, io.LimitReader(blob, in.PixelLength)); err != nil {
		s.log.ErrorContext(c.Request().Context(), "dicomweb: pixel data", "instance", in.UID, "err", err)
		return nil // headers are sent: the body is cut short
	}
	return mw.Close()
}

package dicomweb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/suyashkumar/dicom"

	"github.com/telehub/telehub/dicomweb/render"
)

// thumbnailSize is the box a thumbnail fits in when the client gives no viewport.
const thumbnailSize = 128

// rendered answers /rendered and /thumbnail: frames as consumer images
// (JPEG or PNG, as negotiated by package render). An instance or a frame
// is one image. A rendered study or series is a multipart/related of the
// first frame of each of its instances with pixel data; its thumbnail is
// the image of a representative instance, the middle one of its first
// series with pixel data.
func (s *Server) rendered(thumbnail bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		accept := acceptList(c.Request().Header.Get("Accept"), c.QueryParam("accept"))
		opts, err := renderOptions(c.QueryParams(), thumbnail)
		if err != nil {
			return fail(c, http.StatusBadRequest, "%v", err)
		}
		opts.Accept = accept
		t, err := s.resolve(c)
		if err != nil {
			return s.resolveError(c, err)
		}
		if !thumbnail && c.Param("instance") == "" {
			return s.renderAll(c, t.instances, opts)
		}
		in := representative(t.instances)
		if in == nil {
			return fail(c, http.StatusNotFound, "nothing to render: no instance with pixel data")
		}
		frameNo := 1
		if list := c.Param("frames"); list != "" {
			frames, err := parseFrameList(list, in.Frames)
			if errors.Is(err, errNotFound) {
				return fail(c, http.StatusNotFound, "%s", strings.TrimPrefix(err.Error(), "not found: "))
			}
			if err != nil || len(frames) != 1 {
				return fail(c, http.StatusBadRequest, "a rendered frame is one frame number")
			}
			frameNo = frames[0]
		}
		return s.renderInstance(c, in, frameNo, opts)
	}
}

func (s *Server) renderInstance(c echo.Context, in *instanceRecord, frameNo int, opts render.Options) error {
	body, media, err := s.renderFrame(c.Request().Context(), in, frameNo, opts)
	if err != nil {
		return s.renderError(c, err)
	}
	return c.Blob(http.StatusOK, media, body)
}

// renderAll answers the first frame of every instance with pixel data as
// one multipart/related, rendering one instance at a time.
func (s *Server) renderAll(c echo.Context, list []*instanceRecord, opts render.Options) error {
	var mw *multipart.Writer
	for _, in := range list {
		if in.Frames == 0 {
			continue
		}
		body, media, err := s.renderFrame(c.Request().Context(), in, 1, opts)
		if err != nil {
			if mw == nil {
				return s.renderError(c, err)
			}
			s.log.ErrorContext(c.Request().Context(), "dicomweb: render", "instance", in.UID, "err", err)
			return nil // headers are sent: the body is cut short
		}
		if mw == nil {
			if mw, err = s.startMultipart(c, media); err != nil {
				return err
			}
			opts.Accept = []string{media} // every part of one type
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", media)
		h.Set("Content-Location", s.instanceURL(in.Study, in.Series, in.UID)+"/rendered")
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil
		}
		if _, err := w.Write(body); err != nil {
			return nil
		}
	}
	if mw == nil {
		return fail(c, http.StatusNotFound, "nothing to render: no instance with pixel data")
	}
	return mw.Close()
}

// renderFrame renders frame frameNo (1-based) of an instance.
func (s *Server) renderFrame(ctx context.Context, in *instanceRecord, frameNo int, opts render.Options) ([]byte, string, error) {
	if frameNo < 1 || frameNo > in.Frames {
		return nil, "", fmt.Errorf("%w: instance %s has no frame %d", render.ErrNoFrame, in.UID, frameNo)
	}
	ds, frameNo, err := s.frameDataset(ctx, in, frameNo)
	if err != nil {
		return nil, "", err
	}
	return render.Render(ds, frameNo, opts)
}

// renderError answers an error of renderFrame.
func (s *Server) renderError(c echo.Context, err error) error {
	switch {
	case errors.Is(err, render.ErrNotAcceptable), errors.Is(err, render.ErrUnsupported):
		return fail(c, http.StatusNotAcceptable, "%v", err)
	case errors.Is(err, render.ErrNoFrame):
		return fail(c, http.StatusNotFound, "%v", err)
	case errors.Is(err, render.ErrInvalid):
		return fail(c, http.StatusBadRequest, "%v", err)
	}
	return s.internal(c, "render", err)
}

// representative picks the instance a study or series image shows.
func representative(list []*instanceRecord) *instanceRecord {
	var series []*instanceRecord
	for _, in := range list {
		if in.Frames == 0 {
			continue
		}
		if len(series) > 0 && in.Series != series[0].Series {
			break
		}
		series = append(series, in)
	}
	if len(series) == 0 {
		return nil
	}
	return series[len(series)/2]
}

// acceptList is the media types of an Accept header (and of the accept
// query parameter PS3.18 allows instead), best first, q=0 left out.
func acceptList(header, param string) []string {
	var out []string
	for _, h := range []string{param, header} {
		for _, r := range parseAccept(h) {
			if r.q > 0 {
				out = append(out, r.media)
			}
		}
	}
	return out
}

// renderOptions reads the rendering query parameters of PS3.18 8.3.5.1:
// window=center,width[,function], viewport=vw,vh, quality=1..100.
func renderOptions(q map[string][]string, thumbnail bool) (render.Options, error) {
	var opts render.Options
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if w := get("window"); w != "" {
		parts := strings.Split(w, ",")
		if len(parts) < 2 || len(parts) > 3 {
			return opts, fmt.Errorf("window is center,width[,function], not %q", w)
		}
		center, err1 := strconv.ParseFloat(parts[0], 64)
		width, err2 := strconv.ParseFloat(parts[1], 64)
		if err1 != nil || err2 != nil || width <= 0 {
			return opts, fmt.Errorf("window is center,width with a positive width, not %q", w)
		}
		opts.WindowCenter, opts.WindowWidth = &center, &width
		if len(parts) == 3 {
			opts.WindowFunction = parts[2]
		}
	}
	if v := get("viewport"); v != "" {
		parts := strings.Split(v, ",")
		if len(parts) != 2 && len(parts) != 6 {
			return opts, fmt.Errorf("viewport is vw,vh, not %q", v)
		}
		w, err1 := strconv.Atoi(parts[0])
		h, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil || w < 0 || h < 0 || w > 8192 || h > 8192 {
			return opts, fmt.Errorf("viewport is two sizes from 0 to 8192, not %q", v)
		}
		opts.Viewport.Width, opts.Viewport.Height = w, h
	} else if thumbnail {
		opts.Viewport.Width, opts.Viewport.Height = thumbnailSize, thumbnailSize
	}
	if v := get("quality"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return opts, fmt.Errorf("quality is 1 to 100, not %q", v)
		}
		opts.Quality = n
	}
	return opts, nil
}

// frameDataset returns a data set holding the pixels of one frame and the
// number of that frame in it. For native pixel data at a known offset it
// builds a one-frame instance (the header, NumberOfFrames patched to 1,
// and the frame's bytes), so that rendering one frame of a large
// multi-frame instance parses that frame only; otherwise it parses the
// whole instance.
func (s *Server) frameDataset(ctx context.Context, in *instanceRecord, frameNo int) (*dicom.Dataset, int, error) {
	hdrLen := int64(12) // tag, VR, reserved, 32-bit length
	if in.TransferSyntax == tsImplicitLE {
		hdrLen = 8
	}
	size := int64(in.Rows) * int64(in.Columns) * int64(in.Samples) * int64(in.BitsAllocated/8)
	if in.Encapsulated || in.PixelOffset < hdrLen || in.Frames <= 1 || size <= 0 || in.BitsAllocated%8 != 0 ||
		(in.TransferSyntax != tsImplicitLE && in.TransferSyntax != tsExplicitLE) {
		ds, err := s.parseBlob(ctx, in, false)
		return ds, frameNo, err
	}
	blob, err := s.openInstance(ctx, in)
	if err != nil {
		return nil, 0, err
	}
	defer blob.Close()
	head := make([]byte, in.PixelOffset)
	if _, err := io.ReadFull(blob, head); err != nil {
		return nil, 0, err
	}
	if !patchNumberOfFrames(head[:in.PixelOffset-hdrLen], in.TransferSyntax == tsImplicitLE) {
		ds, err := s.parseBlob(ctx, in, false)
		return ds, frameNo, err
	}
	binary.LittleEndian.PutUint32(head[in.PixelOffset-4:], uint32(size))
	if err := blob.Skip(int64(frameNo-1) * size); err != nil {
		return nil, 0, err
	}
	one := make([]byte, len(head)+int(size))
	copy(one, head)
	if _, err := io.ReadFull(blob, one[len(head):]); err != nil {
		return nil, 0, err
	}
	ds, err := parseDataset(bytes.NewReader(one), int64(len(one)), false)
	if err != nil {
		return nil, 0, fmt.Errorf("instance %s frame %d: %w", in.UID, frameNo, err)
	}
	return &ds, 1, nil
}

// patchNumberOfFrames rewrites the top-level NumberOfFrames (0028,0008)
// of a little-endian data set to 1, padded to the same length, and
// reports whether it found it.
func patchNumberOfFrames(b []byte, implicit bool) bool {
	tagBytes := []byte{0x28, 0x00, 0x08, 0x00}
	for from := 0; ; {
		i := bytes.Index(b[from:], tagBytes)
		if i < 0 {
			return false
		}
		i += from
		var n, start int
		if implicit {
			if i+8 > len(b) {
				return false
			}
			n, start = int(binary.LittleEndian.Uint32(b[i+4:])), i+8
		} else {
			if i+8 > len(b) || string(b[i+4:i+6]) != "IS" {
				from = i + 1
				continue
			}
			n, start = int(binary.LittleEndian.Uint16(b[i+6:])), i+8
		}
		if n < 1 || n > 12 || start+n > len(b) {
			from = i + 1
			continue
		}
		b[start] = '1'
		for j := start + 1; j < start+n; j++ {
			b[j] = ' '
		}
		return true
	}
}

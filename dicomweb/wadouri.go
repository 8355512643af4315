package dicomweb

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// wadoURI serves WADO-URI (PS3.18 chapter 9): one object, as the file
// itself (contentType=application/dicom) or rendered (image/jpeg, the
// default, or image/png).
func (s *Server) wadoURI(c echo.Context) error {
	q := c.QueryParams()
	if rt := q.Get("requestType"); rt != "WADO" {
		return fail(c, http.StatusBadRequest, "requestType must be WADO, not %q", rt)
	}
	study, series, object := q.Get("studyUID"), q.Get("seriesUID"), q.Get("objectUID")
	for name, uid := range map[string]string{"studyUID": study, "seriesUID": series, "objectUID": object} {
		if !validUID(uid) {
			return fail(c, http.StatusBadRequest, "%s must be a UID, not %q", name, uid)
		}
	}
	c.SetParamNames("study", "series", "instance")
	c.SetParamValues(study, series, object)
	var types []string
	for _, t := range strings.Split(q.Get("contentType"), ",") {
		if t = strings.TrimSpace(strings.SplitN(t, ";", 2)[0]); t != "" {
			types = append(types, strings.ToLower(t))
		}
	}
	if len(types) == 0 {
		types = []string{"image/jpeg"}
	}
	if types[0] == mediaDICOM || types[0] == "application/*" {
		t, err := s.resolve(c)
		if err != nil {
			return s.resolveError(c, err)
		}
		in := t.instances[0]
		if ts := q.Get("transferSyntax"); ts != "" && ts != in.TransferSyntax && ts != "*" {
			return fail(c, http.StatusNotAcceptable, "instance %s is stored in transfer syntax %s and served in it only", in.UID, in.TransferSyntax)
		}
		blob, err := s.openInstance(c.Request().Context(), in)
		if err != nil {
			return s.internal(c, "open instance", err)
		}
		defer blob.Close()
		c.Response().Header().Set("Content-Length", strconv.FormatInt(blob.Size(), 10))
		return c.Stream(http.StatusOK, mediaDICOM, blob)
	}
	opts, err := renderOptions(nil, false)
	if err != nil {
		return fail(c, http.StatusBadRequest, "%v", err)
	}
	opts.Accept = types
	if wc, ww := q.Get("windowCenter"), q.Get("windowWidth"); wc != "" || ww != "" {
		center, err1 := strconv.ParseFloat(wc, 64)
		width, err2 := strconv.ParseFloat(ww, 64)
		if err1 != nil || err2 != nil || width <= 0 {
			return fail(c, http.StatusBadRequest, "windowCenter and windowWidth are numbers, the width positive")
		}
		opts.WindowCenter, opts.WindowWidth = &center, &width
	}
	for name, dst := range map[string]*int{"columns": &opts.Viewport.Width, "rows": &opts.Viewport.Height, "imageQuality": &opts.Quality} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || (name != "imageQuality" && n > 8192) || (name == "imageQuality" && n > 100) {
				return fail(c, http.StatusBadRequest, "%s is out of range: %q", name, v)
			}
			*dst = n
		}
	}
	frameNo := 1
	if v := q.Get("frameNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fail(c, http.StatusBadRequest, "frameNumber is a number from 1, not %q", v)
		}
		frameNo = n
	}
	t, err := s.resolve(c)
	if err != nil {
		return s.resolveError(c, err)
	}
	return s.renderInstance(c, t.instances[0], frameNo, opts)
}

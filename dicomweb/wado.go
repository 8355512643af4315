package dicomweb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/smart"
)

// target is what a WADO-RS path names, checked to exist and be visible.
type target struct {
	study     *studyRecord
	instances []*instanceRecord // the instances the path covers, in series then instance order
}

// errNotFound answers 404; errHidden 403.
var (
	errNotFound = errors.New("not found")
	errHidden   = errors.New("hidden")
)

// resolve loads the study, series or instance of a retrieve path, checks
// the caller may see it, and audits the read (fail-closed).
func (s *Server) resolve(c echo.Context) (*target, error) {
	ctx := c.Request().Context()
	acc, err := s.authorize(ctx, smart.Read)
	if err != nil {
		return nil, err
	}
	study, series, sop := c.Param("study"), c.Param("series"), c.Param("instance")
	for _, uid := range []string{study, series, sop} {
		if uid != "" && !validUID(uid) {
			return nil, fmt.Errorf("%w: %q is not a UID", errNotFound, uid)
		}
	}
	st, err := s.idx.study(ctx, study)
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: no study %s", errNotFound, study)
	}
	if err != nil {
		return nil, err
	}
	if !acc.seesPatient(st.Patient) {
		_ = s.record(ctx, audit.Read(principalOf(ctx), audit.Target{Type: "ImagingStudy", ID: st.ImagingStudy}, patientRef(st.Patient), audit.MinorFailure))
		return nil, fmt.Errorf("%w: the access token or the patient's consent does not open study %s", errHidden, study)
	}
	t := &target{study: st}
	if sop != "" {
		in, err := s.idx.instance(ctx, sop)
		if isNotFound(err) || (err == nil && (in.Study != study || in.Series != series)) {
			return nil, fmt.Errorf("%w: no instance %s in series %s of study %s", errNotFound, sop, series, study)
		}
		if err != nil {
			return nil, err
		}
		t.instances = []*instanceRecord{in}
	} else {
		if t.instances, err = s.idx.instancesOf(ctx, study, series); err != nil {
			return nil, err
		}
		if len(t.instances) == 0 {
			return nil, fmt.Errorf("%w: no series %s in study %s", errNotFound, series, study)
		}
		sortInstances(t.instances)
	}
	if err := s.record(ctx, audit.Read(principalOf(ctx), audit.Target{Type: "ImagingStudy", ID: st.ImagingStudy}, patientRef(st.Patient), audit.Success)); err != nil {
		return nil, err
	}
	return t, nil
}

// resolveError answers an error of resolve.
func (s *Server) resolveError(c echo.Context, err error) error {
	var f errForbidden
	switch {
	case errors.As(err, &f), errors.Is(err, errHidden):
		return fail(c, http.StatusForbidden, "%s", strings.TrimPrefix(err.Error(), "hidden: "))
	case errors.Is(err, errNotFound):
		return fail(c, http.StatusNotFound, "%s", strings.TrimPrefix(err.Error(), "not found: "))
	}
	return s.internal(c, "retrieve", err)
}

func sortInstances(list []*instanceRecord) {
	// series by UID then instances by number: a stable order clients can rely on
	sortFunc(list, func(a, b *instanceRecord) int {
		if a.Series != b.Series {
			return strings.Compare(a.Series, b.Series)
		}
		return cmpNumbers(a.Attrs.First(tagInstanceNumber), b.Attrs.First(tagInstanceNumber), a.UID, b.UID)
	})
}

// retrieve answers a study, series or instance as multipart/related;
// type="application/dicom", the files as stored.
func (s *Server) retrieve(c echo.Context) error {
	ranges := parseAccept(c.Request().Header.Get("Accept"))
	t, err := s.resolve(c)
	if err != nil {
		return s.resolveError(c, err)
	}
	for _, in := range t.instances {
		if !acceptsDICOM(ranges, in.TransferSyntax) {
			return fail(c, http.StatusNotAcceptable,
				`instance %s is stored in transfer syntax %s and is served as multipart/related; type="application/dicom" in that syntax only (no transcoding)`,
				in.UID, in.TransferSyntax)
		}
	}
	mw, err := s.startMultipart(c, mediaDICOM)
	if err != nil {
		return err
	}
	for _, in := range t.instances {
		if err := s.copyBlobPart(c.Request().Context(), mw, in); err != nil {
			// Headers are sent: all that is left is to cut the body short.
			s.log.ErrorContext(c.Request().Context(), "dicomweb: retrieve", "instance", in.UID, "err", err)
			return nil
		}
	}
	return mw.Close()
}

func (s *Server) copyBlobPart(ctx context.Context, mw *multipart.Writer, in *instanceRecord) error {
	blob, err := s.opts.Blobs.Open(ctx, in.Blob)
	if err != nil {
		return err
	}
	defer blob.Close()
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", fmt.Sprintf("%s; transfer-syntax=%s", mediaDICOM, in.TransferSyntax))
	h.Set("Content-Location", s.instanceURL(in.Study, in.Series, in.UID))
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, blob)
	return err
}

// acceptsDICOM reports whether the Accept ranges admit the file as stored.
func acceptsDICOM(ranges []acceptRange, ts string) bool {
	if len(ranges) == 0 {
		return true
	}
	for _, r := range ranges {
		if r.q <= 0 {
			continue
		}
		switch r.media {
		case "*/*", "multipart/*":
			return true
		case "multipart/related", mediaDICOM:
			typ := strings.ToLower(r.params["type"])
			if r.media == "multipart/related" && typ != "" && typ != mediaDICOM && typ != "application/*" && typ != "*/*" {
				continue
			}
			if want := r.params["transfer-syntax"]; want == "" || want == "*" || want == ts {
				return true
			}
		}
	}
	return false
}

// startMultipart sends the headers of a multipart/related answer whose
// parts are of media type typ.
func (s *Server) startMultipart(c echo.Context, typ string) (*multipart.Writer, error) {
	mw := multipart.NewWriter(c.Response())
	var b [12]byte
	_, _ = rand.Read(b[:])
	if err := mw.SetBoundary("telehub-" + hex.EncodeToString(b[:])); err != nil {
		return nil, err
	}
	c.Response().Header().Set("Content-Type", fmt.Sprintf(`multipart/related; type="%s"; boundary=%s`, typ, mw.Boundary()))
	c.Response().WriteHeader(http.StatusOK)
	return mw, nil
}

// metadata answers the DICOM JSON of the instances a path covers, bulk
// data by reference.
func (s *Server) metadata(c echo.Context) error {
	if !acceptsJSON(c.Request().Header.Get("Accept")) {
		return fail(c, http.StatusNotAcceptable, "metadata is served as application/dicom+json only")
	}
	t, err := s.resolve(c)
	if err != nil {
		return s.resolveError(c, err)
	}
	var buf strings.Builder
	buf.WriteByte('[')
	for i, in := range t.instances {
		b, err := json.Marshal(in.Attrs)
		if err != nil {
			return s.internal(c, "encode metadata", err)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(strings.ReplaceAll(string(b), `"`+instancePlaceholder, `"`+s.instanceURL(in.Study, in.Series, in.UID)))
	}
	buf.WriteByte(']')
	return c.Blob(http.StatusOK, mediaDICOMJSON, []byte(buf.String()))
}

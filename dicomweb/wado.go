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
	"strconv"
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
func (s *Server) resolve(c echo.Context) (*target, error) { return s.resolveWith(c, false) }

// resolveWith is resolve; heads loads the instances of a study or series
// without their attributes (see index.headsOf), for handlers that serve
// the files only.
func (s *Server) resolveWith(c echo.Context, heads bool) (*target, error) {
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
		if heads {
			t.instances, err = s.studyFiles(ctx, st, series)
		} else if t.instances, err = s.idx.instancesOf(ctx, study, series); err == nil {
			sortInstances(t.instances)
		}
		if err != nil {
			return nil, err
		}
		if len(t.instances) == 0 {
			return nil, fmt.Errorf("%w: no series %s in study %s", errNotFound, series, study)
		}
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
	t, err := s.resolveWith(c, true)
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
	return s.sendFiles(c, t.instances)
}

// sendFiles writes the files of instances as a multipart/related body.
// The sizes the index holds give the body's length in advance, so that
// it is not chunked and the files go from disk to socket without passing
// through user space (sendfile) where the blobs are files.
func (s *Server) sendFiles(c echo.Context, instances []*instanceRecord) error {
	ctx := c.Request().Context()
	var b [12]byte
	_, _ = rand.Read(b[:])
	boundary := "telehub-" + hex.EncodeToString(b[:])
	heads := make([]string, len(instances))
	length := int64(len("\r\n--" + boundary + "--\r\n"))
	for i, in := range instances {
		lead := "\r\n--"
		if i == 0 {
			lead = "--"
		}
		// The header lines in the order multipart.Writer writes them.
		heads[i] = lead + boundary + "\r\nContent-Location: " + s.instanceURL(in.Study, in.Series, in.UID) +
			"\r\nContent-Type: " + mediaDICOM + "; transfer-syntax=" + in.TransferSyntax + "\r\n\r\n"
		length += int64(len(heads[i])) + in.Size
	}
	resp := c.Response()
	resp.Header().Set("Content-Type", fmt.Sprintf(`multipart/related; type="%s"; boundary=%s`, mediaDICOM, boundary))
	resp.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	resp.WriteHeader(http.StatusOK)
	files := &fileCursor{}
	defer files.close()
	for i, in := range instances {
		if _, err := io.WriteString(resp, heads[i]); err != nil {
			return nil // the client is gone
		}
		if err := s.sendFile(ctx, resp, in, files); err != nil {
			// Headers are sent: all that is left is to cut the body short
			// (the connection closes when a body is shorter than announced).
			s.log.ErrorContext(ctx, "dicomweb: retrieve", "instance", in.UID, "err", err)
			return nil
		}
	}
	_, _ = io.WriteString(resp, "\r\n--"+boundary+"--\r\n")
	return nil
}

// fileCursor keeps the file of the instance last sent open: the instances
// stored by one request follow one another in a pack, so that a study is
// read from a few open files, not one per instance.
type fileCursor struct {
	key  string
	file *fileBlob
}

func (fc *fileCursor) close() {
	if fc.file != nil {
		fc.file.Close()
		fc.key, fc.file = "", nil
	}
}

// sendFile copies an instance's bytes, exactly its indexed size, to resp.
// From a file, the file itself, positioned on the instance and limited to
// its size, goes to the connection: that is what net/http hands to
// sendfile.
func (s *Server) sendFile(ctx context.Context, resp *echo.Response, in *instanceRecord, files *fileCursor) error {
	if files.file == nil || files.key != in.Blob {
		files.close()
		blob, err := s.opts.Blobs.Open(ctx, in.Blob)
		if err != nil {
			return err
		}
		f, ok := blob.(*fileBlob)
		if !ok { // a stream (GridFS): read once, for this instance
			return streamInstance(resp, blob, in)
		}
		files.key, files.file = in.Blob, f
	}
	f := files.file
	if err := in.fits(f.Size()); err != nil {
		return err
	}
	if _, err := f.Seek(in.Offset, io.SeekStart); err != nil {
		return err
	}
	// Written past echo's Response (which has no ReadFrom) so that the
	// connection's ReadFrom is used; echo only counts the bytes for logs.
	n, err := io.Copy(resp.Writer, &io.LimitedReader{R: f.File, N: in.Size})
	resp.Size += n
	if err == nil && n < in.Size {
		err = fmt.Errorf("blob %s ended %d bytes into instance %s, the index says %d", in.Blob, n, in.UID, in.Size)
	}
	return err
}

// streamInstance copies an instance from a blob that is not a file, and
// closes it.
func streamInstance(resp *echo.Response, blob Blob, in *instanceRecord) error {
	blob, err := instanceIn(blob, in)
	if err != nil {
		return err
	}
	defer blob.Close()
	n, err := io.Copy(resp.Writer, blob)
	resp.Size += n
	if err == nil && n < in.Size {
		err = fmt.Errorf("blob %s ended %d bytes into instance %s, the index says %d", in.Blob, n, in.UID, in.Size)
	}
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

package dicomweb

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// Failure and warning reasons of a STOW response (PS3.18 table 10.5.3-2,
// PS3.4 annex B, PS3.7 annex C).
const (
	reasonOutOfResources   = 0xA700 // the blob or index store could not take it
	reasonMismatch         = 0xA900 // data set does not match: a study UID other than the URL's
	reasonCannotUnderstand = 0xC000 // not DICOM, truncated, or missing UIDs
	reasonProcessing       = 0x0110 // processing failure
	reasonDuplicate        = 0x0111 // another instance already has this SOP Instance UID
	reasonNotAuthorized    = 0x0124 // the caller may not store for this patient
	warningCoercion        = 0xB000 // stored, but the ImagingStudy could not be brought in step
)

// stowResult is the outcome of one part.
type stowResult struct {
	sopClass, sop, study, series string
	failure                      int // 0 when stored
	warning                      int
	attrs                        Dataset
	patient                      string
	rec                          *instanceRecord // the record stored (or found the same)
	placed                       bool            // its upload became a DirBlobs file
}

// stow stores the instances of a multipart/related; type="application/dicom"
// request body, one part at a time through a temporary file. Blobs are
// stored as the parts come; their index records wait in a batch committed
// once for the request (or every batchSize instances), see commit.go.
func (s *Server) stow(c echo.Context) error {
	ctx := c.Request().Context()
	acc, err := s.authorize(ctx, smart.Create)
	if err != nil {
		return s.accessError(c, err)
	}
	if !acceptsJSON(c.Request().Header.Get("Accept")) {
		return fail(c, http.StatusNotAcceptable, "STOW-RS answers application/dicom+json only")
	}
	boundary, status, msg := stowBoundary(c.Request().Header.Get("Content-Type"))
	if status != 0 {
		return fail(c, status, "%s", msg)
	}
	urlStudy := c.Param("study")
	if urlStudy != "" && !validUID(urlStudy) {
		return fail(c, http.StatusBadRequest, "%q is not a Study Instance UID", urlStudy)
	}
	if r := c.Request(); r.ContentLength > s.opts.MaxUploadBytes {
		return fail(c, http.StatusRequestEntityTooLarge, "the upload is %d bytes; the limit is %d", r.ContentLength, s.opts.MaxUploadBytes)
	}
	body := http.MaxBytesReader(c.Response(), c.Request().Body, s.opts.MaxUploadBytes)
	mr := multipart.NewReader(body, boundary)

	batch := &stowBatch{}
	defer s.abandon(batch) // on the early returns; empty once committed
	var results []*stowResult
	parts := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return s.stowTooLarge(c, batch, results)
		}
		if err != nil {
			if parts == 0 {
				return fail(c, http.StatusBadRequest, "the body is not a multipart/related message with the boundary given in Content-Type: %v", err)
			}
			results = append(results, &stowResult{failure: reasonCannotUnderstand})
			break
		}
		parts++
		res, err := s.stowPart(ctx, acc, part, urlStudy, batch)
		part.Close()
		if errors.As(err, &tooLarge) {
			return s.stowTooLarge(c, batch, results)
		}
		if err != nil {
			return s.internal(c, "store instance", err)
		}
		results = append(results, res)
	}
	if parts == 0 {
		return fail(c, http.StatusBadRequest, "the multipart body holds no part (is the boundary right?)")
	}
	if err := s.commit(ctx, batch); err != nil {
		return s.internal(c, "index instances", err)
	}
	if err := s.syncStudies(ctx, results); err != nil {
		return s.internal(c, "audit", err)
	}
	return s.stowAnswer(c, results)
}

// stowBoundary checks the request's media type: multipart/related with a
// boundary, and type application/dicom when given.
func stowBoundary(contentType string) (boundary string, status int, msg string) {
	if contentType == "" {
		return "", http.StatusUnsupportedMediaType, `STOW-RS needs Content-Type: multipart/related; type="application/dicom"`
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// Many clients leave type unquoted (type=application/dicom), which
		// RFC 2045 does not allow ('/' is not a token character); accept it.
		mt, params, err = mime.ParseMediaType(unquotedType.ReplaceAllString(contentType, `type="$1"`))
	}
	if err != nil {
		return "", http.StatusBadRequest, fmt.Sprintf("malformed Content-Type: %v", err)
	}
	if mt != "multipart/related" {
		return "", http.StatusUnsupportedMediaType, fmt.Sprintf(`STOW-RS takes multipart/related; type="application/dicom", not %s`, mt)
	}
	if t := params["type"]; t != "" && !strings.EqualFold(t, "application/dicom") {
		return "", http.StatusUnsupportedMediaType, fmt.Sprintf(`only type="application/dicom" parts are accepted, not %q`, t)
	}
	if params["boundary"] == "" {
		return "", http.StatusBadRequest, "the multipart/related Content-Type has no boundary"
	}
	return params["boundary"], 0, ""
}

// stowPart copies one part to a temporary file (computing its digest),
// checks it, and stores its blob, its index record joining batch. The
// error is for failures of the server itself; what is wrong with the part
// is in the result.
func (s *Server) stowPart(ctx context.Context, acc *access, part *multipart.Part, urlStudy string, batch *stowBatch) (*stowResult, error) {
	res := &stowResult{}
	if ct := part.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/dicom" {
			_, err := io.Copy(io.Discard, part)
			res.failure = reasonCannotUnderstand
			return res, keepTooLarge(err)
		}
	}
	tmp, err := s.stageFile()
	if err != nil {
		return nil, err
	}
	defer func() {
		if !res.placed { // else the batch closes it
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// The multipart reader hands out a few KB at a time: a large buffer in
	// front of the file turns sixteen writes per 64 KB into one.
	h := sha256.New()
	w := fileWriters.Get().(*bufio.Writer)
	w.Reset(tmp)
	_, err = io.Copy(io.MultiWriter(w, h), part)
	if err == nil {
		err = w.Flush()
		if err != nil {
			w.Reset(nil)
			fileWriters.Put(w)
			return nil, err // the disk, not the client
		}
	}
	w.Reset(nil)
	fileWriters.Put(w)
	if err != nil {
		if tooLarge := keepTooLarge(err); tooLarge != nil {
			return nil, tooLarge
		}
		res.failure = reasonCannotUnderstand // a truncated body
		return res, nil
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	in, err := parseInstance(tmp)
	if err != nil {
		s.log.InfoContext(ctx, "dicomweb: refused part", "err", err)
		res.failure = reasonCannotUnderstand
		return res, nil
	}
	// Kept for the whole request: only what the ImagingStudy's patient
	// needs, shared by the parts that agree on it.
	res.sopClass, res.sop, res.study, res.series = in.SOPClass, in.SOP, in.Study, in.Series
	res.attrs = batch.patientOf(in.Study, in.Attrs)
	if urlStudy != "" && in.Study != urlStudy {
		res.failure = reasonMismatch
		return res, nil
	}
	if !acc.mayUpdate && !batch.creates(in.Study) {
		if _, err := s.idx.study(ctx, in.Study); err == nil {
			res.failure = reasonNotAuthorized // adding to a stored study updates its ImagingStudy
			return res, nil
		} else if !isNotFound(err) {
			return nil, err
		}
		batch.created(in.Study)
	}
	if acc.restricted() {
		// Only callers limited to some patients pay for this look-up.
		patient, err := s.findPatient(ctx, in.Attrs)
		if err != nil {
			return nil, err
		}
		if patient == "" || !acc.seesPatient(patient) {
			res.failure = reasonNotAuthorized
			return res, nil
		}
	}
	res.failure, err = s.storeInstance(ctx, tmp, in, digest, res, batch)
	return res, err
}

// stageFile creates the temporary file an upload is written to: in the
// blob folder itself when blobs are files (so that storing it is a
// rename), in TempDir otherwise.
func (s *Server) stageFile() (*os.File, error) {
	if d, ok := s.opts.Blobs.(*DirBlobs); ok {
		return d.stage()
	}
	return os.CreateTemp(s.opts.TempDir, "stow-*.dcm")
}

// fileWriters buffer the uploads written to their temporary files.
var fileWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}

func keepTooLarge(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return nil
}

// storeInstance puts the blob and adds the instance record to batch.
// It returns a failure reason, or 0; the commit may still turn a pending
// instance into a failure (see commit).
func (s *Server) storeInstance(ctx context.Context, file *os.File, in *instanceFile, digest string, res *stowResult, batch *stowBatch) (int, error) {
	if batch.holds(in.SOP) {
		// The same SOP Instance UID twice in one request: the second is
		// checked against the first's record, so commit what came before.
		if err := s.commit(ctx, batch); err != nil {
			return 0, err
		}
	}
	existing, err := s.idx.instance(ctx, in.SOP)
	switch {
	case err == nil:
		if existing.SHA256 == digest {
			res.rec = existing.head()
			return 0, nil // the same instance again: accepted, nothing to do
		}
		if !s.opts.Overwrite || existing.Study != in.Study || existing.Series != in.Series {
			return reasonDuplicate, nil
		}
	case errors.Is(err, store.ErrNotFound):
		existing = nil
	default:
		return reasonProcessing, fmt.Errorf("read instance %s: %w", in.SOP, err)
	}
	key := in.SOP + "-" + digest[:16]
	size, err := s.putBlob(ctx, key, file, batch, res)
	if err != nil {
		s.log.ErrorContext(ctx, "dicomweb: put blob", "key", key, "err", err)
		return reasonOutOfResources, nil
	}
	rec := &instanceRecord{Study: in.Study, Series: in.Series, UID: in.SOP, SOPClass: in.SOPClass,
		TransferSyntax: in.TransferSyntax, Frames: in.Frames, Rows: in.Rows, Columns: in.Columns,
		BitsAllocated: in.BitsAllocated, Samples: in.Samples, Encapsulated: in.Encapsulated,
		PixelOffset: in.PixelOffset, PixelLength: in.PixelLength, Blob: key, Size: size, SHA256: digest,
		Attrs: in.Attrs}
	res.rec = rec
	batch.add(&pending{res: res, rec: rec, existing: existing})
	if len(batch.items) >= batchSize {
		return 0, s.commit(ctx, batch)
	}
	return 0, nil
}

// putBlob stores the checked upload under key. A file on a DirBlobs is
// renamed into place, and it and its folder synced at the commit; other
// stores copy it.
func (s *Server) putBlob(ctx context.Context, key string, file *os.File, batch *stowBatch, res *stowResult) (int64, error) {
	info, err := file.Stat()
	if err != nil {
		return 0, err
	}
	if d, ok := s.opts.Blobs.(*DirBlobs); ok {
		folders, err := d.place(key, file)
		if err != nil {
			return 0, err
		}
		batch.placed(file, folders)
		res.placed = true
		return info.Size(), nil
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	put, err := s.opts.Blobs.Put(ctx, key, file)
	return put.Size, err
}

// syncStudies refreshes the study records and ImagingStudy of every study
// that received an instance, and audits the store per study.
func (s *Server) syncStudies(ctx context.Context, results []*stowResult) error {
	p := principalOf(ctx)
	latest := map[string]*stowResult{}
	added := map[string][]*instanceRecord{}
	var order []string
	for _, r := range results {
		if r.failure != 0 || r.study == "" {
			continue
		}
		if _, ok := latest[r.study]; !ok {
			order = append(order, r.study)
		}
		latest[r.study] = r
		if r.rec != nil {
			added[r.study] = append(added[r.study], r.rec)
		}
	}
	if len(order) == 0 {
		return s.record(ctx, audit.Create(p, audit.Target{Type: "ImagingStudy"}, "", audit.MinorFailure))
	}
	for _, study := range order {
		r := latest[study]
		id, patient, err := s.syncStudy(ctx, study, r.attrs, added[study])
		outcome := audit.Success
		if err != nil {
			s.log.ErrorContext(ctx, "dicomweb: bring ImagingStudy in step", "study", study, "err", err)
			for _, other := range results {
				if other.study == study && other.failure == 0 {
					other.warning = warningCoercion
				}
			}
			outcome = audit.SeriousFailure
		}
		if err := s.record(ctx, audit.Create(p, audit.Target{Type: "ImagingStudy", ID: id}, patientRef(patient), outcome)); err != nil {
			return err
		}
	}
	return nil
}

// stowAnswer writes the PS3.18 response: 200 all stored, 202 some stored
// or stored with warnings, 409 none stored.
func (s *Server) stowAnswer(c echo.Context, results []*stowResult) error {
	body := Dataset{}
	var stored, failed []any
	studies := map[string]bool{}
	warned := false
	for _, r := range results {
		item := Dataset{}
		if r.sopClass != "" {
			item["00081150"] = Attr{VR: "UI", Value: []any{r.sopClass}}
		}
		if r.sop != "" {
			item["00081155"] = Attr{VR: "UI", Value: []any{r.sop}}
		}
		if r.failure != 0 {
			item["00081197"] = Attr{VR: "US", Value: []any{r.failure}}
			failed = append(failed, item)
			continue
		}
		item[tagRetrieveURL] = Attr{VR: "UR", Value: []any{s.instanceURL(r.study, r.series, r.sop)}}
		if r.warning != 0 {
			item["00081196"] = Attr{VR: "US", Value: []any{r.warning}}
			warned = true
		}
		studies[r.study] = true
		stored = append(stored, item)
	}
	if len(studies) == 1 {
		for study := range studies {
			body[tagRetrieveURL] = Attr{VR: "UR", Value: []any{s.studyURL(study)}}
		}
	}
	if len(stored) > 0 {
		body["00081199"] = Attr{VR: "SQ", Value: stored}
	}
	if len(failed) > 0 {
		body["00081198"] = Attr{VR: "SQ", Value: failed}
	}
	status := http.StatusOK
	switch {
	case len(stored) == 0:
		status = http.StatusConflict
	case len(failed) > 0 || warned:
		status = http.StatusAccepted
	}
	out, err := json.Marshal(body)
	if err != nil {
		return s.internal(c, "encode STOW response", err)
	}
	return c.Blob(status, mediaDICOMJSON, out)
}

// stowTooLarge answers 413 once the body passed MaxUploadBytes; the parts
// read before were complete and stay stored, and are audited.
func (s *Server) stowTooLarge(c echo.Context, batch *stowBatch, results []*stowResult) error {
	if err := s.commit(c.Request().Context(), batch); err != nil {
		return s.internal(c, "index instances", err)
	}
	if err := s.syncStudies(c.Request().Context(), results); err != nil {
		return s.internal(c, "audit", err)
	}
	return fail(c, http.StatusRequestEntityTooLarge, "the upload is larger than %d bytes", s.opts.MaxUploadBytes)
}

var unquotedType = regexp.MustCompile(`(?i)type=([^";\s]+)`)

const (
	mediaDICOM     = "application/dicom"
	mediaDICOMJSON = "application/dicom+json"
)

// acceptsJSON reports whether an Accept header admits application/dicom+json.
func acceptsJSON(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, r := range parseAccept(accept) {
		if r.q > 0 && (r.media == "*/*" || r.media == "application/*" || r.media == mediaDICOMJSON || r.media == "application/json") {
			return true
		}
	}
	return false
}

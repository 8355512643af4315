package dicomweb

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/smart"
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
	accession                    string
	failure                      int // 0 when stored
	warning                      int
	attrs                        Dataset
	patient                      string
	rec                          *instanceRecord // the record stored (or found the same)
}

// stow stores the instances of a multipart/related; type="application/dicom"
// request body, one part at a time through the request's spool (see
// spool.go). Blobs are stored as the parts come; their index records wait
// in a batch committed once for the request (or every batchSize
// instances), see commit.go.
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
	// The multipart reader reads 4 KB at a time: a large buffer in front
	// of it turns a hundred reads from the connection into one or two.
	in := bodyReaders.Get().(*bufio.Reader)
	in.Reset(body)
	defer func() {
		in.Reset(nil)
		bodyReaders.Put(in)
	}()
	mr := multipart.NewReader(in, boundary)

	batch := s.newBatch()
	defer s.abandon(batch) // fails what the early returns leave uncommitted, gives the spool back
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
	if what, err := s.finish(ctx, batch, results); err != nil {
		return s.internal(c, what, err)
	}
	return s.stowAnswer(c, results)
}

// finish commits the batch and brings the studies' ImagingStudy in step,
// their links looked up meanwhile. On failure it names the step.
func (s *Server) finish(ctx context.Context, batch *stowBatch, results []*stowResult) (step string, err error) {
	prep := s.prepareStudies(ctx, results)
	defer prep.end()
	if err := s.commit(ctx, batch); err != nil {
		return "index instances", err
	}
	if err := s.syncStudies(ctx, results, prep); err != nil {
		return "audit", err
	}
	return "", nil
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

// stowPart writes one part to the request's spool (computing its digest),
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
	sp := batch.spool
	start, n, digest, err := sp.write(part)
	kept := false
	defer func() {
		if !kept {
			if err := sp.drop(); err != nil {
				s.log.ErrorContext(ctx, "dicomweb: drop refused part", "err", err)
			}
		}
	}()
	switch {
	case errors.Is(err, errSpoolDisk):
		return nil, err // the disk, not the client
	case keepTooLarge(err) != nil:
		return nil, err
	case err != nil:
		res.failure = reasonCannotUnderstand // a truncated body
		return res, nil
	}
	in, err := parseInstance(sp.section(start, n))
	if err != nil {
		s.log.InfoContext(ctx, "dicomweb: refused part", "err", err)
		res.failure = reasonCannotUnderstand
		return res, nil
	}
	// Kept for the whole request: only what the ImagingStudy's patient
	// needs, shared by the parts that agree on it.
	res.sopClass, res.sop, res.study, res.series = in.SOPClass, in.SOP, in.Study, in.Series
	res.attrs = batch.patientOf(in.Study, in.Attrs)
	res.accession = in.Attrs.First(tagAccessionNumber)
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
	up := upload{start: start, size: n, digest: digest}
	res.failure, kept, err = s.storeInstance(ctx, sp, up, in, res, batch)
	return res, err
}

// bodyReaders buffer the bodies of STOW requests.
var bodyReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}

func keepTooLarge(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return nil
}

// upload is a checked part in the spool.
type upload struct {
	start, size int64
	digest      string
}

// storeInstance stores the blob of a checked part (kept in the pack, or
// put to the blob store) and adds the instance record to batch. It
// returns a failure reason, or 0, and whether the part was kept in the
// pack; the commit may still turn a pending instance into a failure (see
// commit).
func (s *Server) storeInstance(ctx context.Context, sp *spool, up upload, in *instanceFile, res *stowResult, batch *stowBatch) (failure int, kept bool, err error) {
	waiting := batch.pendingOf(in.SOP)
	var existing *instanceRecord
	if waiting != nil {
		// The same SOP Instance UID twice in one request: the second is
		// checked against the first, as against a stored instance.
		existing = waiting.rec
	} else if existing, err = s.idx.instance(ctx, in.SOP); isNotFound(err) {
		existing = nil
	} else if err != nil {
		return reasonProcessing, false, fmt.Errorf("read instance %s: %w", in.SOP, err)
	}
	if existing != nil {
		if existing.SHA256 == up.digest {
			res.rec = existing.head()
			if waiting != nil {
				waiting.also = append(waiting.also, res) // stored if and when the first is
			}
			return 0, false, nil // the same instance again: accepted, nothing to do
		}
		if !s.opts.Overwrite || existing.Study != in.Study || existing.Series != in.Series {
			return reasonDuplicate, false, nil
		}
	}
	rec := &instanceRecord{Study: in.Study, Series: in.Series, UID: in.SOP, SOPClass: in.SOPClass,
		TransferSyntax: in.TransferSyntax, Frames: in.Frames, Rows: in.Rows, Columns: in.Columns,
		BitsAllocated: in.BitsAllocated, Samples: in.Samples, Encapsulated: in.Encapsulated,
		PixelOffset: in.PixelOffset, PixelLength: in.PixelLength, Size: up.size, SHA256: up.digest,
		InstanceNumber: in.Attrs.First(tagInstanceNumber), Attrs: in.Attrs}
	if sp.packs() {
		rec.Blob, rec.Offset = sp.key, up.start
		sp.keep(up.size)
		kept = true
	} else {
		rec.Blob = in.SOP + "-" + up.digest[:16]
		if _, err := s.opts.Blobs.Put(ctx, rec.Blob, sp.section(up.start, up.size)); err != nil {
			s.log.ErrorContext(ctx, "dicomweb: put blob", "key", rec.Blob, "err", err)
			return reasonOutOfResources, false, nil
		}
	}
	res.rec = rec
	if waiting != nil {
		// Options.Overwrite: this content replaces the first's, which the
		// commit will not index.
		s.dropBlob(ctx, waiting.rec.Blob)
		waiting.also = append(waiting.also, waiting.res)
		waiting.res, waiting.rec = res, rec
		return 0, kept, nil
	}
	batch.add(&pending{res: res, rec: rec, existing: existing})
	if len(batch.items) >= batchSize {
		return 0, kept, s.commit(ctx, batch)
	}
	return 0, kept, nil
}

// studyParts are the parts of a request stored into one study.
type studyParts struct {
	latest *stowResult // its last part, which speaks for it
	added  []*instanceRecord
}

// studiesOf groups the stored parts of a request by study, in the order
// the studies came.
func studiesOf(results []*stowResult) []*studyParts {
	var out []*studyParts
	index := map[string]*studyParts{}
	for _, r := range results {
		if r.failure != 0 || r.study == "" {
			continue
		}
		st := index[r.study]
		if st == nil {
			st = &studyParts{}
			index[r.study] = st
			out = append(out, st)
		}
		st.latest = r
		if r.rec != nil {
			st.added = append(st.added, r.rec)
		}
	}
	return out
}

// syncStudies refreshes the study records and ImagingStudy of every study
// that received an instance, with the links looked up meanwhile, and
// audits the store per study.
func (s *Server) syncStudies(ctx context.Context, results []*stowResult, prep *studyPrep) error {
	p := principalOf(ctx)
	studies := studiesOf(results)
	if len(studies) == 0 {
		return s.record(ctx, audit.Create(p, audit.Target{Type: "ImagingStudy"}, "", audit.MinorFailure))
	}
	for _, st := range studies {
		study := st.latest.study
		var id string
		links, err := prep.links[study].wait()
		if err == nil {
			id, err = s.syncStudyShared(ctx, study, links, st.added, prep.ticket)
		}
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
		if err := s.record(ctx, audit.Create(p, audit.Target{Type: "ImagingStudy", ID: id}, patientRef(links.patient), outcome)); err != nil {
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
	if what, err := s.finish(c.Request().Context(), batch, results); err != nil {
		return s.internal(c, what, err)
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

package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/sqlite"
)

// tokenTable verifies the opaque tokens of the tests: each names the
// scopes and patient context of a principal. Token verification itself
// is package smart's, tested there.
type tokenTable map[string]*smart.AccessToken

func (tt tokenTable) VerifyAccessToken(_ context.Context, token string) (*smart.AccessToken, error) {
	if at, ok := tt[token]; ok {
		return at, nil
	}
	return nil, smart.ErrInvalidToken
}

func (tt tokenTable) add(t testing.TB, token, scopes, patient string) {
	t.Helper()
	s, err := smart.ParseScopes(scopes)
	if err != nil {
		t.Fatal(err)
	}
	tt[token] = &smart.AccessToken{ID: token, Subject: token, ClientID: "test-" + token, Scopes: s, Patient: patient}
}

// consentTable is a consent policy denying fixed patients to everyone.
type consentTable struct{ denied []string }

func (c *consentTable) Restrictions(context.Context, *authz.Principal) (authz.Restrictions, error) {
	return authz.Restrictions{DeniedPatients: c.denied}, nil
}

// env is a DICOMweb server on one backend, served over real HTTP.
type env struct {
	t         testing.TB
	url       string
	srv       *Server
	fhir      *fhir.Server
	fhirStore store.Store
	index     store.Store
	blobs     Blobs
	tokens    tokenTable
	consent   *consentTable
}

// backend opens the stores of one backend for a test.
type backend struct {
	name string
	open func(t testing.TB) (index, fhirStore store.Store, blobs Blobs)
}

func sqliteBackend() backend {
	return backend{name: "sqlite", open: func(t testing.TB) (store.Store, store.Store, Blobs) {
		dir := t.TempDir()
		idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "dicom.db"))
		if err != nil {
			t.Fatal(err)
		}
		fs, err := sqlite.Open(context.Background(), filepath.Join(dir, "telehub.db"))
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := NewDirBlobs(filepath.Join(dir, "dicom"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close(); fs.Close() })
		return idx, fs, blobs
	}}
}

var mongoDBs atomic.Int64

func mongoBackend(uri string) backend {
	return backend{name: "mongo", open: func(t testing.TB) (store.Store, store.Store, Blobs) {
		n := mongoDBs.Add(1)
		idx, err := mongo.Open(context.Background(), fmt.Sprintf("%sdicom%d", uri, n))
		if err != nil {
			t.Fatal(err)
		}
		fs, err := mongo.Open(context.Background(), fmt.Sprintf("%sfhir%d", uri, n))
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := OpenGridFSBlobs(context.Background(), fmt.Sprintf("%sblobs%d", uri, n))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close(); fs.Close(); blobs.Close() })
		return idx, fs, blobs
	}}
}

func newEnv(t testing.TB, b backend, mutate ...func(*Options)) *env {
	t.Helper()
	idx, fs, blobs := b.open(t)
	logger := slog.New(slog.NewTextHandler(testLogOutput(), nil))
	fs = store.WithPieces(fs, idx)
	fsrv, err := fhir.New(fhir.Options{Store: fs, BaseURL: "http://telehub.test/fhir", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audit.NewRecorder(fs, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	ev := &env{t: t, fhir: fsrv, fhirStore: fs, index: idx, blobs: blobs, tokens: tokenTable{}, consent: &consentTable{}}
	ev.tokens.add(t, "admin", "system/*.cruds", "")
	e := echo.New()
	hs := httptest.NewServer(e)
	t.Cleanup(hs.Close)
	ev.url = hs.URL
	opts := Options{Index: idx, Blobs: blobs, FHIR: fsrv, BaseURL: hs.URL + "/dicom-web",
		Auth:    &authz.Authenticator{Verifier: ev.tokens, Realm: "telehub", Logger: logger},
		Consent: ev.consent, Audit: rec, TempDir: t.TempDir(), Logger: logger}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount(e)
	ev.srv = srv
	return ev
}

// do sends a request as token; headers come as name, value pairs.
func (ev *env) do(token, method, path string, body io.Reader, headers ...string) (*http.Response, []byte) {
	ev.t.Helper()
	req, err := http.NewRequest(method, ev.url+path, body)
	if err != nil {
		ev.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ev.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ev.t.Fatal(err)
	}
	return resp, b
}

// stow posts files as one multipart request; it returns the status and
// the decoded response.
func (ev *env) stow(token, path string, files ...[]byte) (int, Dataset) {
	ev.t.Helper()
	body, ct := multipartBody(files...)
	resp, b := ev.do(token, "POST", "/dicom-web"+path, bytes.NewReader(body), "Content-Type", ct, "Accept", mediaDICOMJSON)
	var d Dataset
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), mediaDICOMJSON) {
		if err := decodeRecord(b, &d); err != nil {
			ev.t.Fatalf("STOW answer is not DICOM JSON: %v\n%s", err, b)
		}
	}
	return resp.StatusCode, d
}

// sharedBoundary is the boundary of every multipart body the tests make,
// so that a table can pair one Content-Type with several bodies.
const sharedBoundary = "telehub-test-boundary-7d3f"

func multipartBody(files ...[]byte) ([]byte, string) {
	return multipartBodyWith(sharedBoundary, files...)
}

func multipartBodyWith(boundary string, files ...[]byte) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.SetBoundary(boundary)
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", mediaDICOM)
		w, _ := mw.CreatePart(h)
		w.Write(f)
	}
	mw.Close()
	return buf.Bytes(), fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary())
}

// getJSON fetches a DICOM JSON array.
func (ev *env) getJSON(token, path string) []Dataset {
	ev.t.Helper()
	resp, b := ev.do(token, "GET", path, nil, "Accept", mediaDICOMJSON)
	if resp.StatusCode != http.StatusOK {
		ev.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var out []Dataset
	if err := decodeRecord(b, &out); err != nil {
		ev.t.Fatalf("GET %s: %v\n%s", path, err, b)
	}
	return out
}

// parts splits a multipart answer into its parts' content types and bodies.
func parts(t *testing.T, resp *http.Response, body []byte) (types []string, bodies [][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("not multipart/related: %q (%v)\n%.300s", resp.Header.Get("Content-Type"), err, body)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, b)
	}
}

// spec describes an instance the tests make with the DICOM library.
type spec struct {
	study, series, sop       string
	patientID, patientName   string
	issuer                   string
	modality, date, time     string
	accession, studyID       string
	seriesNumber, instanceNo string
	rows, cols, frames, bits int
	samples                  int
	seed                     int // varies the pixels, hence the content
	transferSyntax           string
	omit                     []tag.Tag
	noPixels                 bool   // leave Pixel Data out (a caller appends it)
	document                 []byte // an Encapsulated Document (OB) to add
}

const testSOPClass = "1.2.840.10008.5.1.4.1.1.7" // Secondary Capture

func (s spec) withDefaults() spec {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.study, "1.2.826.0.1.3680043.8.498.1")
	def(&s.series, s.study+".1")
	def(&s.sop, s.series+".1")
	def(&s.patientID, "PID-1")
	def(&s.patientName, "Doe^John")
	def(&s.modality, "CT")
	def(&s.date, "20240115")
	def(&s.time, "101500")
	def(&s.seriesNumber, "1")
	def(&s.instanceNo, "1")
	def(&s.transferSyntax, tsExplicitLE)
	if s.rows == 0 {
		s.rows, s.cols = 4, 4
	}
	if s.frames == 0 {
		s.frames = 1
	}
	if s.bits == 0 {
		s.bits = 16
	}
	if s.samples == 0 {
		s.samples = 1
	}
	return s
}

// instance writes a DICOM file for s with native pixel data.
func instance(t testing.TB, s spec) []byte {
	t.Helper()
	s = s.withDefaults()
	el := func(tg tag.Tag, v any) *dicom.Element {
		e, err := dicom.NewElement(tg, v)
		if err != nil {
			t.Fatalf("element %v: %v", tg, err)
		}
		return e
	}
	var frames []*frame.Frame
	for f := 0; f < s.frames && !s.noPixels; f++ {
		nf := frame.NativeFrame{Rows: s.rows, Cols: s.cols, BitsPerSample: s.bits}
		for p := 0; p < s.rows*s.cols; p++ {
			px := make([]int, s.samples)
			for i := range px {
				px[i] = (p*7 + p*p*f + i*11 + s.seed*13) % (1 << min(s.bits, 12))
			}
			nf.Data = append(nf.Data, px)
		}
		frames = append(frames, &frame.Frame{NativeData: nf})
	}
	photometric := "MONOCHROME2"
	if s.samples == 3 {
		photometric = "RGB"
	}
	elems := []*dicom.Element{
		el(tag.MediaStorageSOPClassUID, []string{testSOPClass}),
		el(tag.MediaStorageSOPInstanceUID, []string{s.sop}),
		el(tag.TransferSyntaxUID, []string{s.transferSyntax}),
		el(tag.SpecificCharacterSet, []string{"ISO_IR 192"}),
		el(tag.SOPClassUID, []string{testSOPClass}),
		el(tag.SOPInstanceUID, []string{s.sop}),
		el(tag.StudyDate, []string{s.date}),
		el(tag.StudyTime, []string{s.time}),
		el(tag.AccessionNumber, []string{s.accession}),
		el(tag.Modality, []string{s.modality}),
		el(tag.ReferringPhysicianName, []string{"House^Gregory"}),
		el(tag.StudyDescription, []string{"Test study"}),
		el(tag.PatientName, []string{s.patientName}),
		el(tag.PatientID, []string{s.patientID}),
		el(tag.PatientBirthDate, []string{"19800412"}),
		el(tag.PatientSex, []string{"F"}),
		el(tag.StudyInstanceUID, []string{s.study}),
		el(tag.SeriesInstanceUID, []string{s.series}),
		el(tag.StudyID, []string{s.studyID}),
		el(tag.SeriesNumber, []string{s.seriesNumber}),
		el(tag.InstanceNumber, []string{s.instanceNo}),
		el(tag.SamplesPerPixel, []int{s.samples}),
		el(tag.PhotometricInterpretation, []string{photometric}),
		el(tag.NumberOfFrames, []string{fmt.Sprint(s.frames)}),
		el(tag.Rows, []int{s.rows}),
		el(tag.Columns, []int{s.cols}),
		el(tag.BitsAllocated, []int{s.bits}),
		el(tag.BitsStored, []int{min(s.bits, 12)}),
		el(tag.HighBit, []int{min(s.bits, 12) - 1}),
		el(tag.PixelRepresentation, []int{0}),
		el(tag.PixelData, dicom.PixelDataInfo{Frames: frames}),
	}
	if s.samples == 3 {
		elems = append(elems[:len(elems)-1], el(tag.PlanarConfiguration, []int{0}), elems[len(elems)-1])
	}
	if s.issuer != "" {
		elems = append(elems[:15], append([]*dicom.Element{el(tag.IssuerOfPatientID, []string{s.issuer})}, elems[15:]...)...)
	}
	if s.document != nil {
		elems = append(elems[:len(elems)-1], el(tag.EncapsulatedDocument, s.document), elems[len(elems)-1])
	}
	if s.noPixels {
		elems = elems[:len(elems)-1]
	}
	var kept []*dicom.Element
	for _, e := range elems {
		omitted := false
		for _, o := range s.omit {
			if e.Tag == o {
				omitted = true
			}
		}
		if !omitted {
			kept = append(kept, e)
		}
	}
	var buf bytes.Buffer
	if err := dicom.Write(&buf, dicom.Dataset{Elements: kept}, dicom.SkipVRVerification()); err != nil {
		t.Fatalf("write DICOM: %v", err)
	}
	return buf.Bytes()
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

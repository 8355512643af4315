package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// The resource types of the DICOM index (never visible through FHIR: the
// index is a store of its own).
const (
	typeStudy    = "DicomStudy"
	typeSeries   = "DicomSeries"
	typeInstance = "DicomInstance"
)

// Index parameters besides the DICOM keywords they are named after.
const (
	paramNameWord = "PatientNameWord" // each word of PatientName, for fuzzy matching
	paramPatient  = "patient"         // "Patient/id" of the FHIR Patient
)

// studyRecord is a study of the index: its patient and study attributes
// (those of the latest instance stored), and the counts QIDO computes.
type studyRecord struct {
	UID          string
	Attrs        Dataset
	Series       int
	Instances    int
	Modalities   []string
	SOPClasses   []string
	Patient      string // FHIR Patient id
	ImagingStudy string // FHIR ImagingStudy id
	version      int64
}

type seriesRecord struct {
	Study, UID string
	Attrs      Dataset
	Instances  int
	version    int64
}

type instanceRecord struct {
	Study, Series, UID, SOPClass, TransferSyntax  string
	Frames, Rows, Columns, BitsAllocated, Samples int
	Encapsulated                                  bool
	PixelOffset, PixelLength                      int64
	// Blob holds the file: the whole blob, or Size bytes from Offset in
	// a pack (see spool).
	Blob   string
	Offset int64 `json:",omitempty"`
	Size   int64
	SHA256 string
	// InstanceNumber repeats the attribute's value ahead of Attrs, so that
	// listing a study's files reads the head of each record only (see
	// decodeHead). Attrs must stay the last field.
	InstanceNumber string `json:",omitempty"`
	Attrs          Dataset
	version        int64
}

// decodeRecord decodes a record body, numbers kept as written.
func decodeRecord(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(v)
}

// index is the DICOM index over a store.Store.
type index struct{ st store.Store }

func (x index) read(ctx context.Context, typ, uid string, v any) (int64, error) {
	res, err := x.st.Read(ctx, typ, uid)
	if err != nil {
		return 0, err
	}
	if res.Deleted {
		return res.VersionID, store.ErrNotFound
	}
	if err := decodeRecord(res.Body, v); err != nil {
		return 0, fmt.Errorf("dicomweb: decode %s/%s: %w", typ, uid, err)
	}
	return res.VersionID, nil
}

func (x index) study(ctx context.Context, uid string) (*studyRecord, error) {
	r := &studyRecord{}
	v, err := x.read(ctx, typeStudy, uid, r)
	r.version = v
	return r, err
}

func (x index) series(ctx context.Context, uid string) (*seriesRecord, error) {
	r := &seriesRecord{}
	v, err := x.read(ctx, typeSeries, uid, r)
	r.version = v
	return r, err
}

func (x index) instance(ctx context.Context, uid string) (*instanceRecord, error) {
	r := &instanceRecord{}
	v, err := x.read(ctx, typeInstance, uid, r)
	r.version = v
	return r, err
}

// write stores a record as version (compare-and-set, see store.Commit).
func (x index) write(ctx context.Context, typ, uid string, version int64, rec any, entries []store.IndexEntry) error {
	w, err := recordWrite(typ, uid, version, time.Now().UTC().Truncate(time.Millisecond), rec, entries)
	if err != nil {
		return err
	}
	return x.st.Commit(ctx, []store.Write{w})
}

// recordWrite is the store write of a record as version: a create for
// version 1, an update (compare-and-set on version-1) otherwise.
func recordWrite(typ, uid string, version int64, at time.Time, rec any, entries []store.IndexEntry) (store.Write, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return store.Write{}, fmt.Errorf("dicomweb: encode %s/%s: %w", typ, uid, err)
	}
	method := "PUT"
	if version == 1 {
		method = "POST"
	}
	return store.Write{Type: typ, ID: uid, Version: version, LastUpdated: at, Method: method, Body: body, Index: entries}, nil
}

// each calls fn for every current record matching q, page by page.
func (x index) each(ctx context.Context, q store.Query, fn func(store.Resource) (bool, error)) error {
	q.Count = 200
	for {
		page, err := x.st.Search(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range page.Resources {
			more, err := fn(r)
			if err != nil || !more {
				return err
			}
		}
		if !page.More {
			return nil
		}
		q.Cursor, q.Offset = page.Next, 0
	}
}

func tokenClause(param string, values ...string) store.Clause {
	var c store.Clause
	for _, v := range values {
		c.Any = append(c.Any, store.Condition{Param: param, Op: store.OpExact, Text: v})
	}
	return c
}

func token(param, value string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindToken, Text: value}
}

func str(param, value string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindString, Text: search.Fold(value)}
}

// nameWords splits a person name into its words (components split on '^',
// '=' and spaces), folded.
func nameWords(pn string) []string {
	return strings.FieldsFunc(search.Fold(pn), func(r rune) bool { return r == '^' || r == '=' || r == ' ' || r == ',' })
}

func (r *studyRecord) entries() []store.IndexEntry {
	out := []store.IndexEntry{token(tagKeyword[tagStudyInstanceUID], r.UID)}
	add := func(key string, mk func(string, string) store.IndexEntry) {
		for _, v := range r.Attrs[key].Strings() {
			if v != "" {
				out = append(out, mk(tagKeyword[key], v))
			}
		}
	}
	add(tagPatientID, token)
	add(tagAccessionNumber, token)
	add(tagStudyID, token)
	add(tagPatientName, str)
	add(tagReferringPhysicianName, str)
	for _, w := range nameWords(r.Attrs.First(tagPatientName)) {
		out = append(out, store.IndexEntry{Param: paramNameWord, Kind: store.KindString, Text: w})
	}
	for _, m := range r.Modalities {
		out = append(out, token(tagKeyword[tagModalitiesInStudy], m))
	}
	if lo, hi, ok := dateRange(r.Attrs.First(tagStudyDate)); ok {
		out = append(out, store.IndexEntry{Param: tagKeyword[tagStudyDate], Kind: store.KindDate, Low: lo, High: hi})
	}
	if r.Patient != "" {
		out = append(out, store.IndexEntry{Param: paramPatient, Kind: store.KindReference, Text: "Patient/" + r.Patient})
	}
	return out
}

func (r *seriesRecord) entries() []store.IndexEntry {
	out := []store.IndexEntry{token("StudyInstanceUID", r.Study), token("SeriesInstanceUID", r.UID)}
	if m := r.Attrs.First(tagModality); m != "" {
		out = append(out, token("Modality", m))
	}
	if n := r.Attrs.First(tagSeriesNumber); n != "" {
		out = append(out, token("SeriesNumber", n))
	}
	return out
}

func (r *instanceRecord) entries() []store.IndexEntry {
	out := []store.IndexEntry{token("StudyInstanceUID", r.Study), token("SeriesInstanceUID", r.Series),
		token("SOPInstanceUID", r.UID), token("SOPClassUID", r.SOPClass)}
	if n := r.Attrs.First(tagInstanceNumber); n != "" {
		out = append(out, token("InstanceNumber", n))
	}
	return out
}

// dateRange turns a DA value into [midnight, next midnight) in Unix
// milliseconds (UTC: DICOM dates carry no zone).
func dateRange(da string) (low, high float64, ok bool) {
	t, err := time.Parse("20060102", strings.TrimSpace(da))
	if err != nil {
		return 0, 0, false
	}
	return float64(t.UnixMilli()), float64(t.AddDate(0, 0, 1).UnixMilli()), true
}

// maxConflicts bounds the compare-and-set retries of one aggregate update.
const maxConflicts = 50

// moveSeries sets a series record's attributes and adds n to its
// instance count, creating it when needed (created then true).
func (x index) moveSeries(ctx context.Context, uid, study string, attrs Dataset, n int) (created bool, err error) {
	for range maxConflicts {
		rec, err := x.series(ctx, uid)
		if err != nil && !isNotFound(err) {
			return false, err
		}
		created = rec.UID == ""
		rec.Study, rec.UID, rec.Attrs = study, uid, attrs
		rec.Instances += n
		err = x.write(ctx, typeSeries, uid, rec.version+1, rec, rec.entries())
		if !errors.Is(err, store.ErrConflict) {
			return created, err
		}
	}
	return false, fmt.Errorf("dicomweb: series %s: too many concurrent updates", uid)
}

// moveStudy sets a study record's attributes, adds to its counts and
// modalities, creating it when needed.
func (x index) moveStudy(ctx context.Context, uid string, attrs Dataset, instances, series int, modalities []string) error {
	for range maxConflicts {
		rec, err := x.study(ctx, uid)
		if err != nil && !isNotFound(err) {
			return err
		}
		rec.UID, rec.Attrs = uid, attrs
		rec.Instances += instances
		rec.Series += series
		for _, m := range modalities {
			if !slices.Contains(rec.Modalities, m) {
				rec.Modalities = append(rec.Modalities, m)
			}
		}
		slices.Sort(rec.Modalities)
		err = x.write(ctx, typeStudy, uid, rec.version+1, rec, rec.entries())
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("dicomweb: study %s: too many concurrent updates", uid)
}

// setLinks records the FHIR Patient and ImagingStudy of a study (either
// left as is when empty), retrying on concurrent writers. It returns the
// study record as stored. The counts are the commits' (see commit.go).
func (x index) setLinks(ctx context.Context, uid, patient, imagingStudy string) (*studyRecord, error) {
	for range maxConflicts {
		rec, err := x.study(ctx, uid)
		if err != nil {
			return nil, err
		}
		if (patient == "" || rec.Patient == patient) && (imagingStudy == "" || rec.ImagingStudy == imagingStudy) {
			return rec, nil
		}
		if patient != "" {
			rec.Patient = patient
		}
		if imagingStudy != "" {
			rec.ImagingStudy = imagingStudy
		}
		err = x.write(ctx, typeStudy, uid, rec.version+1, rec, rec.entries())
		if err == nil {
			rec.version++
			return rec, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("dicomweb: study %s: too many concurrent updates", uid)
}

// head is the record without attributes but InstanceNumber (which the
// ImagingStudy lists): what a STOW keeps of each instance until it
// answers, so that a request's memory grows little with its parts.
func (r *instanceRecord) head() *instanceRecord {
	h := *r
	h.Attrs = Dataset{}
	if n, ok := r.Attrs[tagInstanceNumber]; ok {
		h.Attrs[tagInstanceNumber] = n
	}
	return &h
}

// instanceHead is the part of an instance record retrieving its file
// needs, as records written before InstanceNumber led Attrs hold it.
type instanceHead struct {
	Study, Series, UID, SOPClass, TransferSyntax string
	Blob                                         string
	Offset, Size                                 int64
	SHA256                                       string
	Attrs                                        struct {
		InstanceNumber *Attr `json:"00200013"`
	}
}

// attrsKey starts the last field of an instance record's JSON. It cannot
// occur inside a JSON string (a quote there is escaped), nor in the scalar
// fields before it: its first occurrence is the field's.
var attrsKey = []byte(`,"Attrs":`)

// decodeHead decodes an instance record without its attributes but
// InstanceNumber: the fields before Attrs, which are not even scanned
// (they are most of a record). Records without InstanceNumber ahead
// (written before it was, or of an instance that has none) are decoded
// whole, keeping that attribute only.
func decodeHead(body []byte, version int64) (*instanceRecord, error) {
	if i := bytes.Index(body, attrsKey); i > 0 {
		in := &instanceRecord{version: version}
		if err := json.Unmarshal(append(body[:i:i], '}'), in); err != nil {
			return nil, err
		}
		if in.InstanceNumber != "" {
			in.Attrs = Dataset{tagInstanceNumber: {VR: "IS", Value: []any{in.InstanceNumber}}}
			return in, nil
		}
	}
	var h instanceHead
	if err := decodeRecord(body, &h); err != nil {
		return nil, err
	}
	in := &instanceRecord{Study: h.Study, Series: h.Series, UID: h.UID, SOPClass: h.SOPClass, TransferSyntax: h.TransferSyntax,
		Blob: h.Blob, Offset: h.Offset, Size: h.Size, SHA256: h.SHA256, Attrs: Dataset{}, version: version}
	if h.Attrs.InstanceNumber != nil {
		in.Attrs[tagInstanceNumber] = *h.Attrs.InstanceNumber
	}
	return in, nil
}

// headsOf lists the instances of a study (and series, when not empty) as
// records holding no attribute but InstanceNumber.
func (x index) headsOf(ctx context.Context, study, series string) ([]*instanceRecord, error) {
	q := store.Query{Types: []string{typeInstance}, Clauses: []store.Clause{tokenClause("StudyInstanceUID", study)}}
	if series != "" {
		q.Clauses = append(q.Clauses, tokenClause("SeriesInstanceUID", series))
	}
	var out []*instanceRecord
	err := x.each(ctx, q, func(r store.Resource) (bool, error) {
		in, err := decodeHead(r.Body, r.VersionID)
		if err != nil {
			return false, err
		}
		out = append(out, in)
		return true, nil
	})
	return out, err
}

// instancesOf lists the instances of a study (and series, when not empty).
func (x index) instancesOf(ctx context.Context, study, series string) ([]*instanceRecord, error) {
	q := store.Query{Types: []string{typeInstance}, Clauses: []store.Clause{tokenClause("StudyInstanceUID", study)}}
	if series != "" {
		q.Clauses = append(q.Clauses, tokenClause("SeriesInstanceUID", series))
	}
	var out []*instanceRecord
	err := x.each(ctx, q, func(r store.Resource) (bool, error) {
		in := &instanceRecord{version: r.VersionID}
		if err := decodeRecord(r.Body, in); err != nil {
			return false, err
		}
		out = append(out, in)
		return true, nil
	})
	return out, err
}

// seriesOf lists the series of a study.
func (x index) seriesOf(ctx context.Context, study string) ([]*seriesRecord, error) {
	var out []*seriesRecord
	err := x.each(ctx, store.Query{Types: []string{typeSeries}, Clauses: []store.Clause{tokenClause("StudyInstanceUID", study)}},
		func(r store.Resource) (bool, error) {
			s := &seriesRecord{version: r.VersionID}
			if err := decodeRecord(r.Body, s); err != nil {
				return false, err
			}
			out = append(out, s)
			return true, nil
		})
	return out, err
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

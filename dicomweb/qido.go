package dicomweb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// level is a level of the DICOM information model.
type level int

const (
	levelStudy level = iota
	levelSeries
	levelInstance
)

func (l level) String() string { return [...]string{"study", "series", "instance"}[l] }

// levelOf places an attribute at the level it belongs to.
func levelOf(key string) level {
	switch {
	case studyLevelTags[key] || strings.HasPrefix(key, "0010") || key == tagModalitiesInStudy ||
		key == tagNumberOfStudySeries || key == tagNumberOfStudyInstances || key == tagSOPClassesInStudy:
		return levelStudy
	case seriesLevelTags[key] || key == tagNumberOfSeriesInstances:
		return levelSeries
	}
	return levelInstance
}

// QIDO paging bounds.
const (
	defaultLimit = 1000
	maxLimit     = 1000
)

// Attributes returned by default (PS3.18 table 6.7.1-2).
var defaultAttrs = map[level][]string{
	levelStudy: {tagSpecificCharacterSet, tagStudyDate, tagStudyTime, tagAccessionNumber, tagInstanceAvailability,
		tagModalitiesInStudy, tagReferringPhysicianName, tagTimezoneOffsetFromUTC, tagRetrieveURL, tagPatientName,
		tagPatientID, tagPatientBirthDate, tagPatientSex, tagStudyInstanceUID, tagStudyID, tagNumberOfStudySeries,
		tagNumberOfStudyInstances},
	levelSeries: {tagSpecificCharacterSet, tagModality, tagTimezoneOffsetFromUTC, tagSeriesDescription, tagRetrieveURL,
		tagSeriesInstanceUID, tagSeriesNumber, tagNumberOfSeriesInstances, tagPerformedStartDate, tagPerformedStartTime,
		tagRequestAttributesSeq},
	levelInstance: {tagSpecificCharacterSet, tagSOPClassUID, tagSOPInstanceUID, tagInstanceAvailability,
		tagTimezoneOffsetFromUTC, tagRetrieveURL, tagInstanceNumber, tagRows, tagColumns, tagBitsAllocated,
		tagNumberOfFrames},
}

// qidoQuery is a parsed QIDO-RS request.
type qidoQuery struct {
	level         level
	study, series string // from the path
	filters       []*filter
	include       []string
	includeAll    bool
	limit, offset int
	ignored       []string // keys that cannot be matched at this level
}

func parseQIDO(l level, params url.Values, study, series string) (*qidoQuery, error) {
	q := &qidoQuery{level: l, study: study, series: series, limit: defaultLimit}
	for _, uid := range []string{study, series} {
		if uid != "" && !validUID(uid) {
			return nil, fmt.Errorf("%q is not a UID", uid)
		}
	}
	fuzzy := false
	if v := params.Get("fuzzymatching"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("fuzzymatching must be true or false, not %q", v)
		}
		fuzzy = b
	}
	for name, values := range params {
		switch name {
		case "fuzzymatching":
			continue
		case "limit", "offset":
			n, err := strconv.Atoi(values[0])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s must be a non-negative integer, not %q", name, values[0])
			}
			if name == "limit" {
				q.limit = min(max(n, 1), maxLimit)
			} else {
				q.offset = n
			}
			continue
		case "includefield":
			for _, v := range values {
				for _, f := range strings.Split(v, ",") {
					f = strings.TrimSpace(f)
					if f == "all" {
						q.includeAll = true
						continue
					}
					key, _, err := lookupAttribute(f)
					if err != nil {
						return nil, fmt.Errorf("includefield: %v", err)
					}
					q.include = append(q.include, key)
				}
			}
			continue
		}
		key, vr, err := lookupAttribute(name)
		if err != nil {
			return nil, err
		}
		if l == levelStudy && key == tagModality {
			key, vr = tagModalitiesInStudy, "CS" // what a study-level Modality key can only mean
		}
		for _, v := range values {
			f, err := newFilter(key, vr, v, fuzzy)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			if f.level > l || vr == "SQ" {
				q.ignored = append(q.ignored, name)
				continue
			}
			q.filters = append(q.filters, f)
		}
	}
	return q, nil
}

// qidoRow is one match: the records of its levels.
type qidoRow struct {
	study    *studyRecord
	series   *seriesRecord
	instance *instanceRecord
}

// qido answers a search at level l.
func (s *Server) qido(l level) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		acc, err := s.authorize(ctx, smart.Search)
		if err != nil {
			return s.accessError(c, err)
		}
		if !acceptsJSON(c.Request().Header.Get("Accept")) {
			return fail(c, http.StatusNotAcceptable, "QIDO-RS answers application/dicom+json only")
		}
		q, err := parseQIDO(l, c.QueryParams(), c.Param("study"), c.Param("series"))
		if err != nil {
			return fail(c, http.StatusBadRequest, "%v", err)
		}
		rows, err := s.search(ctx, acc, q)
		if err != nil {
			return s.internal(c, "search", err)
		}
		var warnings []string
		if len(rows) > q.limit {
			rows = rows[:q.limit]
			warnings = append(warnings, `299 telehub "There are additional results that can be requested"`)
		}
		out := make([]Dataset, 0, len(rows))
		patient := ""
		for i, r := range rows {
			out = append(out, s.qidoResult(q, r))
			if i == 0 || r.study.Patient == patient {
				patient = r.study.Patient
			} else {
				patient = ""
			}
		}
		if len(rows) == 0 || (acc.p.Patient != "" && patient != acc.p.Patient) {
			patient = acc.p.Patient
		}
		if err := s.record(ctx, audit.Search(principalOf(ctx), "ImagingStudy", c.Request().URL.RawQuery, patientRef(patient), audit.Success)); err != nil {
			return s.internal(c, "audit", err)
		}
		if len(q.ignored) > 0 {
			warnings = append(warnings, fmt.Sprintf(`299 telehub "The following attributes are not supported for query at the %s level: %s"`, l, strings.Join(q.ignored, ",")))
		}
		for _, w := range warnings {
			c.Response().Header().Add("Warning", w)
		}
		body, err := json.Marshal(out)
		if err != nil {
			return s.internal(c, "encode search results", err)
		}
		return c.Blob(http.StatusOK, mediaDICOMJSON, body)
	}
}

// search finds the rows of a query: the index narrows, the filters decide,
// access hides what the caller may not see; then offset and limit apply.
func (s *Server) search(ctx context.Context, acc *access, q *qidoQuery) ([]qidoRow, error) {
	sq := store.Query{Types: []string{[...]string{typeStudy, typeSeries, typeInstance}[q.level]}}
	if q.study != "" {
		sq.Clauses = append(sq.Clauses, tokenClause("StudyInstanceUID", q.study))
	}
	if q.series != "" {
		sq.Clauses = append(sq.Clauses, tokenClause("SeriesInstanceUID", q.series))
	}
	for _, f := range q.filters {
		if f.level != q.level {
			continue
		}
		if c := f.storeClause(); c != nil {
			sq.Clauses = append(sq.Clauses, *c)
		}
	}
	if q.level == levelStudy && !acc.decision.Unrestricted {
		var patients store.Clause
		for _, c := range acc.decision.AnyOf {
			if c.Params == nil && strings.HasPrefix(c.Compartment, "Patient/") {
				patients.Any = append(patients.Any, store.Condition{Param: paramPatient, Op: store.OpExact, Text: c.Compartment})
			}
		}
		if len(patients.Any) == 0 {
			return nil, nil
		}
		sq.Clauses = append(sq.Clauses, patients)
	}
	// Keys of upper levels narrow by the UIDs of the studies (series) they match.
	for _, upper := range []level{levelStudy, levelSeries} {
		if upper >= q.level {
			break
		}
		uids, ok, err := s.upperUIDs(ctx, acc, q, upper)
		if err != nil {
			return nil, err
		}
		if ok {
			if len(uids) == 0 {
				return nil, nil
			}
			param := map[level]string{levelStudy: "StudyInstanceUID", levelSeries: "SeriesInstanceUID"}[upper]
			sq.Clauses = append(sq.Clauses, tokenClause(param, uids...))
		}
	}
	cache := &recordCache{idx: s.idx, studies: map[string]*studyRecord{}, series: map[string]*seriesRecord{}}
	var rows []qidoRow
	skipped := 0
	err := s.idx.each(ctx, sq, func(r store.Resource) (bool, error) {
		row, err := cache.row(ctx, q.level, r)
		if err != nil || row.study == nil {
			return err == nil, err
		}
		if !acc.seesPatient(row.study.Patient) || !matchesAll(q.filters, row) {
			return true, nil
		}
		if skipped < q.offset {
			skipped++
			return true, nil
		}
		rows = append(rows, row)
		return len(rows) <= q.limit, nil // one more than asked: are there more?
	})
	return rows, err
}

// upperUIDs resolves the keys of an upper level into the UIDs they match
// (ok false when there are none to resolve, or too many to be worth it).
func (s *Server) upperUIDs(ctx context.Context, acc *access, q *qidoQuery, upper level) ([]string, bool, error) {
	var keys []*filter
	for _, f := range q.filters {
		if f.level == upper && !f.universal() {
			keys = append(keys, f)
		}
	}
	if len(keys) == 0 {
		return nil, false, nil
	}
	sub := &qidoQuery{level: upper, study: q.study, filters: keys, limit: maxLimit + 1}
	if upper == levelSeries {
		sub.filters = nil
		for _, f := range q.filters {
			if f.level <= upper {
				sub.filters = append(sub.filters, f)
			}
		}
	}
	rows, err := s.search(ctx, acc, sub)
	if err != nil || len(rows) > maxLimit {
		return nil, false, err
	}
	uids := make([]string, 0, len(rows))
	for _, r := range rows {
		if upper == levelStudy {
			uids = append(uids, r.study.UID)
		} else {
			uids = append(uids, r.series.UID)
		}
	}
	return uids, true, nil
}

func matchesAll(filters []*filter, row qidoRow) bool {
	var study Dataset // computed once, when a key needs it
	for _, f := range filters {
		var d Dataset
		switch f.level {
		case levelStudy:
			if study == nil {
				study = studyComputed(row.study)
			}
			d = study
		case levelSeries:
			d = row.series.Attrs
		default:
			d = row.instance.Attrs
		}
		if !f.matches(d) {
			return false
		}
	}
	return true
}

package dicomweb

import (
	"context"

	"github.com/telehub/telehub/store"
)

// recordCache loads the parents of the rows of one search once.
type recordCache struct {
	idx     index
	studies map[string]*studyRecord
	series  map[string]*seriesRecord
}

func (rc *recordCache) row(ctx context.Context, l level, r store.Resource) (qidoRow, error) {
	var row qidoRow
	var studyUID, seriesUID string
	switch l {
	case levelStudy:
		st := &studyRecord{version: r.VersionID}
		if err := decodeRecord(r.Body, st); err != nil {
			return row, err
		}
		rc.studies[st.UID] = st
		row.study = st
		return row, nil
	case levelSeries:
		se := &seriesRecord{version: r.VersionID}
		if err := decodeRecord(r.Body, se); err != nil {
			return row, err
		}
		row.series, studyUID = se, se.Study
	case levelInstance:
		in := &instanceRecord{version: r.VersionID}
		if err := decodeRecord(r.Body, in); err != nil {
			return row, err
		}
		row.instance, studyUID, seriesUID = in, in.Study, in.Series
	}
	st, ok := rc.studies[studyUID]
	if !ok {
		var err error
		if st, err = rc.idx.study(ctx, studyUID); err != nil && !isNotFound(err) {
			return row, err
		} else if err != nil {
			st = nil // an instance whose study is being written: not visible yet
		}
		rc.studies[studyUID] = st
	}
	row.study = st
	if seriesUID != "" {
		se, ok := rc.series[seriesUID]
		if !ok {
			var err error
			if se, err = rc.idx.series(ctx, seriesUID); err != nil && !isNotFound(err) {
				return row, err
			} else if err != nil {
				row.study = nil
				return row, nil
			}
			rc.series[seriesUID] = se
		}
		row.series = se
	}
	return row, nil
}

// studyComputed is the study's attributes with those computed from its
// series and instances.
func studyComputed(st *studyRecord) Dataset {
	d := Dataset{}
	for k, v := range st.Attrs {
		d[k] = v
	}
	d[tagNumberOfStudySeries] = Attr{VR: "IS", Value: []any{st.Series}}
	d[tagNumberOfStudyInstances] = Attr{VR: "IS", Value: []any{st.Instances}}
	if len(st.Modalities) > 0 {
		d[tagModalitiesInStudy] = Attr{VR: "CS", Value: anySlice(st.Modalities)}
	}
	d[tagInstanceAvailability] = Attr{VR: "CS", Value: []any{"ONLINE"}}
	return d
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// qidoResult is the data set answered for one row: the level's default
// attributes (and the upper levels' for a query across studies), the
// matching keys and the included fields.
func (s *Server) qidoResult(q *qidoQuery, r qidoRow) Dataset {
	merged := studyComputed(r.study)
	merged[tagRetrieveURL] = Attr{VR: "UR", Value: []any{s.studyURL(r.study.UID)}}
	levels := []level{levelStudy}
	if r.series != nil {
		for k, v := range r.series.Attrs {
			merged[k] = v
		}
		merged[tagNumberOfSeriesInstances] = Attr{VR: "IS", Value: []any{r.series.Instances}}
		merged[tagRetrieveURL] = Attr{VR: "UR", Value: []any{s.seriesURL(r.study.UID, r.series.UID)}}
		levels = []level{levelSeries}
		if q.study == "" {
			levels = append(levels, levelStudy)
		}
	}
	if r.instance != nil {
		for k, v := range r.instance.Attrs {
			merged[k] = v
		}
		merged[tagRetrieveURL] = Attr{VR: "UR", Value: []any{s.instanceURL(r.study.UID, r.series.UID, r.instance.UID)}}
		levels = []level{levelInstance}
		if q.series == "" {
			levels = append(levels, levelSeries)
		}
		if q.study == "" {
			levels = append(levels, levelStudy)
		}
	}
	out := Dataset{}
	if q.includeAll {
		for k, v := range merged {
			if v.BulkDataURI == "" && v.InlineBinary == "" {
				out[k] = v
			}
		}
		return out
	}
	pick := func(key string) {
		if a, ok := merged[key]; ok && a.BulkDataURI == "" && a.InlineBinary == "" {
			out[key] = a
		}
	}
	for _, l := range levels {
		for _, key := range defaultAttrs[l] {
			pick(key)
		}
	}
	// The identifying UIDs of the upper levels, always.
	pick(tagStudyInstanceUID)
	if r.series != nil {
		pick(tagSeriesInstanceUID)
	}
	for _, f := range q.filters {
		pick(f.key)
	}
	for _, key := range q.include {
		pick(key)
	}
	return out
}

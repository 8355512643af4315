package dicomweb

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/fhir/model"
)

// An ImagingStudy lists every instance of its study: 437 KB of JSON at
// 2,860 instances. A round that decoded it into maps, merged, marshalled
// it, and had the FHIR layer parse, validate and index it whole held
// megabytes that grew with the study at every STOW. A round works on a
// studyDoc instead: the resource's members as JSON, its series apart, and
// each instance as the bytes it was stored with, sorted by number; it
// writes the body by hand, and hands it to fhir.UpdateGenerated with an
// outline (the resource without its instances), which the FHIR layer
// parses and validates as any update, and the instances in parts for their
// index entries. A round that only adds instances (the usual one) hands
// those it adds apart too (fhir.Growth): the FHIR layer then indexes only
// them and the outline, and the store adds their entries to the previous
// version's (store.Write.PartialIndex), instead of gathering the 8,600
// entries of 2,860 instances and rewriting them all. A round thus holds a
// few copies of the body's bytes, never a decoded model of it (6 to 9 MB
// for the parse alone at 2,860 instances) nor all its index entries.
//
// Members are written in the order encoding/json gives a map (sorted),
// resourceType, id and meta first as the canonical form has them, so that
// the JSON of an unchanged member is the same bytes from round to round.

// studyDoc is an ImagingStudy as a round changes it.
type studyDoc struct {
	// members are the resource's members but series, as JSON (meta without
	// versionId and lastUpdated; see setStudyElements).
	members map[string]json.RawMessage
	series  []*seriesDoc
	// unchecked is set when an instance element was built from a record
	// that does not make a valid one: the resource must then be validated
	// whole (see validInstance).
	unchecked bool
	// added are the instances merge added to those the resource listed;
	// rewritten is set when it changed one of those, or rebuild replaced
	// them. Unless rewritten, the new version's instances are the previous
	// version's and added, and its index grows by theirs (fhir.Growth).
	added     []instanceDoc
	rewritten bool
}

// seriesDoc is an ImagingStudy.series element.
type seriesDoc struct {
	uid    string
	number int
	// members are the element's members but instance and
	// numberOfInstances, as JSON.
	members   map[string]json.RawMessage
	instances []instanceDoc
}

// instanceDoc is an ImagingStudy.series.instance element: its JSON, and
// what orders and identifies it (a sub-slice of it, for one read).
type instanceDoc struct {
	uid    []byte
	number int
	json   []byte
}

// readStudyDoc splits a stored ImagingStudy (or nothing, for one to
// create). Its members and instances are sub-slices of body, which is
// canonical JSON (compact, valid): the doc holds one copy of the resource.
func readStudyDoc(body []byte) (*studyDoc, error) {
	doc := &studyDoc{members: map[string]json.RawMessage{}}
	var series []byte
	for name, value := range model.Members(body) {
		if string(name) == "series" {
			series = value
		} else {
			doc.members[string(name)] = value
		}
	}
	for item := range model.Items(series) {
		se, err := readSeriesDoc(item)
		if err != nil {
			return nil, err
		}
		doc.series = append(doc.series, se)
	}
	return doc, nil
}

func readSeriesDoc(item []byte) (*seriesDoc, error) {
	se := &seriesDoc{members: map[string]json.RawMessage{}}
	var instances []byte
	for name, value := range model.Members(item) {
		switch string(name) {
		case "instance":
			instances = value
		case "numberOfInstances": // written from the instances
		default:
			se.members[string(name)] = value
		}
	}
	uid, number, err := uidAndNumber(item)
	if err != nil {
		return nil, fmt.Errorf("imaging study series: %w", err)
	}
	se.uid, se.number = string(uid), number
	for item := range model.Items(instances) {
		uid, number, err := uidAndNumber(item)
		if err != nil {
			return nil, fmt.Errorf("imaging study series %s: %w", se.uid, err)
		}
		se.instances = append(se.instances, instanceDoc{uid: uid, number: number, json: item})
	}
	return se, nil
}

// uidAndNumber reads the uid and number members of a series or instance
// element (0 without a number). The uid is a sub-slice of element unless
// it has escapes (a UID has none): a round reads every instance the
// resource lists.
func uidAndNumber(element []byte) (uid []byte, number int, err error) {
	for name, value := range model.Members(element) {
		switch string(name) {
		case "uid":
			if len(value) >= 2 && value[0] == '"' && bytes.IndexByte(value, '\\') < 0 {
				uid = value[1 : len(value)-1]
				continue
			}
			var s string
			err = json.Unmarshal(value, &s)
			uid = []byte(s)
		case "number":
			number, err = strconv.Atoi(string(value))
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return uid, number, nil
}

// newSeriesDoc is the element of a series the resource does not list yet,
// from its record's attributes.
func newSeriesDoc(uid string, attrs Dataset) (*seriesDoc, error) {
	modality := attrs.First(tagModality)
	if modality == "" {
		modality = "OT"
	}
	item := map[string]any{"uid": uid, "modality": map[string]string{"system": systemDCM, "code": modality}}
	number := -1
	if n := atoi(attrs.First(tagSeriesNumber)); n >= 0 && attrs.First(tagSeriesNumber) != "" {
		item["number"], number = n, n
	}
	if d := attrs.First(tagSeriesDescription); d != "" {
		item["description"] = d
	}
	if b := attrs.First(tagBodyPartExamined); b != "" {
		item["bodySite"] = map[string]string{"display": b}
	}
	se := &seriesDoc{uid: uid, number: max(number, 0), members: make(map[string]json.RawMessage, len(item))}
	for k, v := range item {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		se.members[k] = raw
	}
	return se, nil
}

// newInstanceDoc is the element of an instance record.
func newInstanceDoc(in *instanceRecord) instanceDoc {
	// The members of encoding/json's map order: number, sopClass, uid.
	b := make([]byte, 0, 96+len(in.UID))
	b = append(b, '{')
	number := 0
	if n := in.Attrs.First(tagInstanceNumber); n != "" && atoi(n) >= 0 {
		number = atoi(n)
		b = append(b, `"number":`...)
		b = strconv.AppendInt(b, int64(number), 10)
		b = append(b, ',')
	}
	code, _ := json.Marshal("urn:oid:" + in.SOPClass) // a string always marshals
	uid, _ := json.Marshal(in.UID)
	b = append(b, `"sopClass":{"code":`...)
	b = append(b, code...)
	b = append(b, `,"system":"urn:ietf:rfc:3986"},"uid":`...)
	b = append(b, uid...)
	b = append(b, '}')
	return instanceDoc{uid: []byte(in.UID), number: number, json: b}
}

// Outside the outline the FHIR layer validates are the instance elements
// only: those a round builds are checked here (an instance UID is an R4
// id, its SOP class a code), and those it keeps were validated when first
// written.
var (
	fhirID   = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	fhirCode = regexp.MustCompile(`^[^\s]+( [^\s]+)*$`) // an R4 code, without "urn:oid:"
)

// validInstance reports whether an instance record makes a valid
// ImagingStudy.series.instance element.
func validInstance(in *instanceRecord) bool {
	return fhirID.MatchString(in.UID) && fhirCode.MatchString(in.SOPClass) &&
		atoi(in.Attrs.First(tagInstanceNumber)) <= math.MaxInt32 // an unsignedInt
}

// merge adds instances to the series the resource lists (replacing those
// of the same UID), describing a series it does not list yet with
// seriesAttrs, and returns how many instances it then lists and whether
// anything changed.
func (d *studyDoc) merge(added []*instanceRecord, seriesAttrs func(uid string) (Dataset, error)) (total int, changed bool, err error) {
	for _, in := range added {
		i := slices.IndexFunc(d.series, func(se *seriesDoc) bool { return se.uid == in.Series })
		if i < 0 {
			attrs, err := seriesAttrs(in.Series)
			if err != nil {
				return 0, false, err
			}
			se, err := newSeriesDoc(in.Series, attrs)
			if err != nil {
				return 0, false, err
			}
			d.series, i, changed = append(d.series, se), len(d.series), true
		}
		d.unchecked = d.unchecked || !validInstance(in)
		doc := newInstanceDoc(in)
		switch d.series[i].put(doc) {
		case instanceAdded:
			d.added, changed = append(d.added, doc), true
		case instanceReplaced:
			d.rewritten, changed = true, true
		}
	}
	for _, se := range d.series {
		se.sort()
	}
	d.sortSeries()
	return d.instanceCount(), changed, nil
}

// What put did to a series.
type putResult int

const (
	instanceKept     putResult = iota // the series listed it as it is
	instanceAdded                     // the series did not list it
	instanceReplaced                  // the series listed it otherwise
)

// put adds or replaces an instance.
func (se *seriesDoc) put(in instanceDoc) putResult {
	for i := range se.instances {
		if bytes.Equal(se.instances[i].uid, in.uid) {
			if bytes.Equal(se.instances[i].json, in.json) {
				return instanceKept
			}
			se.instances[i] = in
			return instanceReplaced
		}
	}
	se.instances = append(se.instances, in)
	return instanceAdded
}

// sort orders the instances by number, then UID.
func (se *seriesDoc) sort() {
	slices.SortStableFunc(se.instances, func(a, b instanceDoc) int {
		return cmp.Or(cmp.Compare(a.number, b.number), bytes.Compare(a.uid, b.uid))
	})
}

func (d *studyDoc) sortSeries() {
	slices.SortStableFunc(d.series, func(a, b *seriesDoc) int {
		return cmpOrdered(a.number, b.number, a.uid, b.uid)
	})
}

func cmpOrdered(a, b int, uidA, uidB string) int {
	return cmp.Or(cmp.Compare(a, b), strings.Compare(uidA, uidB))
}

// rebuild replaces the series by those of the index.
func (d *studyDoc) rebuild(series []*seriesRecord, instances []*instanceRecord) error {
	byseries := map[string][]*instanceRecord{}
	for _, in := range instances {
		byseries[in.Series] = append(byseries[in.Series], in)
	}
	d.series, d.rewritten = d.series[:0], true
	for _, rec := range series {
		ins := byseries[rec.UID]
		if len(ins) == 0 {
			continue
		}
		se, err := newSeriesDoc(rec.UID, rec.Attrs)
		if err != nil {
			return err
		}
		se.instances = make([]instanceDoc, len(ins))
		for i, in := range ins {
			d.unchecked = d.unchecked || !validInstance(in)
			se.instances[i] = newInstanceDoc(in)
		}
		se.sort()
		d.series = append(d.series, se)
	}
	d.sortSeries()
	return nil
}

// instanceCount is how many instances the resource lists.
func (d *studyDoc) instanceCount() int {
	n := 0
	for _, se := range d.series {
		n += len(se.instances)
	}
	return n
}

// setCounts sets numberOfSeries and numberOfInstances.
func (d *studyDoc) setCounts() {
	d.members["numberOfSeries"] = strconv.AppendInt(nil, int64(len(d.series)), 10)
	d.members["numberOfInstances"] = strconv.AppendInt(nil, int64(d.instanceCount()), 10)
}

// generated is the resource for fhir.UpdateGenerated. previous is the
// version the doc was read from (0 for none), with its outline: unless the
// round rewrote instances, the new version grew from it by those added.
func (d *studyDoc) generated(previous int64, previousOutline []byte) fhir.Generated {
	g := fhir.Generated{
		Outline: d.appendJSON(nil, false),
		Body:    d.appendJSON(make([]byte, 0, d.size()), true),
		Bulk:    d.instanceParts(),
	}
	if previous > 0 && !d.rewritten {
		g.Growth = &fhir.Growth{Version: previous, Outline: previousOutline, Added: instanceParts(slices.Values([][]instanceDoc{d.added}))}
	}
	return g
}

// size is about the length of the resource's JSON, so that its buffer is
// allocated once.
func (d *studyDoc) size() int {
	n := 64
	for k, v := range d.members {
		n += len(k) + len(v) + 4
	}
	for _, se := range d.series {
		n += 64
		for k, v := range se.members {
			n += len(k) + len(v) + 4
		}
		for _, in := range se.instances {
			n += len(in.json) + 1
		}
	}
	return n
}

// appendJSON appends the resource's JSON, its instance lists left out
// unless withInstances.
func (d *studyDoc) appendJSON(b []byte, withInstances bool) []byte {
	b = append(b, '{')
	first := true
	for _, k := range []string{"resourceType", "id", "meta"} {
		if v, ok := d.members[k]; ok {
			b, first = appendMember(b, first, k, v), false
		}
	}
	for _, k := range sortedKeys(d.members, "series") {
		switch k {
		case "resourceType", "id", "meta":
		case "series":
			if len(d.series) == 0 {
				continue
			}
			b, first = appendKey(b, first, k), false
			b = append(b, '[')
			for i, se := range d.series {
				if i > 0 {
					b = append(b, ',')
				}
				b = se.appendJSON(b, withInstances)
			}
			b = append(b, ']')
		default:
			b, first = appendMember(b, first, k, d.members[k]), false
		}
	}
	return append(b, '}')
}

func (se *seriesDoc) appendJSON(b []byte, withInstances bool) []byte {
	b = append(b, '{')
	first := true
	for _, k := range sortedKeys(se.members, "instance", "numberOfInstances") {
		switch k {
		case "instance":
			if withInstances && len(se.instances) > 0 {
				b, first = appendKey(b, first, k), false
				b = appendInstances(b, se.instances)
			}
		case "numberOfInstances":
			b, first = appendKey(b, first, k), false
			b = strconv.AppendInt(b, int64(len(se.instances)), 10)
		default:
			b, first = appendMember(b, first, k, se.members[k]), false
		}
	}
	return append(b, '}')
}

func appendInstances(b []byte, instances []instanceDoc) []byte {
	b = append(b, '[')
	for i, in := range instances {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, in.json...)
	}
	return append(b, ']')
}

// instancePartSize is how many instances a part of the bulk holds: the
// index extraction of a part decodes it into maps and holds its
// intermediate results, some 10 KB an instance, so parts are small; their
// repeated entries (their SOP classes) cost a sort at the end.
const instancePartSize = 32

// instanceParts yields the instances as ImagingStudies of one series
// holding up to instancePartSize of them each, in one reused buffer.
func (d *studyDoc) instanceParts() iter.Seq[[]byte] {
	return instanceParts(func(yield func([]instanceDoc) bool) {
		for _, se := range d.series {
			if !yield(se.instances) {
				return
			}
		}
	})
}

// instanceParts yields lists of instances as ImagingStudies of one series
// holding up to instancePartSize of them each, in one reused buffer.
func instanceParts(lists iter.Seq[[]instanceDoc]) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		var b []byte
		for instances := range lists {
			for start := 0; start < len(instances); start += instancePartSize {
				part := instances[start:min(start+instancePartSize, len(instances))]
				b = append(b[:0], `{"resourceType":"ImagingStudy","series":[{"instance":`...)
				b = appendInstances(b, part)
				b = append(b, "}]}"...)
				if !yield(b) {
					return
				}
			}
		}
	}
}

func appendKey(b []byte, first bool, k string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = strconv.AppendQuote(b, k)
	return append(b, ':')
}

func appendMember(b []byte, first bool, k string, v []byte) []byte {
	return append(appendKey(b, first, k), v...)
}

// sortedKeys are the keys of m and extra, sorted, once each.
func sortedKeys(m map[string]json.RawMessage, extra ...string) []string {
	keys := make([]string, 0, len(m)+len(extra))
	for k := range m {
		keys = append(keys, k)
	}
	keys = append(keys, extra...)
	slices.Sort(keys)
	return slices.Compact(keys)
}

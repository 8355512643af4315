package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/telehub/telehub/fhir"
)

// Identifier systems and codes of the resources kept in step.
const (
	// SystemINS is the French national health identifier (INS-NIR) system.
	SystemINS = "urn:oid:1.2.250.1.213.1.4.8"
	oidINS    = "1.2.250.1.213.1.4.8"
	// SystemIdentityReliability codes how reliable a patient's identity is;
	// TeleHub tags the Patients it creates from DICOM data with PROV
	// (provisional: taken from the images, never checked against an
	// identity document or the INS teleservice).
	SystemIdentityReliability = "https://telehub.dev/fhir/CodeSystem/identity-reliability"
	// SystemStudyPatient identifies the patient of a study that named none
	// (no PatientID): one provisional Patient per study.
	SystemStudyPatient = "https://telehub.dev/fhir/sid/dicom-study-patient"
	systemDICOMUID     = "urn:dicom:uid"
	systemDCM          = "http://dicom.nema.org/resources/ontology/DCM"
	systemV20203       = "http://terminology.hl7.org/CodeSystem/v2-0203"
	systemConnection   = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
	systemPayload      = "http://terminology.hl7.org/CodeSystem/endpoint-payload-type"
)

// findServiceRequest returns the ServiceRequest of an accession number, by
// identifier or requisition, or "".
func (s *Server) findServiceRequest(ctx context.Context, accession string) (string, error) {
	if accession == "" {
		return "", nil
	}
	for _, param := range []string{"identifier", "requisition"} {
		found, err := s.fhir.Find(ctx, "ServiceRequest", url.Values{param: {accession}}, 1)
		if err != nil {
			return "", fmt.Errorf("find service request: %w", err)
		}
		if len(found) > 0 {
			return found[0].ID, nil
		}
	}
	return "", nil
}

// ensureEndpoint returns the Endpoint resource of this server's WADO-RS,
// creating it once.
func (s *Server) ensureEndpoint(ctx context.Context) (string, error) {
	s.endpointMu.Lock()
	defer s.endpointMu.Unlock()
	if s.endpointID != "" {
		return s.endpointID, nil
	}
	endpoint := map[string]any{
		"resourceType":    "Endpoint",
		"identifier":      []identifier{{System: "urn:ietf:rfc:3986", Value: s.base}},
		"status":          "active",
		"name":            "TeleHub DICOMweb (WADO-RS)",
		"connectionType":  map[string]string{"system": systemConnection, "code": "dicom-wado-rs"},
		"payloadType":     []any{map[string]any{"coding": []map[string]string{{"system": systemPayload, "code": "DICOM WADO-RS"}}}},
		"payloadMimeType": []string{mediaDICOM, mediaDICOMJSON},
		"address":         s.base,
	}
	found, err := s.fhir.Find(ctx, "Endpoint", url.Values{"identifier": {"urn:ietf:rfc:3986|" + s.base}}, 1)
	if err != nil {
		return "", fmt.Errorf("find endpoint: %w", err)
	}
	if len(found) > 0 {
		s.endpointID = found[0].ID
		return s.endpointID, nil
	}
	id, err := s.createOnce(ctx, "Endpoint", "dicomweb-"+digestID(s.base), endpoint)
	if err != nil {
		return "", err
	}
	s.endpointID = id
	return id, nil
}

// syncStudy links the study record to its Patient and brings the study's
// ImagingStudy in step with the index, adding the instances the round's
// STOWs stored (added), with the links they looked up. Each round reads the ImagingStudy's version, then the
// study record, and writes with If-Match: the instances added are merged
// into the series the resource lists, unless its instance count then
// differs from the index's, in which case the series are rebuilt from the
// index. Every STOW thus writes its own instances over a version holding
// those of the STOWs before it, so concurrent STOWs into one study lose
// none, and a study whose resource missed instances (a failed update) is
// repaired by its next STOW.
func (s *Server) syncStudy(ctx context.Context, study string, links studyLinks, added []*instanceRecord) (id string, err error) {
	ctx = detach(ctx) // a client hanging up must not leave the study half in step
	rec, err := s.idx.setLinks(ctx, study, links.patient, "")
	if err != nil {
		return "", err
	}
	patient, endpoint, basedOn := links.patient, links.endpoint, links.basedOn
	id = rec.ImagingStudy
	if id == "" {
		found, err := s.fhir.Find(ctx, "ImagingStudy", url.Values{"identifier": {systemDICOMUID + "|urn:oid:" + study}}, 1)
		if err != nil {
			return "", fmt.Errorf("find imaging study: %w", err)
		}
		id = study // a UID is a valid FHIR id, and makes concurrent creators meet
		if len(found) > 0 {
			id = found[0].ID
		}
	}
	// STOWs into one study on this node take turns (syncStudyShared). The
	// If-Match below keeps concurrent writers lossless anyway (other nodes
	// too); taking turns only spares them rounds lost to 412s.
	for range maxConflicts {
		var current map[string]any
		var version int64
		res, err := s.fhir.Read(ctx, "ImagingStudy", id)
		switch {
		case err == nil:
			version = res.VersionID
			if err := json.Unmarshal(res.Body, &current); err != nil {
				return id, err
			}
		case fhir.StatusOf(err) == http.StatusNotFound || fhir.StatusOf(err) == http.StatusGone:
			current = map[string]any{}
		default:
			return id, err
		}
		if rec, err = s.idx.study(ctx, study); err != nil {
			return id, err
		}
		before := withoutMeta(current)
		updated := setStudyElements(current, id, rec, patient, endpoint, basedOn)
		merged, err := mergeInstances(updated, added, func(uid string) (Dataset, error) {
			se, err := s.idx.series(ctx, uid)
			return se.Attrs, err
		})
		if err != nil {
			return id, err
		}
		if merged != rec.Instances {
			series, instances, err := s.studyContents(ctx, study)
			if err != nil {
				return id, err
			}
			setSeries(updated, series, instances)
		}
		body, err := json.Marshal(updated)
		if err != nil {
			return id, err
		}
		after := body // the same bytes when TeleHub removed all of meta (see setStudyElements)
		if _, ok := updated["meta"]; ok {
			after = withoutMeta(updated)
		}
		if version > 0 && bytes.Equal(before, after) {
			err = nil // the same instances again: no new version
		} else {
			_, err = s.fhir.Update(ctx, "ImagingStudy", id, body, version)
		}
		if st := fhir.StatusOf(err); err != nil && st != http.StatusPreconditionFailed && st != http.StatusConflict {
			return id, fmt.Errorf("update imaging study: %w", err)
		}
		if err == nil {
			if rec.ImagingStudy != id {
				_, err = s.idx.setLinks(ctx, study, "", id)
			}
			return id, err
		}
	}
	return id, fmt.Errorf("imaging study %s: too many concurrent updates", id)
}

func (s *Server) studyContents(ctx context.Context, study string) ([]*seriesRecord, []*instanceRecord, error) {
	series, err := s.idx.seriesOf(ctx, study)
	if err != nil {
		return nil, nil, err
	}
	instances, err := s.idx.headsOf(ctx, study, "") // the resource names no other attribute
	return series, instances, err
}

// setStudyElements sets the study-level elements TeleHub manages on the
// current resource, keeping what others added (notes, reasons,
// interpreters…).
func setStudyElements(current map[string]any, id string, rec *studyRecord, patient, endpoint, basedOn string) map[string]any {
	is := current
	is["resourceType"] = "ImagingStudy"
	is["id"] = id
	if meta, ok := is["meta"].(map[string]any); ok {
		delete(meta, "versionId")
		delete(meta, "lastUpdated")
		if len(meta) == 0 {
			delete(is, "meta")
		}
	}
	studyID := identifier{System: systemDICOMUID, Value: "urn:oid:" + rec.UID}
	ids := []any{studyID}
	if acc := rec.Attrs.First(tagAccessionNumber); acc != "" {
		ids = append(ids, map[string]any{"type": map[string]any{"coding": []map[string]string{{"system": systemV20203, "code": "ACSN"}}}, "value": acc})
	}
	if old, ok := is["identifier"].([]any); ok {
		for _, o := range old {
			if m, ok := o.(map[string]any); ok && (m["system"] == systemDICOMUID || isAccession(m)) {
				continue
			}
			ids = append(ids, o)
		}
	}
	is["identifier"] = ids
	is["status"] = "available"
	is["subject"] = map[string]string{"reference": "Patient/" + patient}
	is["endpoint"] = []any{map[string]string{"reference": "Endpoint/" + endpoint}}
	if basedOn != "" {
		is["basedOn"] = []any{map[string]string{"reference": "ServiceRequest/" + basedOn}}
	}
	if d := fhirDate(rec.Attrs.First(tagStudyDate)); d != "" {
		is["started"] = d // DICOM times carry no zone, which a FHIR time would need
	}
	if desc := rec.Attrs.First(tagStudyDescription); desc != "" {
		is["description"] = desc
	}
	var modalities []any
	for _, m := range rec.Modalities {
		modalities = append(modalities, map[string]string{"system": systemDCM, "code": m})
	}
	if modalities != nil {
		is["modality"] = modalities
	}
	return is
}

// setSeries replaces the series of the resource by those of the index.
func setSeries(is map[string]any, series []*seriesRecord, instances []*instanceRecord) {
	byseries := map[string][]*instanceRecord{}
	for _, in := range instances {
		byseries[in.Series] = append(byseries[in.Series], in)
	}
	var out []any
	slices.SortFunc(series, func(a, b *seriesRecord) int {
		return cmpNumbers(a.Attrs.First(tagSeriesNumber), b.Attrs.First(tagSeriesNumber), a.UID, b.UID)
	})
	for _, se := range series {
		ins := byseries[se.UID]
		if len(ins) == 0 {
			continue
		}
		slices.SortFunc(ins, func(a, b *instanceRecord) int {
			return cmpNumbers(a.Attrs.First(tagInstanceNumber), b.Attrs.First(tagInstanceNumber), a.UID, b.UID)
		})
		item := seriesItem(se.UID, se.Attrs)
		list := make([]any, 0, len(ins))
		for _, in := range ins {
			list = append(list, instanceItem(in))
		}
		item["instance"] = list
		item["numberOfInstances"] = len(list)
		out = append(out, item)
	}
	is["series"] = out
	is["numberOfSeries"] = len(out)
	is["numberOfInstances"] = len(instances)
}

// seriesItem is an ImagingStudy.series element, without its instances.
func seriesItem(uid string, attrs Dataset) map[string]any {
	modality := attrs.First(tagModality)
	if modality == "" {
		modality = "OT"
	}
	item := map[string]any{"uid": uid, "modality": map[string]string{"system": systemDCM, "code": modality}}
	if n := atoi(attrs.First(tagSeriesNumber)); n >= 0 && attrs.First(tagSeriesNumber) != "" {
		item["number"] = n
	}
	if d := attrs.First(tagSeriesDescription); d != "" {
		item["description"] = d
	}
	if b := attrs.First(tagBodyPartExamined); b != "" {
		item["bodySite"] = map[string]string{"display": b}
	}
	return item
}

// instanceItem is an ImagingStudy.series.instance element.
func instanceItem(in *instanceRecord) map[string]any {
	inst := map[string]any{"uid": in.UID, "sopClass": map[string]string{"system": "urn:ietf:rfc:3986", "code": "urn:oid:" + in.SOPClass}}
	if n := in.Attrs.First(tagInstanceNumber); n != "" && atoi(n) >= 0 {
		inst["number"] = atoi(n)
	}
	return inst
}

// mergeInstances adds instances to the series the resource lists
// (replacing those of the same UID), in the order setSeries gives, and
// returns how many instances it then lists. A series it does not list yet
// is described by seriesAttrs (the series record's attributes).
func mergeInstances(is map[string]any, added []*instanceRecord, seriesAttrs func(uid string) (Dataset, error)) (int, error) {
	list, _ := is["series"].([]any)
	byUID := map[string]map[string]any{}
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			if uid, _ := m["uid"].(string); uid != "" {
				byUID[uid] = m
			}
		}
	}
	for _, in := range added {
		se := byUID[in.Series]
		if se == nil {
			attrs, err := seriesAttrs(in.Series)
			if err != nil {
				return 0, err
			}
			se = seriesItem(in.Series, attrs)
			byUID[in.Series] = se
			list = append(list, se)
		}
		insts, _ := se["instance"].([]any)
		item, replaced := instanceItem(in), false
		for i, o := range insts {
			if m, ok := o.(map[string]any); ok && m["uid"] == in.UID {
				insts[i], replaced = item, true
				break
			}
		}
		if !replaced {
			insts = append(insts, item)
		}
		se["instance"] = insts
	}
	byNumber := func(a, b any) int {
		ma, _ := a.(map[string]any)
		mb, _ := b.(map[string]any)
		ua, _ := ma["uid"].(string)
		ub, _ := mb["uid"].(string)
		if c := numberOf(ma["number"]) - numberOf(mb["number"]); c != 0 {
			return c
		}
		return strings.Compare(ua, ub)
	}
	total := 0
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			insts, _ := m["instance"].([]any)
			slices.SortStableFunc(insts, byNumber)
			m["numberOfInstances"] = len(insts)
			total += len(insts)
		}
	}
	slices.SortStableFunc(list, byNumber)
	is["series"] = list
	is["numberOfSeries"] = len(list)
	is["numberOfInstances"] = total
	return total, nil
}

// numberOf reads a number of a decoded resource (float64) or of one built
// here (int); 0 when absent.
func numberOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	return 0
}

func isAccession(m map[string]any) bool {
	t, _ := m["type"].(map[string]any)
	codings, _ := t["coding"].([]any)
	for _, c := range codings {
		if cm, ok := c.(map[string]any); ok && cm["code"] == "ACSN" {
			return true
		}
	}
	return false
}

// cmpNumbers orders by a numeric DICOM value (IS), then by UID.
func cmpNumbers(a, b, uidA, uidB string) int {
	if c := atoi(a) - atoi(b); c != 0 {
		return c
	}
	return strings.Compare(uidA, uidB)
}

// withoutMeta is the resource's JSON without meta, to compare contents.
func withoutMeta(r map[string]any) []byte {
	c := make(map[string]any, len(r))
	for k, v := range r {
		if k != "meta" {
			c[k] = v
		}
	}
	b, _ := json.Marshal(c)
	return b
}

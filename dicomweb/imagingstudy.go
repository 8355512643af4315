package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"

	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/store"
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
// STOWs stored (added), with the links they looked up. Each round reads
// the ImagingStudy's version, then the study record, and writes with
// If-Match: the instances added are merged into the series the resource
// lists, unless its instance count then differs from the index's, in which
// case the series are rebuilt from the index. Every STOW thus writes its
// own instances over a version holding those of the STOWs before it, so
// concurrent STOWs into one study lose none, and a study whose resource
// missed instances (a failed update) is repaired by its next STOW. A round
// works on the resource's JSON, never on a decoded model of it (see
// studyDoc).
func (s *Server) syncStudy(ctx context.Context, study string, links studyLinks, added []*instanceRecord) (id string, err error) {
	ctx = detach(ctx) // a client hanging up must not leave the study half in step
	rec, err := s.idx.setLinks(ctx, study, links.patient, "")
	if err != nil {
		return "", err
	}
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
		written, err := s.studyRound(ctx, study, id, links, added)
		if st := fhir.StatusOf(err); err != nil && st != http.StatusPreconditionFailed && st != http.StatusConflict {
			return id, err
		}
		if err == nil {
			if written.ImagingStudy != id {
				_, err = s.idx.setLinks(ctx, study, "", id)
			}
			return id, err
		}
	}
	return id, fmt.Errorf("imaging study %s: too many concurrent updates", id)
}

// studyRound is one attempt of syncStudy: it returns the study record it
// brought the resource in step with, or the update's error (412 when
// another writer came first).
func (s *Server) studyRound(ctx context.Context, study, id string, links studyLinks, added []*instanceRecord) (*studyRecord, error) {
	var stored []byte
	var version int64
	res, err := s.fhir.ReadStored(ctx, "ImagingStudy", id)
	switch {
	case err == nil:
		stored, version = res.Body, res.VersionID
	case fhir.StatusOf(err) == http.StatusNotFound || fhir.StatusOf(err) == http.StatusGone:
	default:
		return nil, err
	}
	doc, err := readStudyDoc(stored, s.pieceReader(ctx))
	if err != nil {
		return nil, err
	}
	previousOutline := doc.outline()
	rec, err := s.idx.study(ctx, study)
	if err != nil {
		return nil, err
	}
	before := maps.Clone(doc.members)
	if err := setStudyElements(doc.members, id, rec, links); err != nil {
		return nil, err
	}
	merged, changed, err := doc.merge(added, func(uid string) (Dataset, error) {
		se, err := s.idx.series(ctx, uid)
		return se.Attrs, err
	})
	if err != nil {
		return nil, err
	}
	if merged != rec.Instances {
		series, instances, err := s.studyContents(ctx, study)
		if err != nil {
			return nil, err
		}
		if err := doc.rebuild(series, instances); err != nil {
			return nil, err
		}
		changed = true
	}
	doc.setCounts()
	if version > 0 && !changed && sameMembers(before, doc.members) {
		return rec, nil // the same instances again: no new version
	}
	// The pieces first: a version names only pieces that are stored. Those
	// of a round that loses its update to another writer stay unnamed.
	if err := s.writePieces(ctx, doc.newPieces()); err != nil {
		return nil, err
	}
	if doc.unchecked {
		// An element built from the index would not be valid: let the
		// update validate the whole, and refuse it as such.
		var whole []byte
		whole, err = store.Assemble(ctx, doc.spliced(), func(_ context.Context, id string) ([]byte, error) { return doc.pieces(id) })
		if err == nil {
			_, err = s.fhir.Update(ctx, "ImagingStudy", id, whole, version)
		}
	} else {
		_, err = s.fhir.UpdateGenerated(ctx, "ImagingStudy", id, doc.generated(version, previousOutline), version)
	}
	if err != nil {
		return nil, fmt.Errorf("update imaging study: %w", err)
	}
	return rec, nil
}

// pieceReader reads the pieces of ImagingStudies from the index's store.
func (s *Server) pieceReader(ctx context.Context) func(id string) ([]byte, error) {
	return func(id string) ([]byte, error) { return store.ReadPiece(ctx, s.idx.st, id) }
}

// writePieces stores new pieces of ImagingStudies in the index's store.
func (s *Server) writePieces(ctx context.Context, pieces []*pieceDoc) error {
	bodies := make(map[string][]byte, len(pieces))
	for _, p := range pieces {
		bodies[p.id] = p.data
	}
	return store.WritePieces(ctx, s.idx.st, bodies)
}

// sameMembers reports whether two versions' members but meta are the same.
func sameMembers(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(withoutMeta(a), withoutMeta(b), func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

func withoutMeta(m map[string]json.RawMessage) map[string]json.RawMessage {
	if _, ok := m["meta"]; !ok {
		return m
	}
	c := maps.Clone(m)
	delete(c, "meta")
	return c
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
// current resource's members, keeping what others added (notes, reasons,
// interpreters…), and drops meta's versionId and lastUpdated (the update
// stamps its own).
func setStudyElements(m map[string]json.RawMessage, id string, rec *studyRecord, links studyLinks) error {
	var err error
	set := func(k string, v any) {
		if err == nil {
			m[k], err = json.Marshal(v)
		}
	}
	set("resourceType", "ImagingStudy")
	set("id", id)
	if raw, ok := m["meta"]; ok {
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("imaging study meta: %w", err)
		}
		delete(meta, "versionId")
		delete(meta, "lastUpdated")
		if len(meta) == 0 {
			delete(m, "meta")
		} else {
			set("meta", meta)
		}
	}
	ids, err := studyIdentifiers(m["identifier"], rec)
	if err != nil {
		return err
	}
	set("identifier", ids)
	set("status", "available")
	set("subject", map[string]string{"reference": "Patient/" + links.patient})
	set("endpoint", []any{map[string]string{"reference": "Endpoint/" + links.endpoint}})
	if links.basedOn != "" {
		set("basedOn", []any{map[string]string{"reference": "ServiceRequest/" + links.basedOn}})
	}
	if d := fhirDate(rec.Attrs.First(tagStudyDate)); d != "" {
		set("started", d) // DICOM times carry no zone, which a FHIR time would need
	}
	if desc := rec.Attrs.First(tagStudyDescription); desc != "" {
		set("description", desc)
	}
	var modalities []any
	for _, code := range rec.Modalities {
		modalities = append(modalities, map[string]string{"system": systemDCM, "code": code})
	}
	if modalities != nil {
		set("modality", modalities)
	}
	return err
}

// studyIdentifiers are the study's identifiers (its UID, its accession
// number) followed by the others the resource has.
func studyIdentifiers(old json.RawMessage, rec *studyRecord) ([]any, error) {
	ids := []any{identifier{System: systemDICOMUID, Value: "urn:oid:" + rec.UID}}
	if acc := rec.Attrs.First(tagAccessionNumber); acc != "" {
		ids = append(ids, map[string]any{"type": map[string]any{"coding": []map[string]string{{"system": systemV20203, "code": "ACSN"}}}, "value": acc})
	}
	for o := range model.Items(old) {
		var m map[string]any
		if err := json.Unmarshal(o, &m); err != nil {
			return nil, fmt.Errorf("imaging study identifier: %w", err)
		}
		if m["system"] == systemDICOMUID || isAccession(m) {
			continue
		}
		ids = append(ids, json.RawMessage(o))
	}
	return ids, nil
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
	return cmpOrdered(atoi(a), atoi(b), uidA, uidB)
}

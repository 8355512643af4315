package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// maxRoles bounds the PractitionerRoles read for one Practitioner.
const maxRoles = 100

// patientsPerQuery bounds the patients one care-relation search names.
const patientsPerQuery = 100

// identities returns the references that stand for the user fhirUser: the
// user itself, and for a Practitioner its PractitionerRoles and their
// Organizations, for a PractitionerRole its Practitioner and Organization.
func identities(ctx context.Context, st store.Store, fhirUser string) (map[string]bool, error) {
	out := map[string]bool{fhirUser: true}
	typ, id, _ := strings.Cut(fhirUser, "/")
	switch typ {
	case "Practitioner":
		page, _, err := find(ctx, st, "PractitionerRole", url.Values{"practitioner": {fhirUser}}, maxRoles)
		if err != nil {
			return nil, err
		}
		for i := range page {
			out["PractitionerRole/"+page[i].ID] = true
			addRefs(out, page[i].Body, "organization")
		}
	case "PractitionerRole":
		res, err := st.Read(ctx, typ, id)
		if errors.Is(err, store.ErrNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("consent: read %s: %w", fhirUser, err)
		}
		if !res.Deleted {
			addRefs(out, res.Body, "practitioner", "organization")
		}
	}
	return out, nil
}

// addRefs adds the references held in the named top-level members of body.
func addRefs(set map[string]bool, body []byte, members ...string) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return
	}
	for _, m := range members {
		var r referenceJSON
		if json.Unmarshal(doc[m], &r) == nil {
			if ref := relativeRef(r.Reference); ref != "" {
				set[ref] = true
			}
		}
	}
}

// careRelations are the searches that find a caller's care relations: the
// resource type, the parameters that name the caller, and the statuses
// that do not count.
var careRelations = []struct {
	typ     string
	params  []string
	ignored []string
}{
	{"CareTeam", []string{"participant"}, []string{"inactive", "entered-in-error"}},
	{"Encounter", []string{"participant"}, []string{"cancelled", "entered-in-error"}},
	{"ServiceRequest", []string{"requester", "performer"}, []string{"revoked", "entered-in-error"}},
}

// maxRelations is how many care relations of one kind inCare reads for a
// caller before it asks for the denied patients' only: most callers have
// few, and one search by caller is cheaper than one per hundred patients.
const maxRelations = 1000

// inCare returns the patients among patients with whom a user known by
// refs is in a care relation. Organizations are not care relations. It
// reads up to limit relations of each kind by caller, then falls back to
// searching the patients' relations.
func inCare(ctx context.Context, st store.Store, refs map[string]bool, patients []string, limit int) (map[string]bool, error) {
	var who []string
	for ref := range refs {
		if !strings.HasPrefix(ref, "Organization/") {
			who = append(who, ref)
		}
	}
	out := map[string]bool{}
	if len(who) == 0 {
		return out, nil
	}
	wanted := make(map[string]bool, len(patients))
	for _, p := range patients {
		wanted[p] = true
	}
	for _, rel := range careRelations {
		for _, param := range rel.params {
			byCaller := url.Values{param: {strings.Join(who, ",")}}
			found, complete, err := find(ctx, st, rel.typ, byCaller, limit)
			if err != nil {
				return nil, err
			}
			if !complete {
				if found, err = inCareOf(ctx, st, rel.typ, byCaller, patients); err != nil {
					return nil, err
				}
			}
			for i := range found {
				var doc struct {
					Status  string        `json:"status"`
					Subject referenceJSON `json:"subject"`
				}
				if json.Unmarshal(found[i].Body, &doc) != nil || contains(rel.ignored, doc.Status) {
					continue
				}
				if id, ok := patientID(doc.Subject.Reference); ok && wanted[id] {
					out[id] = true
				}
			}
		}
	}
	return out, nil
}

// inCareOf runs the search byCaller restricted to patients, a hundred at a time.
func inCareOf(ctx context.Context, st store.Store, typ string, byCaller url.Values, patients []string) ([]store.Resource, error) {
	var out []store.Resource
	for start := 0; start < len(patients); start += patientsPerQuery {
		chunk := patients[start:min(start+patientsPerQuery, len(patients))]
		subjects := make([]string, len(chunk))
		for i, p := range chunk {
			subjects[i] = "Patient/" + p
		}
		q := url.Values{"patient": {strings.Join(subjects, ",")}}
		for k, v := range byCaller {
			q[k] = v
		}
		found, _, err := find(ctx, st, typ, q, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// find runs a search of typ with params, reading every page, or up to
// limit resources when limit > 0; complete reports that nothing was left.
func find(ctx context.Context, st store.Store, typ string, params url.Values, limit int) (found []store.Resource, complete bool, err error) {
	plan := search.Parse(typ, params)
	if len(plan.Ignored) > 0 {
		return nil, false, fmt.Errorf("consent: the %s search ignored %v", typ, plan.Ignored)
	}
	q := plan.Query
	q.Count = pageSize
	if limit > 0 {
		q.Count = min(limit, pageSize)
	}
	for {
		page, err := st.Search(ctx, q)
		if err != nil {
			return nil, false, fmt.Errorf("consent: search %s: %w", typ, err)
		}
		found = append(found, page.Resources...)
		if !page.More {
			return found, true, nil
		}
		if limit > 0 && len(found) >= limit {
			return found, false, nil
		}
		q.Cursor = page.Next
	}
}

package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

// fixture is a store with a recorder and a policy over it.
type fixture struct {
	st     store.Store
	api    *fhir.Server
	rec    *audit.Recorder
	policy *Policy
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "consent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return fixtureOn(t, st)
}

func fixtureOn(t *testing.T, st store.Store) *fixture {
	t.Helper()
	rec, err := audit.NewRecorder(st, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	f := &fixture{st: st, rec: rec, now: time.Now()}
	f.api = fhirAPI(t, st)
	f.policy = f.newPolicy(Options{Auditor: rec, Now: func() time.Time { return f.now }})
	return f
}

// fhirAPI is the FHIR layer over st, which the policy writes through and
// the tests store their resources with.
func fhirAPI(t testing.TB, st store.Store) *fhir.Server {
	t.Helper()
	api, err := fhir.New(fhir.Options{Store: st, BaseURL: "http://consent.test/fhir", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// newPolicy is a policy over the fixture's store that writes through its FHIR API.
func (f *fixture) newPolicy(opts Options) *Policy {
	p := New(f.st, opts)
	p.UseResources(f.api)
	return p
}

// put stores body (JSON, resourceType and id given) as the next version of
// its resource, validated and indexed as the FHIR layer would.
func (f *fixture) put(t *testing.T, body string) {
	t.Helper()
	var head struct{ ResourceType, ID string }
	if err := json.Unmarshal([]byte(body), &head); err != nil {
		t.Fatalf("invalid test resource: %v\n%s", err, body)
	}
	if _, err := f.api.Update(context.Background(), head.ResourceType, head.ID, []byte(body), 0); err != nil {
		t.Fatalf("store %s/%s: %v\n%s", head.ResourceType, head.ID, err, body)
	}
}

func (f *fixture) remove(t *testing.T, typ, id string) {
	t.Helper()
	ctx := context.Background()
	cur, err := f.st.Read(ctx, typ, id)
	if err != nil {
		t.Fatal(err)
	}
	w := store.Write{Type: typ, ID: id, Version: cur.VersionID + 1, LastUpdated: time.Now(), Deleted: true, Method: "DELETE"}
	if err := f.st.Commit(ctx, []store.Write{w}); err != nil {
		t.Fatal(err)
	}
}

// count returns how many resources a search finds.
func (f *fixture) count(t *testing.T, typ string, params url.Values) int {
	t.Helper()
	return len(f.find(t, typ, params))
}

func (f *fixture) find(t *testing.T, typ string, params url.Values) []store.Resource {
	t.Helper()
	// Through audit.LeanSearch, as the REST layer searches: the recorder's
	// AuditEvents are indexed for its rewritten searches.
	found, _, err := find(context.Background(), audit.LeanSearch(f.st), typ, params, 0)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func (f *fixture) restrictions(t *testing.T, p *authz.Principal) authz.Restrictions {
	t.Helper()
	r, err := f.policy.Restrictions(context.Background(), p)
	if err != nil {
		t.Fatalf("Restrictions(%s): %v", p.FHIRUser, err)
	}
	return r
}

func professional(user, token string) *authz.Principal {
	return &authz.Principal{TokenID: token, Subject: "acct-" + token, ClientID: "app", FHIRUser: user, Address: "192.0.2.7"}
}

// consentDoc returns an active patient-privacy Consent of patient with
// the given provision (a JSON object).
func consentDoc(id, patient, status, provision string) string {
	return fmt.Sprintf(`{"resourceType":"Consent","id":%q,"status":%q,
		"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
		"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
		"patient":{"reference":"Patient/%s"},
		"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},
		"provision":%s}`, id, status, patient, provision)
}

// actor returns a provision actor naming ref.
func actor(ref string) string {
	return fmt.Sprintf(`{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":%q}}`, ref)
}

func practitionerJSON(id, family string) string {
	return fmt.Sprintf(`{"resourceType":"Practitioner","id":%q,"name":[{"family":%q,"given":["Claire"],"prefix":["Dr"]}]}`, id, family)
}

func patientJSON(id string) string {
	return fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"Durand"}]}`, id)
}

func joinIDs(ids []string) string { return strings.Join(ids, ",") }

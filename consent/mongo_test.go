package consent

import (
	"context"
	"testing"

	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/mongo/mongotest"
)

// TestMongo runs the break-the-glass scenario (and with it deny, the
// consent decision audit and the Communication) on the Mongo backend
// (FerretDB in-process).
func TestMongo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB; skipped with -short")
	}
	t.Parallel()
	st, err := mongo.Open(context.Background(), mongotest.Start(t)+"consent")
	if err != nil {
		t.Fatalf("open mongo store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	f := fixtureOn(t, st)
	f.put(t, patientJSON("p1"))
	f.put(t, practitionerJSON("pr1", "Lefebvre"))
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny","provision":[{"type":"permit","actor":[`+actor("Practitioner/pr9")+`]}]}`))
	f.put(t, `{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"Practitioner/pr8"}}]}`)
	for _, user := range []string{"Practitioner/pr8", "Practitioner/pr9"} {
		if r := f.restrictions(t, professional(user, "t-"+user)); len(r.DeniedPatients) > 0 {
			t.Errorf("%s: %+v, want p1 open (care team, named permit)", user, r)
		}
	}
	breakTheGlass(t, f)
}

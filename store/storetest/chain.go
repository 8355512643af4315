package storetest

import (
	"testing"

	"github.com/telehub/telehub/store"
)

func reference(param, target string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindReference, Text: target}
}

// chain returns a chained condition on param: its reference names a current
// resource of one of types (any type when none) matching every clause.
func chain(param string, types []string, clauses ...store.Clause) store.Condition {
	return store.Condition{Param: param, Chain: &store.Query{Types: types, Clauses: clauses}}
}

// has returns a reverse-chain condition: some current resource of types
// matching every clause references the candidate through param.
func has(types []string, param string, clauses ...store.Clause) store.Condition {
	return store.Condition{Has: &store.Reverse{Param: param, Query: store.Query{Types: types, Clauses: clauses}}}
}

func prefix(param, text string) store.Clause {
	return clause(cond(param, store.OpPrefix, text))
}

var (
	groups        = []string{"Group"}
	encounters    = []string{"Encounter"}
	organizations = []string{"Organization"}
)

// chainFixture stores a small graph of references:
//
//	Organization/org1  name "acme clinic"
//	Organization/org2  name "other"
//	Organization/org3  name "acme gone", deleted
//	Patient/p1         name "alice", gender female, organization org1
//	Patient/p2         name "bob", gender male, organization org2
//	Patient/p3         name "alfred", gender male, organization org3 (deleted)
//	Patient/gone       name "alina", organization org1, deleted
//	Group/g1           name "alpha team"
//	Observation/o1     subject Patient/p1, code c1, encounter Encounter/e1
//	Observation/o2     subject Patient/p2, code c2
//	Observation/o3     subject Group/g1, code c1
//	Observation/o4     subject Patient/gone, code c1
//	Observation/o5     subject Patient/p3, code c3
//	Observation/o6     subject Patient/nowhere (never stored), code c2
//	Observation/o7     no subject, code c1
//	Observation/o8     encounter Encounter/e1, code c9
//	Observation/o9     encounter Encounter/e2, code c8
//	Observation/o10    subject Patient/p2, code c1, deleted
//	Encounter/e1       subject Patient/p1
//	Encounter/e2       subject Patient/p2
//
// Deleted resources keep the index entries of their last live version in
// the writes, so that a backend that forgets the deleted flag fails.
func chainFixture(t *testing.T, s store.Store) {
	for _, w := range []store.Write{
		newWrite("Organization", "org1", 1, at(0), "POST", str("name", "acme clinic")),
		newWrite("Organization", "org2", 1, at(1), "POST", str("name", "other")),
		newWrite("Organization", "org3", 1, at(2), "POST", str("name", "acme gone")),
		deletion("Organization", "org3", 2, at(3)),
		newWrite("Patient", "p1", 1, at(10), "POST",
			str("name", "alice"), token("gender", "female"), reference("organization", "Organization/org1")),
		newWrite("Patient", "p2", 1, at(11), "POST",
			str("name", "bob"), token("gender", "male"), reference("organization", "Organization/org2")),
		newWrite("Patient", "p3", 1, at(12), "POST",
			str("name", "alfred"), token("gender", "male"), reference("organization", "Organization/org3")),
		newWrite("Patient", "gone", 1, at(13), "POST",
			str("name", "alina"), reference("organization", "Organization/org1")),
		deletion("Patient", "gone", 2, at(14)),
		newWrite("Group", "g1", 1, at(15), "POST", str("name", "alpha team")),
		newWrite("Encounter", "e1", 1, at(20), "POST", reference("subject", "Patient/p1")),
		newWrite("Encounter", "e2", 1, at(21), "POST", reference("subject", "Patient/p2")),
		newWrite("Observation", "o1", 1, at(30), "POST",
			reference("subject", "Patient/p1"), token("code", "c1"), reference("encounter", "Encounter/e1")),
		newWrite("Observation", "o2", 1, at(31), "POST", reference("subject", "Patient/p2"), token("code", "c2")),
		newWrite("Observation", "o3", 1, at(32), "POST", reference("subject", "Group/g1"), token("code", "c1")),
		newWrite("Observation", "o4", 1, at(33), "POST", reference("subject", "Patient/gone"), token("code", "c1")),
		newWrite("Observation", "o5", 1, at(34), "POST", reference("subject", "Patient/p3"), token("code", "c3")),
		newWrite("Observation", "o6", 1, at(35), "POST", reference("subject", "Patient/nowhere"), token("code", "c2")),
		newWrite("Observation", "o7", 1, at(36), "POST", token("code", "c1")),
		newWrite("Observation", "o8", 1, at(37), "POST", reference("encounter", "Encounter/e1"), token("code", "c9")),
		newWrite("Observation", "o9", 1, at(38), "POST", reference("encounter", "Encounter/e2"), token("code", "c8")),
		newWrite("Observation", "o10", 1, at(39), "POST", reference("subject", "Patient/p2"), token("code", "c1")),
		deletion("Observation", "o10", 2, at(40)),
	} {
		commit(t, s, w)
	}
}

func testSearchChain(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	chainFixture(t, s)
	allObs := []string{"Observation/o1", "Observation/o2", "Observation/o3", "Observation/o4", "Observation/o5",
		"Observation/o6", "Observation/o7", "Observation/o8", "Observation/o9"}
	without := func(all []string, drop ...string) []string {
		var out []string
		for _, r := range all {
			keep := true
			for _, d := range drop {
				keep = keep && r != d
			}
			if keep {
				out = append(out, r)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		types   []string
		clauses []store.Clause
		want    []string
	}{
		{"to patient name prefix", obs, []store.Clause{clause(chain("subject", patients, prefix("name", "al")))},
			[]string{"Observation/o1", "Observation/o5"}},
		{"to any type", obs, []store.Clause{clause(chain("subject", nil, prefix("name", "al")))},
			[]string{"Observation/o1", "Observation/o3", "Observation/o5"}},
		{"to group only", obs, []store.Clause{clause(chain("subject", groups, prefix("name", "al")))},
			[]string{"Observation/o3"}},
		{"types restrict targets", obs, []store.Clause{clause(chain("subject", patients, prefix("name", "alpha")))}, nil},
		{"exact name", obs, []store.Clause{clause(chain("subject", patients, exact("name", "bob")))},
			[]string{"Observation/o2"}},
		{"by _id", obs, []store.Clause{clause(chain("subject", patients, exact(store.ParamID, "p1")))},
			[]string{"Observation/o1"}},
		{"no clauses: any current target", obs, []store.Clause{clause(chain("subject", patients))},
			[]string{"Observation/o1", "Observation/o2", "Observation/o5"}},
		{"deleted target by _id", obs, []store.Clause{clause(chain("subject", patients, exact(store.ParamID, "gone")))}, nil},
		{"deleted target by name", obs, []store.Clause{clause(chain("subject", patients, exact("name", "alina")))}, nil},
		{"never stored target", obs, []store.Clause{clause(chain("subject", patients, exact(store.ParamID, "nowhere")))}, nil},
		{"wrong param", obs, []store.Clause{clause(chain("encounter", patients, prefix("name", "al")))}, nil},
		{"two levels", obs, []store.Clause{clause(chain("subject", patients,
			clause(chain("organization", organizations, prefix("name", "acme")))))},
			[]string{"Observation/o1"}},
		{"two levels through a deleted organization", obs, []store.Clause{clause(chain("subject", patients,
			clause(chain("organization", organizations, exact("name", "acme gone")))))}, nil},
		{"three levels", obs, []store.Clause{clause(chain("encounter", encounters,
			clause(chain("subject", patients, clause(chain("organization", organizations, exact("name", "acme clinic")))))))},
			[]string{"Observation/o1", "Observation/o8"}},
		{"not chain", obs, []store.Clause{clause(not(chain("subject", patients, prefix("name", "al"))))},
			without(allObs, "Observation/o1", "Observation/o5")},
		{"chain to not", obs, []store.Clause{clause(chain("subject", patients, clause(not(cond("name", store.OpPrefix, "al")))))},
			[]string{"Observation/o2"}},
		{"chain and plain", obs, []store.Clause{clause(chain("subject", nil, prefix("name", "al"))), exact("code", "c1")},
			[]string{"Observation/o1", "Observation/o3"}},
		{"chain or plain", obs, []store.Clause{clause(chain("subject", patients, exact("name", "bob")), cond("code", store.OpExact, "c3"))},
			[]string{"Observation/o2", "Observation/o5"}},
		{"chain or chain", obs, []store.Clause{clause(
			chain("subject", patients, exact("name", "bob")), chain("encounter", encounters, exact(store.ParamID, "e1")))},
			[]string{"Observation/o1", "Observation/o2", "Observation/o8"}},
		{"two chains anded", obs, []store.Clause{
			clause(chain("subject", patients, exact("gender", "female"))), clause(chain("encounter", encounters))},
			[]string{"Observation/o1"}},
		{"from every type", nil, []store.Clause{clause(chain("subject", patients, exact("name", "bob")))},
			[]string{"Observation/o2", "Encounter/e2"}},
		{"chain into a has", obs, []store.Clause{clause(chain("subject", patients,
			clause(has(obs, "subject", exact("code", "c2")))))},
			[]string{"Observation/o2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: tc.types, Clauses: tc.clauses, Count: 100}, tc.want)
		})
	}
}

func testSearchHas(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	chainFixture(t, s)
	for _, tc := range []struct {
		name    string
		types   []string
		clauses []store.Clause
		want    []string
	}{
		{"patient with an observation", patients, []store.Clause{clause(has(obs, "subject", exact("code", "c1")))},
			[]string{"Patient/p1"}},
		{"any referenced type", nil, []store.Clause{clause(has(obs, "subject", exact("code", "c1")))},
			[]string{"Patient/p1", "Group/g1"}},
		{"group with an observation", groups, []store.Clause{clause(has(obs, "subject", exact("code", "c1")))},
			[]string{"Group/g1"}},
		{"any referrer type", patients, []store.Clause{clause(has(nil, "subject"))},
			[]string{"Patient/p1", "Patient/p2", "Patient/p3"}},
		{"referrer types restrict", patients, []store.Clause{clause(has(encounters, "subject"))},
			[]string{"Patient/p1", "Patient/p2"}},
		{"deleted referrer does not count", patients, []store.Clause{clause(has(obs, "subject", exact("code", "c1")))},
			[]string{"Patient/p1"}},
		{"deleted referrer by _id", patients, []store.Clause{clause(has(obs, "subject", exact(store.ParamID, "o10")))}, nil},
		{"deleted candidate", patients, []store.Clause{clause(has(obs, "subject", exact(store.ParamID, "o4")))}, nil},
		{"wrong param", patients, []store.Clause{clause(has(obs, "encounter", exact("code", "c1")))}, nil},
		{"nested", patients, []store.Clause{clause(has(encounters, "subject",
			clause(has(obs, "encounter", exact("code", "c9")))))},
			[]string{"Patient/p1"}},
		{"nested, other branch", patients, []store.Clause{clause(has(encounters, "subject",
			clause(has(obs, "encounter", exact("code", "c8")))))},
			[]string{"Patient/p2"}},
		{"nested, referrer with several references", patients, []store.Clause{clause(has(encounters, "subject",
			clause(has(obs, "encounter", exact("code", "c1")))))},
			[]string{"Patient/p1"}},
		{"organization of a patient", organizations, []store.Clause{clause(has(patients, "organization", prefix("name", "al")))},
			[]string{"Organization/org1"}},
		{"and a plain clause", patients, []store.Clause{clause(has(obs, "subject")), exact("gender", "male")},
			[]string{"Patient/p2", "Patient/p3"}},
		{"and without match", patients, []store.Clause{clause(has(obs, "subject", exact("code", "c2"))), prefix("name", "al")}, nil},
		{"or a plain condition", patients, []store.Clause{clause(has(obs, "subject", exact("code", "c3")), cond("name", store.OpExact, "bob"))},
			[]string{"Patient/p2", "Patient/p3"}},
		{"two has anded", patients, []store.Clause{
			clause(has(obs, "subject", exact("code", "c1"))), clause(has(encounters, "subject"))},
			[]string{"Patient/p1"}},
		{"not has", patients, []store.Clause{clause(not(has(obs, "subject", exact("code", "c1"))))},
			[]string{"Patient/p2", "Patient/p3"}},
		{"has with a chain", patients, []store.Clause{clause(has(obs, "subject",
			clause(chain("encounter", encounters, exact(store.ParamID, "e1")))))},
			[]string{"Patient/p1"}},
		{"has of a chain's target", organizations, []store.Clause{clause(has(patients, "organization",
			clause(has(obs, "subject", exact("code", "c2")))))},
			[]string{"Organization/org2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: tc.types, Clauses: tc.clauses, Count: 100}, tc.want)
		})
	}
}

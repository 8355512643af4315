package fhir

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/mongo/mongotest"
)

// The search features through HTTP on the Mongo backend (FerretDB in-process).
func TestSearchMongo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB; skipped with -short")
	}
	t.Parallel()
	uri := mongotest.Start(t)
	var dbs atomic.Int64
	newServer := func(t *testing.T) *testServer {
		st, err := mongo.Open(context.Background(), fmt.Sprintf("%sfhir%d", uri, dbs.Add(1)))
		if err != nil {
			t.Fatalf("open mongo store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return newTestServerOn(t, st, Options{})
	}
	clinicServer := newServer(t)
	clinic(clinicServer)
	for _, c := range []struct {
		name string
		run  func(*testing.T, *testServer)
	}{
		{"include", testSearchInclude},
		{"total and summary", testSearchTotalAndSummary},
		{"list", testSearchList},
		{"chain and has", testSearchChainAndHas},
		{"compartment", testCompartment},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, clinicServer) })
	}
	t.Run("custom search parameter", func(t *testing.T) { testCustomSearchParameter(t, newServer(t)) })
	t.Run("paging under writes", func(t *testing.T) { testPagingUnderWrites(t, newServer) })
}

// BenchmarkSearchMongo is BenchmarkSearchRevInclude and BenchmarkSearchChain
// on the Mongo backend (FerretDB in-process, so slower than MongoDB itself).
func BenchmarkSearchMongo(b *testing.B) {
	st, err := mongo.Open(context.Background(), mongotest.Start(b)+"fhirbench")
	if err != nil {
		b.Fatalf("open mongo store: %v", err)
	}
	b.Cleanup(func() { st.Close() })
	ts := loadBench(b, newTestServerOn(b, st, Options{}), 20)
	b.Run("RevInclude", func(b *testing.B) { benchRevInclude(b, ts) })
	b.Run("Chain", func(b *testing.B) { benchChain(b, ts) })
	// The same without the total, which counts every match.
	b.Run("PageNoTotal", func(b *testing.B) {
		benchSearch(b, ts, func(int) string { return "/fhir/Patient?_count=20&_total=none" }, 20)
	})
	b.Run("ChainNoTotal", func(b *testing.B) {
		benchSearch(b, ts, func(i int) string {
			return "/fhir/Observation?_total=none&subject:Patient.identifier=" + url.QueryEscape(fmt.Sprintf("%s|T%d-%d", mrn, i%20, i%50))
		}, 1)
	})
}

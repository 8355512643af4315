package mongo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
)

// benchWrite is a write of a 1 KB Observation with a typical index, its
// date version hours after t0.
func benchWrite(id string, version int64) store.Write {
	return benchWriteAt(id, version, version)
}

func benchWriteAt(id string, version, hour int64) store.Write {
	day := float64(t0.Add(time.Duration(hour) * time.Hour).UnixMilli())
	return store.Write{
		Type: "Observation", ID: id, Version: version, LastUpdated: t0.Add(time.Duration(version) * time.Second),
		Method: "PUT",
		Body:   fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"note":%q}`, id, strings.Repeat("x", 1000)),
		Index: []store.IndexEntry{
			{Param: "code", Kind: store.KindToken, Text: "http://loinc.org|8867-4"},
			{Param: "code", Kind: store.KindToken, Text: "8867-4"},
			{Param: "subject", Kind: store.KindReference, Text: "Patient/" + id},
			{Param: "date", Kind: store.KindDate, Low: day, High: day + 1000},
			{Param: "value-quantity", Kind: store.KindQuantity, Text: "http://unitsofmeasure.org|/min", Low: 71.5, High: 72.5},
		},
	}
}

func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	s := mongo.OpenForTest(b)
	mustCommit(b, s, benchWrite("o", 1))
	for b.Loop() {
		if _, err := s.Read(ctx, "Observation", "o"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitUpdate measures one compare-and-set update.
func BenchmarkCommitUpdate(b *testing.B) {
	ctx := context.Background()
	s := mongo.OpenForTest(b)
	version := int64(1)
	mustCommit(b, s, benchWrite("o", version))
	for b.Loop() {
		version++
		if err := s.Commit(ctx, []store.Write{benchWrite("o", version)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit100 writes 100 new resources per operation, as a batch
// Bundle does: FerretDB has no transactions, so each is its own commit.
// FerretDB v1's SQLite handler looks documents up by _id with a table scan
// (its query expression does not match its index), so the time per write
// grows with the collection; real MongoDB uses the _id index.
func BenchmarkCommit100(b *testing.B) {
	ctx := context.Background()
	s := mongo.OpenForTest(b)
	n := 0
	for b.Loop() {
		for range 100 {
			n++
			if err := s.Commit(ctx, []store.Write{benchWrite(fmt.Sprint(n), 1)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkSearch runs a token and date search over 1,000 resources.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	s := mongo.OpenForTest(b)
	for i := range 1000 {
		mustCommit(b, s, benchWriteAt(fmt.Sprint(i), 1, int64(1+i%50)))
	}
	low := float64(t0.Add(10 * time.Hour).UnixMilli())
	q := store.Query{Types: []string{"Observation"}, Count: 20, Total: true,
		Sort: []store.SortKey{{Param: "date", Descending: true}},
		Clauses: []store.Clause{
			{Any: []store.Condition{{Param: "code", Op: store.OpExact, Text: "http://loinc.org|8867-4"}}},
			{Any: []store.Condition{{Param: "date", Op: store.OpGe, Low: low, High: low + 1000}}},
		}}
	for b.Loop() {
		res, err := s.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if res.Total != 820 { // hours 10 to 50 of 1 to 50
			b.Fatalf("total = %d, want 820", res.Total)
		}
	}
}

// BenchmarkSearchChain runs Observation?subject:Patient.name=smith7 over
// 1,000 patients with one Observation each: the chain matches 110 patients
// (smith7, smith70 to smith79), whose 110 Observations are counted and the
// first 20 returned.
func BenchmarkSearchChain(b *testing.B) {
	ctx := context.Background()
	s := mongo.OpenForTest(b)
	for i := range 1000 {
		id := fmt.Sprint(i)
		mustCommit(b, s, write("Patient", id, 1,
			store.IndexEntry{Param: "name", Kind: store.KindString, Text: fmt.Sprint("smith", i%100)}))
		mustCommit(b, s, benchWrite(id, 1))
	}
	q := store.Query{Types: []string{"Observation"}, Count: 20, Total: true,
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "subject", Chain: &store.Query{
			Types:   []string{"Patient"},
			Clauses: []store.Clause{{Any: []store.Condition{{Param: "name", Op: store.OpPrefix, Text: "smith7"}}}},
		}}}}}}
	for b.Loop() {
		res, err := s.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if res.Total != 110 || len(res.Resources) != 20 {
			b.Fatalf("total = %d, page = %d; want 110, 20", res.Total, len(res.Resources))
		}
	}
}

// BenchmarkSearchPage fetches the 26th page of 20 of 1,000 Observations
// sorted by date, descending: by cursor (a keyset filter) and by offset
// (the server skips 500 matches).
func BenchmarkSearchPage(b *testing.B) {
	ctx := context.Background()
	s := mongo.OpenForTest(b)
	for i := range 1000 {
		mustCommit(b, s, benchWriteAt(fmt.Sprint(i), 1, int64(1+i%50)))
	}
	q := store.Query{Types: []string{"Observation"}, Count: 20,
		Sort: []store.SortKey{{Param: "date", Descending: true}}}
	cursor := ""
	for range 25 {
		q.Cursor = cursor
		res, err := s.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		cursor = res.Next
	}
	for _, page := range []struct {
		name   string
		cursor string
		offset int
	}{
		{"cursor", cursor, 0},
		{"offset", "", 500},
	} {
		b.Run(page.name, func(b *testing.B) {
			q := q
			q.Cursor, q.Offset = page.cursor, page.offset
			for b.Loop() {
				res, err := s.Search(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Resources) != 20 || !res.More {
					b.Fatalf("page of %d, more %v; want 20 and more", len(res.Resources), res.More)
				}
			}
		})
	}
}

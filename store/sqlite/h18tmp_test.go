package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

func BenchmarkH18Realistic(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	params := []string{"identifier", "family", "name", "gender", "code", "subject", "patient", "status", "_content", "combo-code"}
	var next int
	for b.Loop() {
		writes := make([]store.Write, 100)
		for j := range writes {
			w := benchWrite("Patient", fmt.Sprint(next), 1)
			w.Index = nil
			for k := range 24 {
				w.Index = append(w.Index, store.IndexEntry{Param: params[k%len(params)], Kind: store.KindToken, Text: fmt.Sprintf("http://x.org/%d|%x", k, rng.Uint64())})
			}
			w.Index = append(w.Index, store.IndexEntry{Param: "date", Kind: store.KindDate, Low: float64(rng.IntN(1e9)), High: 2e9})
			w.LastUpdated = time.Now()
			writes[j] = w
			next++
		}
		if err := s.Commit(ctx, writes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "resources/s")
}

package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/telehub/telehub/bench"
)

func TestZZProfile(t *testing.T) {
	if os.Getenv("ZZ_PROFILE") == "" {
		t.Skip()
	}
	base := startServer(t, true)
	res, err := bench.Run(context.Background(), bench.Config{URL: base, Duration: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res.WriteTable(os.Stdout)
}

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/telehub/telehub/load"
	"github.com/telehub/telehub/population"
)

// Population names a synthetic population (package population) by its
// seed and size: the same pair always gives the same resources.
type Population struct {
	Seed      int64 `json:"seed"`
	Resources int   `json:"resources"`
}

// markerFile, in a data directory, records the population loaded into it,
// so that a later search bench on the same directory skips the load.
const markerFile = "bench-population.json"

// LoadedPopulation reads the population a data directory was loaded with;
// ok is false when none was recorded (an empty directory, or a load that
// did not finish).
func LoadedPopulation(dir string) (p Population, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, markerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("bench: read the population marker: %w", err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, false, fmt.Errorf("bench: population marker %s: %w", filepath.Join(dir, markerFile), err)
	}
	return p, true, nil
}

// MarkLoaded records in dir that p was loaded completely.
func MarkLoaded(dir string, p Population) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("bench: population marker: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, markerFile), append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("bench: write the population marker: %w", err)
	}
	return nil
}

// LoadPopulation loads p into the server at url with the loader's defaults
// (transaction Bundles of PUT entries, so a reload is idempotent); progress,
// when set, is called with the resources loaded so far and the total.
func LoadPopulation(ctx context.Context, url, token string, p Population, progress func(done, total int64)) (load.Summary, error) {
	g := population.New(p.Seed, population.Options{Resources: p.Resources})
	cfg := load.Config{URL: url, Token: token}
	if progress != nil {
		total := int64(g.Total())
		cfg.Progress = func(done int64) { progress(done, total) }
	}
	summary, err := load.Run(ctx, cfg, g.Resources())
	if err != nil {
		return summary, fmt.Errorf("bench: load seed %d, %d resources: %w", p.Seed, p.Resources, err)
	}
	return summary, nil
}

package dicomweb

import (
	"context"
	"slices"
	"testing"

	"github.com/telehub/telehub/dicomweb/bench"
)

// TestOrthancToOrthanc checks the harness itself against a reference pair:
// one Orthanc sends the fixture study to another through DICOMweb, so a
// failure of the TeleHub tests below is TeleHub's, not the harness's.
func TestOrthancToOrthanc(t *testing.T) {
	t.Parallel()
	fx := makeFixtures(t)
	target := startOrthanc(t, nil)
	src := startOrthanc(t, map[string]bench.Peer{"peer": {URL: target.DICOMweb}})
	var paths []string
	for _, f := range fx {
		paths = append(paths, f.path)
	}
	study := uploadAll(t, src, paths)
	var out map[string]any
	if err := src.CallJSON(context.Background(), "/dicom-web/servers/peer/stow", map[string]any{"Resources": []string{study}}, &out); err != nil {
		t.Fatal(err)
	}
	got, err := orthancQIDO(t, src, "peer", "/studies/"+fixtureStudy+"/instances", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sopSet(got), fixtureSOPs(fx)) {
		t.Fatalf("the peer has %v, want %v", sopSet(got), fixtureSOPs(fx))
	}
}

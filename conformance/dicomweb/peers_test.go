package dicomweb

import (
	"context"
	"errors"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/telehub/telehub/dicomweb/bench"
)

// startOrthanc starts Orthanc with its DICOMweb plugin and the given
// DICOMweb peers, skipping (or failing under TELEHUB_REQUIRE_E2E=1) when it
// is not installed.
func startOrthanc(t testing.TB, peers map[string]bench.Peer) *bench.Orthanc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := bench.StartOrthanc(ctx, bench.OrthancConfig{Dir: t.TempDir(), Peers: peers})
	if errors.Is(err, bench.ErrNoOrthanc) && os.Getenv("TELEHUB_REQUIRE_E2E") != "1" {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Stop(); err != nil {
			t.Error(err)
		}
	})
	return o
}

// uploadAll stores files in Orthanc through its REST API and returns
// Orthanc's id of their (single) study.
func uploadAll(t testing.TB, o *bench.Orthanc, paths []string) string {
	t.Helper()
	ctx := context.Background()
	study := ""
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ParentStudy string }
		if err := o.Call(ctx, "POST", "/instances", "application/dicom", b, &out); err != nil {
			t.Fatalf("upload %s: %v", p, err)
		}
		if study != "" && out.ParentStudy != study {
			t.Fatalf("%s is in Orthanc study %s, not %s", p, out.ParentStudy, study)
		}
		study = out.ParentStudy
	}
	return study
}

// orthancQIDO asks Orthanc to search a DICOMweb peer.
func orthancQIDO(t testing.TB, o *bench.Orthanc, peer, uri string, args map[string]string) ([]map[string]dicomAttr, error) {
	t.Helper()
	if args == nil {
		args = map[string]string{} // Orthanc wants an object, not null
	}
	var out []map[string]dicomAttr
	err := o.CallJSON(context.Background(), "/dicom-web/servers/"+peer+"/qido",
		map[string]any{"Uri": uri, "Arguments": args}, &out)
	return out, err
}

func sopSet(matches []map[string]dicomAttr) []string {
	var out []string
	for _, m := range matches {
		out = append(out, str(m, "00080018"))
	}
	sort.Strings(out)
	return out
}

func fixtureSOPs(fx []fixture) []string {
	var out []string
	for _, f := range fx {
		out = append(out, f.sop)
	}
	sort.Strings(out)
	return out
}

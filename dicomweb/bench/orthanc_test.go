package bench

import (
	"context"
	"errors"
	"os"
	"testing"
)

func TestOrthancStartsAndStores(t *testing.T) {
	t.Parallel()
	o := startOrthanc(t, nil)
	s, err := NewSynth(7, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := o.Upload(ctx, s.Instance(0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	var studies []map[string]any
	if err := o.Call(ctx, "GET", "/dicom-web/studies?StudyInstanceUID="+s.StudyUID(0), "", nil, &studies); err != nil {
		t.Fatal(err)
	}
	if len(studies) != 1 {
		t.Fatalf("QIDO found %d studies, want 1", len(studies))
	}
	if _, err := o.Upload(ctx, []byte("not DICOM")); err == nil {
		t.Error("Orthanc accepted a file that is not DICOM")
	}
}

func TestStartOrthancRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := StartOrthanc(ctx, OrthancConfig{Dir: t.TempDir(), Binary: "/nonexistent/Orthanc"}); !errors.Is(err, ErrNoOrthanc) {
		t.Errorf("missing binary: %v, want ErrNoOrthanc", err)
	}
	if _, err := StartOrthanc(ctx, OrthancConfig{Binary: os.Args[0], Plugin: os.Args[0]}); err == nil {
		t.Error("no Dir: accepted")
	}
}

package dicomweb

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWriteTestdata copies the dcmtk fixtures into testdata/dicom when
// TELEHUB_WRITE_TESTDATA=1, for the tests of packages that should not need
// dcmtk; the README there says how they were made.
func TestWriteTestdata(t *testing.T) {
	if os.Getenv("TELEHUB_WRITE_TESTDATA") != "1" {
		t.Skip("set TELEHUB_WRITE_TESTDATA=1 to rewrite testdata/dicom from the dcmtk fixtures")
	}
	_, file, _, _ := runtime.Caller(0)
	dst := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "dicom")
	for _, f := range makeFixtures(t) {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f.name+".dcm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

package dicomweb

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/telehub/telehub/dicomweb/bench"
)

// TestOrthancSendsRealFiles has Orthanc send the real PET, MR, X-ray and
// multi-frame CT files shipped with github.com/suyashkumar/dicom to TeleHub,
// study by study, and checks TeleHub serves each back unchanged.
func TestOrthancSendsRealFiles(t *testing.T) {
	t.Parallel()
	files := moduleFiles(t)
	if len(files) == 0 {
		t.Skip("no real files: github.com/suyashkumar/dicom is not in the module cache")
	}
	h := startHub(t)
	o := startOrthanc(t, map[string]bench.Peer{
		"telehub": {URL: h.dicomweb, Headers: map[string]string{"Authorization": "Bearer " + h.token}},
	})
	ctx := context.Background()
	studies := map[string]bool{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ParentStudy string }
		if err := o.Call(ctx, "POST", "/instances", "application/dicom", b, &out); err != nil {
			t.Fatalf("upload %s: %v", filepath.Base(p), err)
		}
		studies[out.ParentStudy] = true
	}
	for s := range studies {
		if err := o.CallJSON(ctx, "/dicom-web/servers/telehub/stow", map[string]any{"Resources": []string{s}}, nil); err != nil {
			t.Fatalf("STOW of Orthanc study %s: %v", s, err)
		}
	}
	for _, p := range files {
		ds, err := dicom.ParseFile(p, nil, dicom.SkipPixelData())
		if err != nil {
			t.Fatal(err)
		}
		uid := func(tg tag.Tag) string {
			e, err := ds.FindElementByTag(tg)
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimRight(dicom.MustGetStrings(e.Value)[0], "\x00 ")
		}
		path := "/studies/" + uid(tag.StudyInstanceUID) + "/series/" + uid(tag.SeriesInstanceUID) + "/instances/" + uid(tag.SOPInstanceUID)
		status, hdr, body := h.get(t, path, `multipart/related; type="application/dicom"; transfer-syntax=*`)
		if status != 200 {
			t.Errorf("%s: %d %s", filepath.Base(p), status, clipped(body))
			continue
		}
		orig, _ := os.ReadFile(p)
		parts := multipartBodies(t, hdr.Get("Content-Type"), body)
		if len(parts) != 1 || !bytes.Equal(parts[0], orig) {
			t.Errorf("%s: TeleHub does not serve the file Orthanc sent", filepath.Base(p))
		}
		status, _, body = h.get(t, path+"/rendered", "image/png")
		if status != 200 {
			t.Errorf("%s rendered: %d %s", filepath.Base(p), status, clipped(body))
		}
	}
}

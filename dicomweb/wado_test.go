package dicomweb

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"strings"
	"testing"

	"github.com/telehub/telehub/dicomweb/render"
)

// testWADO: metadata, frames, bulk data, rendered images, WADO-URI, and
// Accept negotiation.
func testWADO(t *testing.T, b backend) {
	ev := newEnv(t, b)
	document := bytes.Repeat([]byte("%PDF-1.4 not really "), 100) // 2,000 bytes: above the inline threshold
	multi := spec{study: "5.1", series: "5.1.1", sop: "5.1.1.1", rows: 8, cols: 6, frames: 3, bits: 16, document: document}
	file := instance(t, multi)
	rgb := instance(t, spec{study: "5.1", series: "5.1.2", sop: "5.1.2.1", rows: 4, cols: 4, frames: 2, bits: 8, samples: 3, modality: "OT", seriesNumber: "2"})
	if status, res := ev.stow("admin", "/studies", file, rgb); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	inst := "/dicom-web/studies/5.1/series/5.1.1/instances/5.1.1.1"

	t.Run("metadata", func(t *testing.T) {
		for _, path := range []string{"/dicom-web/studies/5.1/metadata", "/dicom-web/studies/5.1/series/5.1.1/metadata", inst + "/metadata"} {
			md := ev.getJSON("admin", path)
			var d Dataset
			for _, m := range md {
				if m.First(tagSOPInstanceUID) == "5.1.1.1" {
					d = m
				}
			}
			if d == nil {
				t.Fatalf("%s: instance missing from %d", path, len(md))
			}
			pixel := d[tagPixelData]
			if pixel.BulkDataURI != ev.url+inst+"/bulkdata/7FE00010" || pixel.Value != nil {
				t.Errorf("%s: PixelData %s", path, mustJSON(t, pixel))
			}
			if d.First("00083002") != tsExplicitLE || d.First("00020010") != tsExplicitLE {
				t.Errorf("%s: transfer syntax missing from the metadata", path)
			}
			if d.First(tagRows) != "8" || d.First(tagNumberOfFrames) != "3" || d[tagPatientName].VR != "PN" {
				t.Errorf("%s: attributes %s", path, mustJSON(t, d))
			}
		}
	})

	frameSize := 8 * 6 * 2
	pixels := file[len(file)-3*frameSize:]
	t.Run("native frames", func(t *testing.T) {
		resp, body := ev.do("admin", "GET", inst+"/frames/3,1", nil, "Accept", `multipart/related; type="application/octet-stream"; transfer-syntax=*`)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		types, frames := parts(t, resp, body)
		if len(frames) != 2 || !bytes.Equal(frames[0], pixels[2*frameSize:]) || !bytes.Equal(frames[1], pixels[:frameSize]) {
			t.Fatalf("frames 3,1 are not the stored pixels (%d parts)", len(frames))
		}
		if !strings.HasPrefix(types[0], "application/octet-stream") {
			t.Errorf("part type %q", types[0])
		}
		// The same pixels from the parsed fallback path (RGB, 8 bits): frame 2.
		resp, body = ev.do("admin", "GET", "/dicom-web/studies/5.1/series/5.1.2/instances/5.1.2.1/frames/2", nil)
		_, frames = parts(t, resp, body)
		if len(frames) != 1 || !bytes.Equal(frames[0], rgb[len(rgb)-48:]) {
			t.Errorf("RGB frame 2 is not the stored pixels")
		}
	})
	t.Run("bulk data", func(t *testing.T) {
		resp, body := ev.do("admin", "GET", inst+"/bulkdata/7FE00010", nil)
		_, got := parts(t, resp, body)
		if len(got) != 1 || !bytes.Equal(got[0], pixels) {
			t.Errorf("pixel data bulk: %d parts", len(got))
		}
	})
	t.Run("bulk data of another attribute", func(t *testing.T) {
		md := ev.getJSON("admin", inst+"/metadata")
		uri := md[0]["00420011"].BulkDataURI
		if uri != ev.url+inst+"/bulkdata/00420011" {
			t.Fatalf("EncapsulatedDocument: %s", mustJSON(t, md[0]["00420011"]))
		}
		resp, body := ev.do("admin", "GET", strings.TrimPrefix(uri, ev.url), nil)
		_, got := parts(t, resp, body)
		if len(got) != 1 || !bytes.Equal(got[0], document) {
			t.Errorf("bulk data: %d parts", len(got))
		}
	})
	t.Run("rendered", func(t *testing.T) {
		for _, c := range []struct{ path, accept, media string }{
			{inst + "/rendered", "image/png", "image/png"},
			{inst + "/frames/2/rendered", "image/jpeg", "image/jpeg"},
			{inst + "/thumbnail", "", "image/jpeg"},
			{"/dicom-web/studies/5.1/thumbnail", "image/png", "image/png"},
			{"/dicom-web/studies/5.1/series/5.1.2/thumbnail?viewport=32,32", "image/png", "image/png"},
			{"/dicom-web/wado?requestType=WADO&studyUID=5.1&seriesUID=5.1.1&objectUID=5.1.1.1&contentType=image/png", "", "image/png"},
			{"/dicom-web/wado?requestType=WADO&studyUID=5.1&seriesUID=5.1.1&objectUID=5.1.1.1", "", "image/jpeg"},
		} {
			resp, body := ev.do("admin", "GET", c.path, nil, "Accept", c.accept)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.media {
				t.Errorf("%s: %d %s %.200s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
				continue
			}
			if _, _, err := image.Decode(bytes.NewReader(body)); err != nil {
				t.Errorf("%s: not an image: %v", c.path, err)
			}
		}
	})
	t.Run("one-frame rendering", func(t *testing.T) {
		// Rendering frame n from the one-frame data set gives the image
		// rendering it from the whole instance gives.
		ctx := context.Background()
		in, err := ev.srv.idx.instance(ctx, "5.1.1.1")
		if err != nil {
			t.Fatal(err)
		}
		whole, err := ev.srv.parseBlob(ctx, in, false)
		if err != nil {
			t.Fatal(err)
		}
		opts := render.Options{Accept: []string{"image/png"}}
		var images [][]byte
		for n := 1; n <= 3; n++ {
			one, k, err := ev.srv.frameDataset(ctx, in, n)
			if err != nil || k != 1 {
				t.Fatalf("frame %d: %v (frame %d of the data set)", n, err, k)
			}
			got, _, err1 := render.Render(one, 1, opts)
			want, _, err2 := render.Render(whole, n, opts)
			if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
				t.Errorf("frame %d: renders differ (%v, %v)", n, err1, err2)
			}
			images = append(images, got)
		}
		if bytes.Equal(images[0], images[2]) {
			t.Errorf("frames 1 and 3 render the same image")
		}
	})
	t.Run("rendered study", func(t *testing.T) {
		resp, body := ev.do("admin", "GET", "/dicom-web/studies/5.1/rendered?viewport=32,32", nil, "Accept", "image/png")
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		types, images := parts(t, resp, body)
		if len(images) != 2 {
			t.Fatalf("%d images, want one per instance", len(images))
		}
		for i, img := range images {
			cfg, format, err := image.DecodeConfig(bytes.NewReader(img))
			if err != nil || format != "png" || types[i] != "image/png" || cfg.Width > 32 || cfg.Height > 32 {
				t.Errorf("image %d: %s %v %+v", i, types[i], err, cfg)
			}
		}
	})
	t.Run("wado-uri file", func(t *testing.T) {
		resp, body := ev.do("admin", "GET", "/dicom-web/wado?requestType=WADO&studyUID=5.1&seriesUID=5.1.1&objectUID=5.1.1.1&contentType=application/dicom", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != mediaDICOM || !bytes.Equal(body, file) {
			t.Errorf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			path, accept string
			status       int
		}{
			{"/dicom-web/studies/5.9", "", 404},
			{"/dicom-web/studies/5.1/series/5.9", "", 404},
			{"/dicom-web/studies/5.1/series/5.1.2/instances/5.1.1.1", "", 404},
			{"/dicom-web/studies/5.1", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`, 406},
			{"/dicom-web/studies/5.1", "application/zip", 406},
			{inst + "/frames/4", "", 404},
			{inst + "/frames/0", "", 400},
			{inst + "/frames/a", "", 400},
			{inst + "/frames/1", `multipart/related; type="image/jpeg"`, 406},
			{inst + "/frames/1", `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50`, 406},
			{inst + "/metadata", "application/dicom+xml", 406},
			{inst + "/rendered", "image/gif", 406},
			{inst + "/rendered?window=1", "", 400},
			{inst + "/rendered?quality=500", "", 400},
			{inst + "/bulkdata/zz", "", 400},
			{inst + "/bulkdata/00101010", "", 404},
			{"/dicom-web/wado?requestType=WADO&studyUID=5.1&seriesUID=5.1.1", "", 400},
			{"/dicom-web/wado?requestType=NOPE&studyUID=5.1&seriesUID=5.1.1&objectUID=5.1.1.1", "", 400},
			{"/dicom-web/wado?requestType=WADO&studyUID=5.1&seriesUID=5.1.1&objectUID=5.1.1.1&contentType=text/html", "", 406},
			{"/dicom-web/wado?requestType=WADO&studyUID=5.1&seriesUID=5.1.1&objectUID=5.1.1.1&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.50", "", 406},
		} {
			resp, body := ev.do("admin", "GET", c.path, nil, "Accept", c.accept)
			if resp.StatusCode != c.status {
				t.Errorf("%s (Accept %q): %d, want %d: %.300s", c.path, c.accept, resp.StatusCode, c.status, body)
			}
		}
	})
}

package dicomweb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	_ "image/jpeg" // thumbnails
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
)

const viewerPage = `<!doctype html><meta charset="utf-8"><title>DICOMweb viewer check</title>
<script src="dicomweb-client.js"></script>`

// TestBrowserViewer runs the npm dicomweb-client in headless Chromium, as a
// web viewer would, against TeleHub holding the fixture study: searches at
// the three levels, metadata, a whole instance, frames, a rendered image
// and a thumbnail, each checked against the fixture files.
func TestBrowserViewer(t *testing.T) {
	t.Parallel()
	requireTools(t, "node")
	chromium := os.Getenv("CHROMIUM") // another Chromium build, if set
	if chromium == "" {
		requireTools(t, "chromium")
		chromium, _ = exec.LookPath("chromium")
	}
	_, file, _, _ := runtime.Caller(0)
	here := filepath.Dir(file)
	modules := filepath.Join(here, "..", "node", "node_modules")
	client := filepath.Join(modules, "dicomweb-client", "build", "dicomweb-client.js")
	for _, p := range []string{client, filepath.Join(modules, "playwright-core")} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("TELEHUB_REQUIRE_E2E") == "1" {
				t.Fatalf("%s is missing: run npm ci in conformance/node", p)
			}
			t.Skipf("skipping: %s is missing (npm ci in conformance/node)", p)
		}
	}
	fx := makeFixtures(t)
	h := startHub(t, func(e *echo.Echo) {
		e.GET("/conformance-viewer/index.html", func(c echo.Context) error { return c.HTML(http.StatusOK, viewerPage) })
		e.File("/conformance-viewer/dicomweb-client.js", client)
	})
	h.stowFiles(t, fx)
	mr, multi := byName(t, fx, "mr16-explicit"), byName(t, fx, "gray8-multiframe")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(here, "viewer.mjs"), h.base, h.token, fixtureStudy, fixturePatient,
		mr.series, mr.sop, multi.series, multi.sop)
	cmd.Env = append(os.Environ(), "NODE_MODULES="+modules, "CHROMIUM="+chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("viewer.mjs: %v\n%s", err, stderr.Bytes())
	}
	var got struct {
		Studies, Series, Instances, Metadata []string
		Instance, Frame, LastFrame           string
		Rendered, Thumbnail                  string
		RenderedSize                         []int
		RenderedError                        string
		PageErrors                           []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("viewer.mjs answered %s: %v", clipped(out), err)
	}
	if len(got.PageErrors) > 0 {
		t.Errorf("page errors: %v", got.PageErrors)
	}
	if len(got.Studies) != 1 || got.Studies[0] != fixtureStudy {
		t.Errorf("studies %v", got.Studies)
	}
	if len(got.Series) != len(fx) {
		t.Errorf("%d series, want %d", len(got.Series), len(fx))
	}
	sort.Strings(got.Instances)
	sort.Strings(got.Metadata)
	if want := fixtureSOPs(fx); !slices.Equal(got.Instances, want) || !slices.Equal(got.Metadata, want) {
		t.Errorf("instances %v, metadata %v, want %v", got.Instances, got.Metadata, want)
	}
	orig, err := os.ReadFile(mr.path)
	if err != nil {
		t.Fatal(err)
	}
	if b := unb64(t, got.Instance); !bytes.Equal(b, orig) {
		t.Errorf("retrieved instance: %d bytes, not the stored file (%d bytes)", len(b), len(orig))
	}
	if b, want := unb64(t, got.Frame), nativeFrame(t, mr.path, 1); !bytes.Equal(b, want) {
		t.Errorf("frame 1: %d bytes, want the %d bytes of the file's pixel data", len(b), len(want))
	}
	if b, want := unb64(t, got.LastFrame), nativeFrame(t, multi.path, 3); !bytes.Equal(b, want) {
		t.Errorf("frame 3 of the multi-frame image: %d bytes, want %d", len(b), len(want))
	}
	rendered, err := png.Decode(bytes.NewReader(unb64(t, got.Rendered)))
	if err != nil {
		t.Fatalf("rendered PNG: %v", err)
	}
	if s := rendered.Bounds().Size(); s.X != 96 || s.Y != 64 {
		t.Errorf("rendered %v, want 96x64", s)
	}
	if got.RenderedError != "" {
		t.Errorf("the browser cannot decode the rendered JPEG: %s", got.RenderedError)
	}
	if len(got.RenderedSize) != 2 || got.RenderedSize[0] != 96 || got.RenderedSize[1] != 64 {
		t.Errorf("the browser decoded the rendered JPEG as %v, want [96 64]", got.RenderedSize)
	}
	thumb, format, err := image.Decode(bytes.NewReader(unb64(t, got.Thumbnail)))
	if err != nil || format != "jpeg" {
		t.Fatalf("thumbnail: %s, %v", format, err)
	}
	if s := thumb.Bounds().Size(); s.X > 32 || s.Y > 32 || max(s.X, s.Y) != 32 {
		t.Errorf("thumbnail %v does not fit a 32x32 viewport", s)
	}
}

func byName(t testing.TB, fx []fixture, name string) fixture {
	t.Helper()
	for _, f := range fx {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fixture %s", name)
	return fixture{}
}

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nativeFrame returns the stored bytes of frame n (1-based) of a native
// little-endian file, as WADO-RS frames answer them.
func nativeFrame(t testing.TB, path string, n int) []byte {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatal(err)
	}
	pd := dicom.MustGetPixelDataInfo(e.Value)
	nf := pd.Frames[n-1].NativeData
	return frameBytes(nf)
}

func frameBytes(nf frame.NativeFrame) []byte {
	var b bytes.Buffer
	for _, px := range nf.Data {
		for _, v := range px {
			if nf.BitsPerSample == 8 {
				b.WriteByte(byte(v))
			} else {
				b.WriteByte(byte(v))
				b.WriteByte(byte(v >> 8))
			}
		}
	}
	return b.Bytes()
}

// stowFiles stores the fixtures in the hub with one STOW-RS request.
func (h *hub) stowFiles(t testing.TB, fx []fixture) {
	t.Helper()
	var body bytes.Buffer
	const boundary = "fixture-boundary-4c1d"
	for _, f := range fx {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		body.WriteString("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n")
		body.Write(b)
		body.WriteString("\r\n")
	}
	body.WriteString("--" + boundary + "--\r\n")
	req, _ := http.NewRequest(http.MethodPost, h.dicomweb+"/studies", &body)
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW: %s %s", resp.Status, clipped(answer))
	}
}

package dicomweb

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telehub/telehub/internal/e2e"
)

// testdataDir holds the committed fixtures (see its README).
const testdataDir = "../testdata/dicom"

// testCommittedFiles: the committed study, in several transfer syntaxes
// (native explicit and implicit, JPEG baseline, RGB, multi-frame), and a
// real multi-frame CT, go through STOW, QIDO and WADO unchanged.
func testCommittedFiles(t *testing.T, b backend) {
	ev := newEnv(t, b)
	names, _ := filepath.Glob(filepath.Join(testdataDir, "*.dcm"))
	if len(names) == 0 {
		t.Fatal("no committed DICOM files")
	}
	files := map[string][]byte{}
	var all [][]byte
	for _, n := range names {
		f, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(n)] = f
		all = append(all, f)
	}
	if status, res := ev.stow("admin", "/studies", all...); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	for name, f := range files {
		in, err := parseInstanceBytes(t, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		base := fmt.Sprintf("/dicom-web/studies/%s/series/%s/instances/%s", in.Study, in.Series, in.SOP)
		resp, body := ev.do("admin", "GET", base, nil)
		if _, got := parts(t, resp, body); len(got) != 1 || !bytes.Equal(got[0], f) {
			t.Errorf("%s: retrieved file differs", name)
		}
		if in.Frames == 0 {
			continue
		}
		last := fmt.Sprint(in.Frames)
		resp, body = ev.do("admin", "GET", base+"/frames/"+last, nil)
		if resp.StatusCode != 200 {
			t.Errorf("%s frame %s: %d %s", name, last, resp.StatusCode, body)
			continue
		}
		types, frames := parts(t, resp, body)
		wantType := frameMediaType(in.TransferSyntax)
		if len(frames) != 1 || !strings.HasPrefix(types[0], wantType) {
			t.Errorf("%s: frame parts %v, want one %s", name, types, wantType)
			continue
		}
		switch {
		case wantType == "image/jpeg":
			if _, err := jpeg.Decode(bytes.NewReader(frames[0])); err != nil {
				t.Errorf("%s: frame %s is not a JPEG: %v", name, last, err)
			}
			if !strings.Contains(types[0], "transfer-syntax="+in.TransferSyntax) {
				t.Errorf("%s: part type %q lacks the transfer syntax", name, types[0])
			}
		case in.PixelOffset >= 0:
			size := in.Rows * in.Columns * in.Samples * in.BitsAllocated / 8
			start := int(in.PixelOffset) + (in.Frames-1)*size
			if !bytes.Equal(frames[0], f[start:start+size]) {
				t.Errorf("%s: frame %s differs from the stored pixels", name, last)
			}
		}
		resp, body = ev.do("admin", "GET", base+"/rendered", nil, "Accept", "image/png")
		if resp.StatusCode != 200 && resp.StatusCode != 406 {
			t.Errorf("%s rendered: %d %.200s", name, resp.StatusCode, body)
		}
	}
	studies := ev.getJSON("admin", "/dicom-web/studies?PatientID=TH-FIXTURE-1")
	if len(studies) != 1 || studies[0].First(tagNumberOfStudySeries) == "" {
		t.Errorf("fixture study: %s", mustJSON(t, studies))
	}
}

// parseInstanceBytes runs the STOW parser on a file's bytes.
func parseInstanceBytes(t *testing.T, f []byte) (*instanceFile, error) {
	return parseInstance(io.NewSectionReader(bytes.NewReader(f), 0, int64(len(f))))
}

// testDCMTK: files made now by dcmtk, from a JPEG made with Go's image
// packages (img2dcm: JPEG baseline, encapsulated) and from a text dump
// (dump2dcm: multi-frame RGB, explicit and implicit little endian).
func testDCMTK(t *testing.T, b backend) {
	img2dcm := e2e.Tool(t, "img2dcm")
	dump2dcm := e2e.Tool(t, "dump2dcm")
	dir := t.TempDir()
	ev := newEnv(t, b)

	// A 64×48 gradient JPEG.
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 128, 255})
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	jpgPath, jdcm := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "jpeg.dcm")
	os.WriteFile(jpgPath, jb.Bytes(), 0o600)
	run(t, img2dcm, "-k", "StudyInstanceUID=9.1", "-k", "SeriesInstanceUID=9.1.1", "-k", "SOPInstanceUID=9.1.1.1",
		"-k", "PatientID=PID-J", "-k", "PatientName=Jpeg^Test", "-k", "Modality=XC", jpgPath, jdcm)

	// Two 4×3 RGB frames from a dump, in two transfer syntaxes.
	var px []string
	for i := 0; i < 2*3*4*3; i++ {
		px = append(px, fmt.Sprintf("%02x", i*3))
	}
	dump := strings.Join([]string{
		"(0008,0016) UI =SecondaryCaptureImageStorage",
		"(0008,0018) UI [9.2.1.1]", "(0008,0060) CS [OT]",
		"(0010,0010) PN [Dump^Test]", "(0010,0020) LO [PID-D]",
		"(0020,000d) UI [9.2]", "(0020,000e) UI [9.2.1]",
		"(0028,0002) US 3", "(0028,0004) CS [RGB]", "(0028,0006) US 0", "(0028,0008) IS [2]",
		"(0028,0010) US 3", "(0028,0011) US 4", "(0028,0100) US 8", "(0028,0101) US 8", "(0028,0102) US 7", "(0028,0103) US 0",
		"(7fe0,0010) OB " + strings.Join(px, "\\"),
	}, "\n")
	dumpPath := filepath.Join(dir, "rgb.txt")
	os.WriteFile(dumpPath, []byte(dump), 0o600)
	explicit, implicit := filepath.Join(dir, "rgb-explicit.dcm"), filepath.Join(dir, "rgb-implicit.dcm")
	run(t, dump2dcm, "+te", dumpPath, explicit)
	implicitDump := strings.NewReplacer("[9.2.1.1]", "[9.2.2.1]", "[9.2.1]", "[9.2.2]").Replace(dump)
	os.WriteFile(dumpPath, []byte(implicitDump), 0o600)
	run(t, dump2dcm, "+ti", dumpPath, implicit)

	var files [][]byte
	for _, p := range []string{jdcm, explicit, implicit} {
		f, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if status, res := ev.stow("admin", "/studies", files[0]); status != 200 {
		t.Fatalf("STOW JPEG: %d %s", status, mustJSON(t, res))
	}
	if status, res := ev.stow("admin", "/studies/9.2", files[1], files[2]); status != 200 {
		t.Fatalf("STOW RGB: %d %s", status, mustJSON(t, res))
	}

	// The JPEG frame comes back as it was encapsulated, as image/jpeg.
	resp, body := ev.do("admin", "GET", "/dicom-web/studies/9.1/series/9.1.1/instances/9.1.1.1/frames/1", nil,
		"Accept", `multipart/related; type="image/jpeg"`)
	types, frames := parts(t, resp, body)
	if len(frames) != 1 || types[0] != "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50" {
		t.Fatalf("JPEG frame: %v", types)
	}
	if got, err := jpeg.Decode(bytes.NewReader(frames[0])); err != nil || got.Bounds().Dx() != 64 || got.Bounds().Dy() != 48 {
		t.Errorf("JPEG frame: %v", err)
	}
	resp, body = ev.do("admin", "GET", "/dicom-web/studies/9.1/series/9.1.1/instances/9.1.1.1/frames/1", nil,
		"Accept", `multipart/related; type="application/octet-stream"; transfer-syntax=*`)
	types, frames = parts(t, resp, body)
	if len(frames) != 1 || types[0] != "application/octet-stream" || len(frames[0]) != 64*48*3 {
		t.Errorf("JPEG frame decoded: %v, %d bytes, want 64×48 RGB", types, len(frames[0]))
	} else if r, g := frames[0][3*(10*64+40)], frames[0][3*(10*64+40)+1]; absDiff(r, 160) > 12 || absDiff(g, 50) > 12 {
		t.Errorf("decoded pixel (40,10) = %d,%d, want about 160,50", r, g)
	}
	resp, _ = ev.do("admin", "GET", "/dicom-web/studies/9.1/series/9.1.1/instances/9.1.1.1/frames/1", nil,
		"Accept", `multipart/related; type="image/jp2"`)
	if resp.StatusCode != 406 {
		t.Errorf("JPEG frame as JPEG 2000: %d, want 406 (no transcoding)", resp.StatusCode)
	}
	md := ev.getJSON("admin", "/dicom-web/studies/9.1/metadata")
	if len(md) != 1 || md[0].First(tagPatientID) != "PID-J" || md[0][tagPixelData].BulkDataURI == "" {
		t.Errorf("JPEG metadata: %s", mustJSON(t, md))
	}

	// Native RGB frame 2, from both transfer syntaxes: the dump's bytes.
	want := make([]byte, 36)
	for i := range want {
		want[i] = byte((36 + i) * 3)
	}
	for _, series := range []string{"9.2.1", "9.2.2"} {
		sop := series + ".1"
		resp, body := ev.do("admin", "GET", "/dicom-web/studies/9.2/series/"+series+"/instances/"+sop+"/frames/2", nil)
		_, frames := parts(t, resp, body)
		if len(frames) != 1 || !bytes.Equal(frames[0], want) {
			t.Errorf("series %s frame 2: %x, want %x", series, frames, want)
		}
	}
	series := ev.getJSON("admin", "/dicom-web/studies/9.2/series")
	if len(series) != 2 {
		t.Errorf("%d series in 9.2, want 2", len(series))
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func absDiff(a byte, b int) int {
	d := int(a) - b
	if d < 0 {
		d = -d
	}
	return d
}

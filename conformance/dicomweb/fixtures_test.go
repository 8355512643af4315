package dicomweb

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is one DICOM file of the test study.
type fixture struct {
	name           string
	path           string
	transferSyntax string
	photometric    string
	frames         int
	series, sop    string
}

// Transfer syntaxes the fixtures cover.
const (
	tsImplicitLE   = "1.2.840.10008.1.2"
	tsExplicitLE   = "1.2.840.10008.1.2.1"
	tsJPEGBaseline = "1.2.840.10008.1.2.4.50"
)

// The fixtures' study: one patient, one study, one series per fixture.
const (
	fixtureStudy   = "2.25.31415926535897932384626433832795028"
	fixturePatient = "TH-FIXTURE-1"
)

// picture is the content of one fixture before dcmtk turns it into DICOM.
type picture struct {
	rows, cols, frames int
	bits, stored       int
	signed             bool
	samples, planar    int
	photometric        string
	extra              []string          // more dump lines: window, rescale …
	files              map[string][]byte // files the extra lines load (=name)
	pixel              func(frame, x, y, sample int) int
}

// makeFixtures writes the test study into t.TempDir() with dcmtk: for each
// image a raw pixel file and a dump, dump2dcm to Explicit VR Little Endian,
// then dcmconv and dcmcjpeg for the other transfer syntaxes.
func makeFixtures(t testing.TB) []fixture {
	t.Helper()
	requireTools(t, "dump2dcm", "dcmconv", "dcmcjpeg", "dcmodify")
	dir := t.TempDir()
	mr := picture{rows: 64, cols: 96, frames: 1, bits: 16, stored: 12, samples: 1, photometric: "MONOCHROME2",
		extra: []string{`(0028,1050) DS [2048]`, `(0028,1051) DS [4096]`},
		pixel: func(_, x, y, _ int) int {
			if dx, dy := x-48, y-32; dx*dx+dy*dy < 400 {
				return 3500
			}
			return (x*40 + y*10) & 0xFFF
		}}
	ct := picture{rows: 64, cols: 64, frames: 1, bits: 16, stored: 16, signed: true, samples: 1, photometric: "MONOCHROME2",
		extra: []string{`(0028,1050) DS [40]`, `(0028,1051) DS [400]`, `(0028,1052) DS [-1024]`, `(0028,1053) DS [1]`},
		pixel: func(_, x, y, _ int) int { return 700 + x*10 - y*3 }}
	gray8 := picture{rows: 48, cols: 64, frames: 3, bits: 8, stored: 8, samples: 1, photometric: "MONOCHROME2",
		pixel: func(f, x, y, _ int) int { return (x*3 + y + f*60) & 0xFF }}
	mono1 := gray8
	mono1.frames, mono1.photometric = 1, "MONOCHROME1"
	bars := func(_, x, _, s int) int { // eight colour bars
		bar := x * 8 / 64
		return 255 * (bar >> (2 - s) & 1)
	}
	rgb := picture{rows: 32, cols: 64, frames: 1, bits: 8, stored: 8, samples: 3, photometric: "RGB", pixel: bars}
	rgbPlanar := rgb
	rgbPlanar.planar = 1
	voiLUT := mr
	voiLUT.extra = []string{
		`(0028,3010) SQ (Sequence with explicit length #=1)`,
		`(fffe,e000) na (Item with explicit length #=2)`,
		`(0028,3002) US 4096\0\16`,
		`(0028,3006) OW =voi.lut`,
		`(fffe,e00d) na (ItemDelimitationItem for re-encoding)`,
		`(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)`,
	}
	voiLUT.files = map[string][]byte{"voi.lut": sqrtLUT(4096)}
	pal := picture{rows: 32, cols: 64, frames: 1, bits: 8, stored: 8, samples: 1, photometric: "PALETTE COLOR",
		pixel: func(_, x, y, _ int) int { return (x*4 + y) & 0xFF },
		files: map[string][]byte{"red.lut": lut16(func(i int) int { return i }),
			"green.lut": lut16(func(i int) int { return 255 - i }), "blue.lut": lut16(func(i int) int { return (i * 3) & 0xFF })},
		extra: []string{
			`(0028,1101) US 256\0\16`, `(0028,1102) US 256\0\16`, `(0028,1103) US 256\0\16`,
			`(0028,1201) OW =red.lut`, `(0028,1202) OW =green.lut`, `(0028,1203) OW =blue.lut`,
		}}

	var out []fixture
	add := func(name string, im picture, series int) string {
		f := writeFixture(t, dir, name, im, series)
		out = append(out, f)
		return f.path
	}
	mrPath := add("mr16-explicit", mr, 1)
	add("ct-signed", ct, 2)
	gray8Path := add("gray8-multiframe", gray8, 3)
	add("mono1", mono1, 4)
	rgbPath := add("rgb-planar0", rgb, 5)
	add("rgb-planar1", rgbPlanar, 6)
	add("palette", pal, 11)
	add("mr16-voilut", voiLUT, 12)

	// Other transfer syntaxes of the same images, under new UIDs.
	derive := func(name, src string, series int, im picture, ts string, tool string, args ...string) {
		tmp := filepath.Join(dir, name+".tmp.dcm")
		run(t, dir, tool, append(args, src, tmp)...)
		f := fixture{name: name, path: filepath.Join(dir, name+".dcm"), transferSyntax: ts,
			photometric: im.photometric, frames: im.frames, series: seriesUID(series), sop: sopUID(series)}
		// New series and instance UIDs, so each derived file is an
		// instance of its own (dcmodify updates the meta header to match).
		run(t, dir, "dcmodify", "-nb", "-i", "(0020,000e)="+f.series, "-i", "(0008,0018)="+f.sop, tmp)
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	derive("mr16-implicit", mrPath, 7, mr, tsImplicitLE, "dcmconv", "+ti")
	derive("gray8-jpeg", gray8Path, 8, gray8, tsJPEGBaseline, "dcmcjpeg", "+eb")
	rgbJPEG := rgb
	rgbJPEG.photometric = "YBR_FULL_422"
	derive("rgb-jpeg", rgbPath, 9, rgbJPEG, tsJPEGBaseline, "dcmcjpeg", "+eb")
	// Colour JPEG without the colour transform: the components are R, G, B
	// whatever a JPEG decoder assumes.
	derive("rgb-jpeg-rgb", rgbPath, 10, rgb, tsJPEGBaseline, "dcmcjpeg", "+eb", "+cr")
	return out
}

func seriesUID(n int) string { return fmt.Sprintf("%s.%d", fixtureStudy, n) }
func sopUID(n int) string    { return fmt.Sprintf("%s.%d.1", fixtureStudy, n) }

// writeFixture writes im as an Explicit VR Little Endian file with dump2dcm.
func writeFixture(t testing.TB, dir, name string, im picture, series int) fixture {
	t.Helper()
	bytesPer := im.bits / 8
	raw := make([]byte, 0, im.rows*im.cols*im.samples*im.frames*bytesPer)
	put := func(v int) {
		if bytesPer == 1 {
			raw = append(raw, byte(v))
		} else {
			raw = binary.LittleEndian.AppendUint16(raw, uint16(v))
		}
	}
	for f := 0; f < im.frames; f++ {
		if im.planar == 1 {
			for s := 0; s < im.samples; s++ {
				for y := 0; y < im.rows; y++ {
					for x := 0; x < im.cols; x++ {
						put(im.pixel(f, x, y, s))
					}
				}
			}
			continue
		}
		for y := 0; y < im.rows; y++ {
			for x := 0; x < im.cols; x++ {
				for s := 0; s < im.samples; s++ {
					put(im.pixel(f, x, y, s))
				}
			}
		}
	}
	if len(raw)%2 == 1 {
		raw = append(raw, 0)
	}
	for n, b := range im.files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rawName := name + ".raw"
	if err := os.WriteFile(filepath.Join(dir, rawName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	vr, pr := "OW", 0
	if im.bits == 8 {
		vr = "OB"
	}
	if im.signed {
		pr = 1
	}
	f := fixture{name: name, path: filepath.Join(dir, name+".dcm"), transferSyntax: tsExplicitLE,
		photometric: im.photometric, frames: im.frames, series: seriesUID(series), sop: sopUID(series)}
	lines := []string{
		`(0002,0002) UI =SecondaryCaptureImageStorage`,
		`(0002,0003) UI ` + f.sop,
		`(0008,0005) CS [ISO_IR 192]`,
		`(0008,0016) UI =SecondaryCaptureImageStorage`,
		`(0008,0018) UI ` + f.sop,
		`(0008,0020) DA [20260315]`,
		`(0008,0030) TM [101500]`,
		`(0008,0050) SH [ACC-FIXTURE]`,
		`(0008,0060) CS [OT]`,
		`(0008,0090) PN [Renvoi^Claire]`,
		`(0008,1030) LO [Fixture study]`,
		`(0008,103e) LO [` + name + `]`,
		`(0010,0010) PN [Lefèvre^Hélène]`,
		`(0010,0020) LO [` + fixturePatient + `]`,
		`(0010,0030) DA [19800412]`,
		`(0010,0040) CS [F]`,
		`(0020,000d) UI ` + fixtureStudy,
		`(0020,000e) UI ` + f.series,
		`(0020,0010) SH [1]`,
		fmt.Sprintf(`(0020,0011) IS [%d]`, series),
		`(0020,0013) IS [1]`,
		fmt.Sprintf(`(0028,0002) US %d`, im.samples),
		`(0028,0004) CS [` + im.photometric + `]`,
	}
	if im.samples > 1 {
		lines = append(lines, fmt.Sprintf(`(0028,0006) US %d`, im.planar))
	}
	if im.frames > 1 {
		lines = append(lines, fmt.Sprintf(`(0028,0008) IS [%d]`, im.frames))
	}
	lines = append(lines,
		fmt.Sprintf(`(0028,0010) US %d`, im.rows),
		fmt.Sprintf(`(0028,0011) US %d`, im.cols),
		fmt.Sprintf(`(0028,0100) US %d`, im.bits),
		fmt.Sprintf(`(0028,0101) US %d`, im.stored),
		fmt.Sprintf(`(0028,0102) US %d`, im.stored-1),
		fmt.Sprintf(`(0028,0103) US %d`, pr),
	)
	lines = append(lines, im.extra...)
	lines = append(lines, fmt.Sprintf(`(7fe0,0010) %s =%s`, vr, rawName))
	dump := name + ".dump"
	if err := os.WriteFile(filepath.Join(dir, dump), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "dump2dcm", "+te", dump, name+".dcm")
	return f
}

// moduleFiles returns the real files shipped with github.com/suyashkumar/dicom
// (PET, MR, X-ray, multi-frame CT; see its testdata/data_details.md), or
// none when the module is not in the module cache.
func moduleFiles(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/suyashkumar/dicom").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Logf("github.com/suyashkumar/dicom is not in the module cache: its files are left out (%v)", err)
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, "testdata", "*.dcm"))
	return files
}

// lut16 is a 256-entry palette table of 16-bit little-endian entries whose
// high bytes are f(i).
func lut16(f func(i int) int) []byte {
	b := make([]byte, 0, 512)
	for i := 0; i < 256; i++ {
		b = binary.LittleEndian.AppendUint16(b, uint16(f(i))<<8)
	}
	return b
}

// sqrtLUT is a VOI LUT of n 16-bit entries following a square-root curve,
// which no window reproduces.
func sqrtLUT(n int) []byte {
	b := make([]byte, 0, 2*n)
	for i := 0; i < n; i++ {
		b = binary.LittleEndian.AppendUint16(b, uint16(math.Sqrt(float64(i)/float64(n-1))*65535))
	}
	return b
}

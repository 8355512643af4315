package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// uidLen is the length of every generated UID: "2.25.1" and 37 digits, a
// UUID-derived UID (PS3.5 B.2) whose fixed length lets Synth patch a
// template file in place instead of encoding each instance anew.
const uidLen = 43

// Synth makes synthetic MR-like instances (16-bit grey, Explicit VR Little
// Endian) of one size, fast enough that the generator is never what a
// benchmark measures: it encodes one template and patches UIDs, the
// instance number and a few pixels into copies of it.
type Synth struct {
	run      uint64 // distinguishes runs with different seeds
	template []byte
	// offsets of the placeholders in template
	study, series, sop1, sop2, number, patient []int
	pixels                                     int
}

// Placeholder values, unlikely to occur in the pixel data by chance.
var (
	phStudy   = placeholderUID('7')
	phSeries  = placeholderUID('8')
	phSOP     = placeholderUID('9')
	phNumber  = "31415926"
	phPatient = "PATIENT-XXXXXXXX"
)

func placeholderUID(c byte) string {
	return "2.25.1" + string(bytes.Repeat([]byte{c}, uidLen-6))
}

// NewSynth makes a generator of rows×cols instances; seed fixes the UIDs,
// so two generators with the same seed make the same files.
func NewSynth(seed uint64, rows, cols int) (*Synth, error) {
	if rows <= 0 || cols <= 0 || rows*cols > 1<<26 {
		return nil, fmt.Errorf("bench: synthetic image size %dx%d", cols, rows)
	}
	pix := make([]int, rows*cols)
	for i := range pix {
		// A smooth phantom-like pattern: a ramp with a bright disc.
		x, y := i%cols, i/cols
		v := (x*1024/cols + y*1024/rows) & 0xFFF
		if dx, dy := x-cols/2, y-rows/2; dx*dx+dy*dy < rows*cols/16 {
			v = 3000
		}
		pix[i] = v
	}
	nf := frame.NativeFrame{Rows: rows, Cols: cols, BitsPerSample: 16, Data: make([][]int, len(pix))}
	for i := range pix {
		nf.Data[i] = pix[i : i+1]
	}
	const mr = "1.2.840.10008.5.1.4.1.1.4"
	elems := []*elemSpec{
		{tag.MediaStorageSOPClassUID, []string{mr}},
		{tag.MediaStorageSOPInstanceUID, []string{phSOP}},
		{tag.TransferSyntaxUID, []string{uid.ExplicitVRLittleEndian}},
		{tag.SpecificCharacterSet, []string{"ISO_IR 192"}},
		{tag.SOPClassUID, []string{mr}},
		{tag.SOPInstanceUID, []string{phSOP}},
		{tag.StudyDate, []string{"20260101"}},
		{tag.StudyTime, []string{"120000"}},
		{tag.AccessionNumber, []string{"BENCH"}},
		{tag.Modality, []string{"MR"}},
		{tag.ReferringPhysicianName, []string{"Bench^Referrer"}},
		{tag.StudyDescription, []string{"TeleHub DICOMweb benchmark"}},
		{tag.SeriesDescription, []string{"synthetic MR"}},
		{tag.PatientName, []string{"Bench^Patient"}},
		{tag.PatientID, []string{phPatient}},
		{tag.PatientBirthDate, []string{"19700101"}},
		{tag.PatientSex, []string{"O"}},
		{tag.StudyInstanceUID, []string{phStudy}},
		{tag.SeriesInstanceUID, []string{phSeries}},
		{tag.StudyID, []string{"1"}},
		{tag.SeriesNumber, []string{"1"}},
		{tag.InstanceNumber, []string{phNumber}},
		{tag.SamplesPerPixel, []int{1}},
		{tag.PhotometricInterpretation, []string{"MONOCHROME2"}},
		{tag.Rows, []int{rows}},
		{tag.Columns, []int{cols}},
		{tag.BitsAllocated, []int{16}},
		{tag.BitsStored, []int{12}},
		{tag.HighBit, []int{11}},
		{tag.PixelRepresentation, []int{0}},
		{tag.WindowCenter, []string{"1500"}},
		{tag.WindowWidth, []string{"3000"}},
		{tag.PixelData, dicom.PixelDataInfo{Frames: []*frame.Frame{{NativeData: nf}}}},
	}
	var ds dicom.Dataset
	for _, e := range elems {
		el, err := dicom.NewElement(e.t, e.v)
		if err != nil {
			return nil, fmt.Errorf("bench: synthetic element %v: %w", e.t, err)
		}
		ds.Elements = append(ds.Elements, el)
	}
	var buf bytes.Buffer
	if err := dicom.Write(&buf, ds, dicom.SkipVRVerification()); err != nil {
		return nil, fmt.Errorf("bench: encode synthetic template: %w", err)
	}
	s := &Synth{run: seed, template: buf.Bytes()}
	s.study = indexAll(s.template, phStudy)
	s.series = indexAll(s.template, phSeries)
	sops := indexAll(s.template, phSOP)
	s.number = indexAll(s.template, phNumber)
	s.patient = indexAll(s.template, phPatient)
	if len(s.study) != 1 || len(s.series) != 1 || len(sops) != 2 || len(s.number) != 1 || len(s.patient) != 1 {
		return nil, fmt.Errorf("bench: synthetic template placeholders found %d/%d/%d/%d/%d times",
			len(s.study), len(s.series), len(sops), len(s.number), len(s.patient))
	}
	s.sop1, s.sop2 = sops[:1], sops[1:]
	s.pixels = len(s.template) - rows*cols*2
	return s, nil
}

type elemSpec struct {
	t tag.Tag
	v any
}

func indexAll(b []byte, s string) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(s))
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + len(s)
	}
}

// Size is the size in bytes of every instance.
func (s *Synth) Size() int { return len(s.template) }

// Kinds of UID.
const (
	StudyUID    = 1
	SeriesUID   = 2
	InstanceUID = 3
)

// UID returns the UID of kind (StudyUID, SeriesUID, InstanceUID) and index
// n, unique to the generator's seed.
func (s *Synth) UID(kind, n int) string {
	return fmt.Sprintf("2.25.1%019d%1d%017d", s.run%1e19, kind%10, n%1e17)
}

// StudyUID returns the Study Instance UID of study n.
func (s *Synth) StudyUID(study int) string { return s.UID(StudyUID, study) }

// SeriesUID returns the Series Instance UID of a series of a study.
func (s *Synth) SeriesUID(study, series int) string { return s.UID(SeriesUID, study*1000+series) }

// InstanceUID returns the SOP Instance UID of an instance.
func (s *Synth) InstanceUID(study, series, instance int) string {
	return s.UID(InstanceUID, (study*1000+series)*100000+instance)
}

// PatientID returns the patient id of study n.
func (s *Synth) PatientID(study int) string { return fmt.Sprintf("PATIENT-%08d", study%1e8) }

// Instance returns the instance'th instance of series series of study
// study (all counted from 0); it writes nothing shared, so it may be called
// from several goroutines.
func (s *Synth) Instance(study, series, instance int) []byte {
	return s.AppendInstance(nil, study, series, instance)
}

// AppendInstance appends the instance to dst: a load generator that sends
// one instance at a time reuses one buffer instead of making garbage of
// every instance, which would make the collector's work in its process
// grow with what it sends.
func (s *Synth) AppendInstance(dst []byte, study, series, instance int) []byte {
	start := len(dst)
	dst = append(dst, s.template...)
	b := dst[start:]
	put := func(offs []int, v string) {
		for _, o := range offs {
			copy(b[o:], v)
		}
	}
	sop := s.InstanceUID(study, series, instance)
	put(s.study, s.StudyUID(study))
	put(s.series, s.SeriesUID(study, series))
	put(s.sop1, sop)
	put(s.sop2, sop)
	put(s.number, fmt.Sprintf("%08d", instance+1))
	put(s.patient, s.PatientID(study))
	// A few pixels differ per instance, so no two files share content
	// beyond their headers (a server that deduplicates gains nothing).
	r := rand.New(rand.NewPCG(s.run, uint64(study)<<40|uint64(series)<<20|uint64(instance)))
	for i := 0; i < 16; i++ {
		o := s.pixels + 2*r.IntN((len(b)-s.pixels)/2)
		binary.LittleEndian.PutUint16(b[o:], uint16(r.IntN(4096)))
	}
	return dst
}

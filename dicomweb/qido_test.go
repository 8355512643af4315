package dicomweb

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// qidoFixture stores three studies of two patients:
//
//	1.9.1  Doe^John     PID-1 2024-01-15 10:15 ACC1 CT+MR (2 series, 3 instances)
//	1.9.2  Martin^Hélène PID-2 2024-02-20 14:30 ACC2 MR    (1 series, 1 instance)
//	1.9.3  Doe^Jane     PID-3 2023-12-31 08:00 ACC3 US    (1 series, 1 instance)
func qidoFixture(t *testing.T, ev *env) {
	files := [][]byte{
		instance(t, spec{study: "1.9.1", series: "1.9.1.1", sop: "1.9.1.1.1", patientID: "PID-1", patientName: "Doe^John",
			date: "20240115", time: "101500", accession: "ACC1", studyID: "S1", modality: "CT", seriesNumber: "1", instanceNo: "1"}),
		instance(t, spec{study: "1.9.1", series: "1.9.1.1", sop: "1.9.1.1.2", patientID: "PID-1", patientName: "Doe^John",
			date: "20240115", time: "101500", accession: "ACC1", studyID: "S1", modality: "CT", seriesNumber: "1", instanceNo: "2"}),
		instance(t, spec{study: "1.9.1", series: "1.9.1.2", sop: "1.9.1.2.1", patientID: "PID-1", patientName: "Doe^John",
			date: "20240115", time: "101500", accession: "ACC1", studyID: "S1", modality: "MR", seriesNumber: "2", instanceNo: "1"}),
		instance(t, spec{study: "1.9.2", series: "1.9.2.1", sop: "1.9.2.1.1", patientID: "PID-2", patientName: "Martin^Hélène",
			date: "20240220", time: "143000", accession: "ACC2", studyID: "S2", modality: "MR", seriesNumber: "1", instanceNo: "1"}),
		instance(t, spec{study: "1.9.3", series: "1.9.3.1", sop: "1.9.3.1.1", patientID: "PID-3", patientName: "Doe^Jane",
			date: "20231231", time: "080000", accession: "ACC3", studyID: "S3", modality: "US", seriesNumber: "7", instanceNo: "3"}),
	}
	if status, res := ev.stow("admin", "/studies", files...); status != http.StatusOK {
		t.Fatalf("STOW fixture: %d %s", status, mustJSON(t, res))
	}
}

func testQIDO(t *testing.T, b backend) {
	ev := newEnv(t, b)
	qidoFixture(t, ev)
	// Each query lists the UIDs of the level it searches, in any order.
	for _, c := range []struct {
		path string
		want []string
		key  string // the attribute whose values are listed (default: the level's UID)
	}{
		{path: "/studies", want: []string{"1.9.1", "1.9.2", "1.9.3"}},
		{path: "/studies?PatientName=Doe^John", want: []string{"1.9.1"}},
		{path: "/studies?PatientName=doe^john", want: []string{"1.9.1"}},
		{path: "/studies?PatientName=Doe*", want: []string{"1.9.1", "1.9.3"}},
		{path: "/studies?PatientName=*J?hn", want: []string{"1.9.1"}},
		{path: "/studies?PatientName=Martin^Helene", want: []string{"1.9.2"}},
		{path: "/studies?PatientName=hel&fuzzymatching=true", want: []string{"1.9.2"}},
		{path: "/studies?PatientName=ja%20do&fuzzymatching=true", want: []string{"1.9.3"}},
		{path: "/studies?PatientName=Ja&fuzzymatching=false", want: []string{}},
		{path: "/studies?ReferringPhysicianName=greg&fuzzymatching=true", want: []string{"1.9.1", "1.9.2", "1.9.3"}},
		{path: "/studies?PatientID=PID-2", want: []string{"1.9.2"}},
		{path: "/studies?PatientID=PID-*", want: []string{"1.9.1", "1.9.2", "1.9.3"}},
		{path: "/studies?00100020=PID-3", want: []string{"1.9.3"}},
		{path: "/studies?StudyDate=20240101-20240131", want: []string{"1.9.1"}},
		{path: "/studies?StudyDate=20240115", want: []string{"1.9.1"}},
		{path: "/studies?StudyDate=-20240115", want: []string{"1.9.1", "1.9.3"}},
		{path: "/studies?StudyDate=20240116-", want: []string{"1.9.2"}},
		{path: "/studies?StudyTime=1000-1200", want: []string{"1.9.1"}},
		{path: "/studies?StudyTime=-0900", want: []string{"1.9.3"}},
		{path: "/studies?StudyTime=14-", want: []string{"1.9.2"}},
		{path: "/studies?StudyDate=20240101-&StudyTime=-1200", want: []string{"1.9.1"}},
		{path: "/studies?AccessionNumber=ACC2", want: []string{"1.9.2"}},
		{path: "/studies?ModalitiesInStudy=MR", want: []string{"1.9.1", "1.9.2"}},
		{path: "/studies?ModalitiesInStudy=US", want: []string{"1.9.3"}},
		{path: "/studies?Modality=CT", want: []string{"1.9.1"}},
		{path: "/studies?ReferringPhysicianName=House^Gregory", want: []string{"1.9.1", "1.9.2", "1.9.3"}},
		{path: "/studies?ReferringPhysicianName=Wilson*", want: []string{}},
		{path: "/studies?StudyInstanceUID=1.9.1,1.9.3", want: []string{"1.9.1", "1.9.3"}},
		{path: "/studies?StudyInstanceUID=1.9.1%5C1.9.2", want: []string{"1.9.1", "1.9.2"}},
		{path: "/studies?StudyID=S3", want: []string{"1.9.3"}},
		{path: "/studies?PatientID=PID-1&AccessionNumber=ACC2", want: []string{}},
		{path: "/studies?limit=2", want: []string{"1.9.1", "1.9.2"}},
		{path: "/studies?limit=2&offset=2", want: []string{"1.9.3"}},
		{path: "/studies?offset=5", want: []string{}},
		{path: "/series", want: []string{"1.9.1.1", "1.9.1.2", "1.9.2.1", "1.9.3.1"}},
		{path: "/series?Modality=MR", want: []string{"1.9.1.2", "1.9.2.1"}},
		{path: "/series?SeriesNumber=7", want: []string{"1.9.3.1"}},
		{path: "/series?SeriesInstanceUID=1.9.2.1", want: []string{"1.9.2.1"}},
		{path: "/series?PatientID=PID-1", want: []string{"1.9.1.1", "1.9.1.2"}},
		{path: "/series?PatientName=Doe*&Modality=US", want: []string{"1.9.3.1"}},
		{path: "/studies/1.9.1/series", want: []string{"1.9.1.1", "1.9.1.2"}},
		{path: "/studies/1.9.1/series?Modality=CT", want: []string{"1.9.1.1"}},
		{path: "/instances", want: []string{"1.9.1.1.1", "1.9.1.1.2", "1.9.1.2.1", "1.9.2.1.1", "1.9.3.1.1"}},
		{path: "/instances?SOPInstanceUID=1.9.2.1.1", want: []string{"1.9.2.1.1"}},
		{path: "/instances?SOPClassUID=" + testSOPClass + "&InstanceNumber=3", want: []string{"1.9.3.1.1"}},
		{path: "/instances?Modality=MR", want: []string{"1.9.1.2.1", "1.9.2.1.1"}},
		{path: "/instances?PatientID=PID-1&Modality=CT", want: []string{"1.9.1.1.1", "1.9.1.1.2"}},
		{path: "/studies/1.9.1/instances", want: []string{"1.9.1.1.1", "1.9.1.1.2", "1.9.1.2.1"}},
		{path: "/studies/1.9.1/series/1.9.1.1/instances", want: []string{"1.9.1.1.1", "1.9.1.1.2"}},
		{path: "/studies/1.9.1/series/1.9.1.1/instances?InstanceNumber=2", want: []string{"1.9.1.1.2"}},
		{path: "/studies/1.9.9/series", want: []string{}},
	} {
		t.Run(c.path, func(t *testing.T) {
			got := ev.getJSON("admin", "/dicom-web"+c.path)
			key := c.key
			if key == "" {
				switch {
				case strings.Contains(c.path, "instances"):
					key = tagSOPInstanceUID
				case strings.Contains(c.path, "series"):
					key = tagSeriesInstanceUID
				default:
					key = tagStudyInstanceUID
				}
			}
			var uids []string
			for _, d := range got {
				uids = append(uids, d.First(key))
			}
			slices.Sort(uids)
			if !slices.Equal(uids, c.want) && !(len(uids) == 0 && len(c.want) == 0) {
				t.Errorf("got %v, want %v", uids, c.want)
			}
		})
	}

	t.Run("attributes", func(t *testing.T) {
		st := ev.getJSON("admin", "/dicom-web/studies?StudyInstanceUID=1.9.1")[0]
		for key, want := range map[string]string{
			tagNumberOfStudySeries: "2", tagNumberOfStudyInstances: "3", tagPatientID: "PID-1",
			tagRetrieveURL: ev.url + "/dicom-web/studies/1.9.1", tagAccessionNumber: "ACC1",
		} {
			if got := st.First(key); got != want {
				t.Errorf("%s = %q, want %q", key, got, want)
			}
		}
		if got := st[tagModalitiesInStudy].Strings(); !slices.Equal(got, []string{"CT", "MR"}) {
			t.Errorf("ModalitiesInStudy = %v", got)
		}
		if _, ok := st[tagPatientName].Value[0].(map[string]any); !ok {
			t.Errorf("PatientName is not a PN object: %s", mustJSON(t, st[tagPatientName]))
		}
		if _, ok := st[tagStudyDescription]; ok {
			t.Errorf("StudyDescription returned without includefield")
		}
		st = ev.getJSON("admin", "/dicom-web/studies?StudyInstanceUID=1.9.1&includefield=StudyDescription,00100040")[0]
		if st.First(tagStudyDescription) != "Test study" || st.First(tagPatientSex) != "F" {
			t.Errorf("includefield: %s", mustJSON(t, st))
		}
		in := ev.getJSON("admin", "/dicom-web/instances?SOPInstanceUID=1.9.1.1.1&includefield=all")[0]
		if in.First("00280004") != "MONOCHROME2" || in.First(tagPatientID) != "PID-1" {
			t.Errorf("includefield=all: %s", mustJSON(t, in))
		}
		if _, ok := in[tagPixelData]; ok {
			t.Errorf("includefield=all returned pixel data")
		}
		se := ev.getJSON("admin", "/dicom-web/series?SeriesInstanceUID=1.9.1.1")[0]
		if se.First(tagNumberOfSeriesInstances) != "2" || se.First(tagPatientName) != "Doe^John" {
			t.Errorf("series attributes: %s", mustJSON(t, se))
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for _, path := range []string{
			"/studies?NoSuchKeyword=1", "/studies?StudyDate=2024", "/studies?StudyDate=a-b", "/studies?limit=-1",
			"/studies?offset=x", "/studies?fuzzymatching=maybe", "/studies?includefield=Nope", "/studies/1..2/series",
		} {
			resp, body := ev.do("admin", "GET", "/dicom-web"+path, nil)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "OperationOutcome") {
				t.Errorf("%s: %d %s", path, resp.StatusCode, body)
			}
		}
		resp, _ := ev.do("admin", "GET", "/dicom-web/studies", nil, "Accept", "application/dicom+xml")
		if resp.StatusCode != http.StatusNotAcceptable {
			t.Errorf("XML query: %d, want 406", resp.StatusCode)
		}
		resp, _ = ev.do("admin", "GET", "/dicom-web/studies?limit=2", nil)
		if !strings.Contains(resp.Header.Get("Warning"), "additional results") {
			t.Errorf("limited page without a Warning: %q", resp.Header.Get("Warning"))
		}
		resp, _ = ev.do("admin", "GET", "/dicom-web/studies?limit=3", nil)
		if resp.Header.Get("Warning") != "" {
			t.Errorf("complete page with a Warning: %q", resp.Header.Get("Warning"))
		}
		resp, _ = ev.do("admin", "GET", "/dicom-web/studies?SeriesDescription=x", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Warning"), "SeriesDescription") {
			t.Errorf("series key on studies: %d, Warning %q", resp.StatusCode, resp.Header.Get("Warning"))
		}
	})
}

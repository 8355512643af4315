package dicomweb

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

func patientID(t *testing.T, ev *env, pid string) string {
	t.Helper()
	found, err := ev.fhir.Find(context.Background(), "Patient", url.Values{"identifier": {pid}}, 2)
	if err != nil || len(found) != 1 {
		t.Fatalf("patient %s: %v (%d found)", pid, err, len(found))
	}
	return found[0].ID
}

func auditCount(t *testing.T, ev *env) int {
	t.Helper()
	res, err := ev.fhirStore.Search(context.Background(), store.Query{Types: []string{"AuditEvent"}, Total: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

func studyUIDs(list []Dataset) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.First(tagStudyInstanceUID))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// testAccess: tokens, scopes, patient context, consent and audit.
func testAccess(t *testing.T, b backend) {
	ev := newEnv(t, b)
	qidoFixture(t, ev)
	p1, p2 := patientID(t, ev, "PID-1"), patientID(t, ev, "PID-2")
	ev.tokens.add(t, "reader", "system/ImagingStudy.rs", "")
	ev.tokens.add(t, "patients-only", "system/Patient.rs", "")
	ev.tokens.add(t, "p1", "patient/ImagingStudy.rs patient/ImagingStudy.cu", p1)
	ev.tokens.add(t, "no-context", "patient/ImagingStudy.rs", "")
	ev.tokens.add(t, "v2-query", "system/ImagingStudy.rs?modality=CT", "")
	ev.tokens.add(t, "creator", "system/ImagingStudy.c", "")

	t.Run("authentication", func(t *testing.T) {
		for _, path := range []string{"/dicom-web/studies", "/dicom-web/studies/1.9.1", "/dicom-web/wado?requestType=WADO"} {
			for _, token := range []string{"", "forged"} {
				resp, body := ev.do(token, "GET", path, nil)
				if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(body), "OperationOutcome") {
					t.Errorf("%s with token %q: %d %q", path, token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
			}
		}
		if status, _ := ev.stow("", "/studies", instance(t, spec{})); status != 401 {
			t.Errorf("STOW without token: %d", status)
		}
	})
	t.Run("cors", func(t *testing.T) {
		// A viewer's page preflights, then calls with its token; even a 401
		// must be readable by the page's script.
		for _, path := range []string{"/dicom-web/studies", "/dicom-web/studies/1.9.1/series/1.9.1.1/instances/1.9.1.1.1/frames/1"} {
			resp, _ := ev.do("", "OPTIONS", path, nil, "Origin", "https://viewer.example",
				"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization, accept")
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
				h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("preflight %s: %d %v", path, resp.StatusCode, h)
			}
		}
		for _, token := range []string{"reader", ""} {
			resp, _ := ev.do(token, "GET", "/dicom-web/studies", nil, "Origin", "https://viewer.example")
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
				t.Errorf("GET with token %q: %d, CORS headers %v", token, resp.StatusCode, resp.Header)
			}
		}
		if resp, body := ev.do("reader", "OPTIONS", "/dicom-web/studies", nil); resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), "OperationOutcome") {
			t.Errorf("OPTIONS that is not a preflight: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("scopes", func(t *testing.T) {
		for _, c := range []struct {
			token, method, path string
			status              int
		}{
			{"patients-only", "GET", "/dicom-web/studies", 403},
			{"patients-only", "GET", "/dicom-web/studies/1.9.1/metadata", 403},
			{"no-context", "GET", "/dicom-web/studies", 403},
			{"reader", "GET", "/dicom-web/studies", 200},
			{"reader", "GET", "/dicom-web/studies/1.9.2/series/1.9.2.1/instances/1.9.2.1.1/metadata", 200},
			{"p1", "GET", "/dicom-web/studies/1.9.1/metadata", 200},
			{"p1", "GET", "/dicom-web/studies/1.9.2/metadata", 403},
			{"p1", "GET", "/dicom-web/studies/1.9.2", 403},
			{"p1", "GET", "/dicom-web/wado?requestType=WADO&studyUID=1.9.2&seriesUID=1.9.2.1&objectUID=1.9.2.1.1&contentType=application/dicom", 403},
			{"v2-query", "GET", "/dicom-web/studies/1.9.1/metadata", 403},
		} {
			resp, body := ev.do(c.token, c.method, c.path, nil)
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: %d, want %d: %.200s", c.token, c.path, resp.StatusCode, c.status, body)
			}
		}
		if status, _ := ev.stow("reader", "/studies", instance(t, spec{study: "6.1"})); status != 403 {
			t.Errorf("STOW with a read-only token: %d", status)
		}
		// Create without update: new studies only.
		status, res := ev.stow("creator", "/studies", instance(t, spec{study: "6.3", series: "6.3.1", sop: "6.3.1.1", patientID: "PID-6"}),
			instance(t, spec{study: "1.9.1", series: "1.9.1.1", sop: "1.9.1.1.7"}))
		if status != 202 || len(res["00081198"].Value) != 1 ||
			datasetOf(res["00081198"].Value[0].(map[string]any)).First("00081155") != "1.9.1.1.7" {
			t.Errorf("STOW with create only: %d %s", status, mustJSON(t, res))
		}
	})
	t.Run("patient context", func(t *testing.T) {
		for _, path := range []string{"/dicom-web/studies", "/dicom-web/series", "/dicom-web/instances", "/dicom-web/studies?PatientID=PID-2"} {
			got := studyUIDs(ev.getJSON("p1", path))
			want := []string{"1.9.1"}
			if strings.Contains(path, "PID-2") {
				want = nil
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: studies %v, want %v", path, got, want)
			}
		}
		// A patient may store for itself, not for another patient.
		own := instance(t, spec{study: "1.9.1", series: "1.9.1.3", sop: "1.9.1.3.1", patientID: "PID-1"})
		other := instance(t, spec{study: "1.9.2", series: "1.9.2.3", sop: "1.9.2.3.1", patientID: "PID-2", patientName: "Martin^Hélène"})
		status, res := ev.stow("p1", "/studies", own, other)
		if status != 202 {
			t.Fatalf("patient STOW: %d %s", status, mustJSON(t, res))
		}
		failed := datasetOf(res["00081198"].Value[0].(map[string]any))
		if failed.First("00081155") != "1.9.2.3.1" || atoi(failed.First("00081197")) != reasonNotAuthorized {
			t.Errorf("failed item: %s", mustJSON(t, failed))
		}
	})
	t.Run("consent", func(t *testing.T) {
		ev.consent.denied = []string{p2}
		defer func() { ev.consent.denied = nil }()
		if got := studyUIDs(ev.getJSON("admin", "/dicom-web/studies")); !slices.Equal(got, []string{"1.9.1", "1.9.3", "6.3"}) {
			t.Errorf("studies with patient 2 denied: %v", got)
		}
		if got := studyUIDs(ev.getJSON("admin", "/dicom-web/instances")); slices.Contains(got, "1.9.2") {
			t.Errorf("instances of a denied patient: %v", got)
		}
		if resp, _ := ev.do("admin", "GET", "/dicom-web/studies/1.9.2/metadata", nil); resp.StatusCode != 403 {
			t.Errorf("retrieve of a denied patient's study: %d", resp.StatusCode)
		}
	})
	t.Run("audit", func(t *testing.T) {
		for _, path := range []string{"/dicom-web/studies?PatientID=PID-1", "/dicom-web/studies/1.9.1/metadata",
			"/dicom-web/studies/1.9.1/series/1.9.1.1/instances/1.9.1.1.1/frames/1"} {
			before := auditCount(t, ev)
			if resp, body := ev.do("admin", "GET", path, nil); resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			if after := auditCount(t, ev); after != before+1 {
				t.Errorf("%s: %d audit events recorded, want 1", path, after-before)
			}
		}
		before := auditCount(t, ev)
		ev.stow("admin", "/studies", instance(t, spec{study: "6.2", series: "6.2.1", sop: "6.2.1.1"}))
		if after := auditCount(t, ev); after != before+1 {
			t.Errorf("STOW: %d audit events, want 1", after-before)
		}
	})
}

// failingAuditor refuses every event, as a recorder whose store is down.
type failingAuditor struct{}

func (failingAuditor) Record(context.Context, audit.Event) error {
	return errors.New("audit store unavailable")
}

// testAuditFailClosed: when audit fails, nothing is served.
func testAuditFailClosed(t *testing.T, b backend) {
	ev := newEnv(t, b)
	file := instance(t, spec{study: "7.1", series: "7.1.1", sop: "7.1.1.1"})
	if status, _ := ev.stow("admin", "/studies", file); status != 200 {
		t.Fatalf("STOW: %d", status)
	}
	ev.srv.opts.Audit = failingAuditor{}
	for _, path := range []string{"/dicom-web/studies", "/dicom-web/studies/7.1", "/dicom-web/studies/7.1/metadata"} {
		resp, body := ev.do("admin", "GET", path, nil)
		if resp.StatusCode != 500 || bytes.Contains(body, []byte("7.1.1.1")) {
			t.Errorf("%s with audit down: %d %.200s", path, resp.StatusCode, body)
		}
	}
	if status, _ := ev.stow("admin", "/studies", instance(t, spec{study: "7.2", series: "7.2.1", sop: "7.2.1.1"})); status != http.StatusInternalServerError {
		t.Errorf("STOW with audit down: %d", status)
	}
}

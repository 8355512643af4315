package security

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/smart"
)

// TestTokens: every request without a valid token of this server is
// refused with 401, WWW-Authenticate and an OperationOutcome, and nothing
// of the data is in the answer.
func TestTokens(t *testing.T) {
	f := newFixture(t)
	good := f.backendToken("system/*.rs")
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(payload) + "."
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 0x01 // one bit of the signature
	badSig := parts[0] + "." + parts[1] + "." + string(sig)
	otherPayload := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"system/*.rs"`, `"system/*.cruds"`, 1)))
	forged := parts[0] + "." + otherPayload + "." + parts[2]

	rows := []struct {
		name, auth string
	}{
		{"no token", ""},
		{"not bearer", "Basic " + base64.StdEncoding.EncodeToString([]byte(opsClient+":"+opsSecret))},
		{"garbage", "Bearer not-a-jwt"},
		{"alg none", "Bearer " + none},
		{"bad signature", "Bearer " + badSig},
		{"claims changed under the signature", "Bearer " + forged},
		{"expired", "Bearer " + f.minter(smart.Config{BaseURL: f.url, AccessTokenTTL: -time.Hour})},
		{"wrong issuer", "Bearer " + f.minter(smart.Config{BaseURL: "http://issuer.invalid", FHIRBaseURL: f.url + "/fhir"})},
		{"wrong audience", "Bearer " + f.minter(smart.Config{BaseURL: f.url, FHIRBaseURL: "http://other.invalid/fhir"})},
		{"oversized Authorization header", "Bearer " + strings.Repeat("a", 64<<10)},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			for _, path := range []string{"/Patient/bob", "/Observation?_count=100", "/Patient/alice/$everything"} {
				a := f.do(http.MethodGet, path, r.auth, "", nil)
				if a.status != http.StatusUnauthorized {
					t.Fatalf("GET %s: %d, want 401: %.300s", path, a.status, a.body)
				}
				if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer ") || !strings.Contains(a.body, "OperationOutcome") {
					t.Errorf("GET %s: 401 without WWW-Authenticate or OperationOutcome: %v %s", path, a.header, a.body)
				}
				if strings.Contains(a.body, bobMark) || strings.Contains(a.body, "Liddell") {
					t.Errorf("GET %s: data in a 401: %s", path, a.body)
				}
			}
		})
	}
	t.Run("good token", func(t *testing.T) {
		if a := f.do(http.MethodGet, "/Patient/bob", "Bearer "+good, "", nil); a.status != http.StatusOK {
			t.Fatalf("the unaltered token: %d %s", a.status, a.body)
		}
	})
	t.Run("public endpoints", func(t *testing.T) {
		if a := f.do(http.MethodGet, "/metadata", "", "", nil); a.status != http.StatusOK {
			t.Errorf("metadata without a token: %d", a.status)
		}
		res, err := f.client.Get(f.url + "/fhir/.well-known/smart-configuration")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("smart-configuration without a token: %d", res.StatusCode)
		}
	})
	t.Run("CORS preflight", func(t *testing.T) {
		a := f.do(http.MethodOptions, "/Patient", "", "", map[string]string{
			"Origin": "https://app.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization",
		})
		if a.status != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(a.header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight: %d %v", a.status, a.header)
		}
	})
}

// TestRevocation: a revoked access token is refused at once, and a revoked
// refresh token family gives no new access token.
func TestRevocation(t *testing.T) {
	f := newFixture(t)
	at := f.backendToken("system/Patient.rs")
	if a := f.do(http.MethodGet, "/Patient/alice", "Bearer "+at, "", nil); a.status != http.StatusOK {
		t.Fatalf("before revocation: %d %s", a.status, a.body)
	}
	f.form("/auth/revoke", url.Values{"token": {at}}, opsClient, http.StatusOK)
	if a := f.do(http.MethodGet, "/Patient/alice", "Bearer "+at, "", nil); a.status != http.StatusUnauthorized || strings.Contains(a.body, "Liddell") {
		t.Fatalf("revoked token: %d, want 401: %s", a.status, a.body)
	}

	tok := f.aliceTokens("openid fhirUser launch/patient offline_access patient/*.rs")
	refresh, _ := tok["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+"/auth/revoke", strings.NewReader(url.Values{"token": {refresh}, "client_id": {appClient}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke the refresh token: %d", res.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, f.url+"/auth/token", strings.NewReader(url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {appClient}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh with a revoked family: %d, want 400", res.StatusCode)
	}
}

// TestPatientToken: Alice's patient token reaches her compartment and
// nothing of Bob's, by any path.
func TestPatientToken(t *testing.T) {
	f := newFixture(t)
	tok := f.aliceTokens("openid fhirUser launch/patient patient/*.cruds")
	alice := "Bearer " + tok["access_token"].(string)

	type row struct {
		name, method, path, body string
		header                   map[string]string
		want                     int
		total                    int // -1: no total checked
	}
	bundle := func(typ, entries string) string {
		return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + entries + `]}`
	}
	mine := `{"resource":` + observation("x", "alice", "laboratory", "alice-new-1", "") + `,"request":{"method":"POST","url":"Observation"}}`
	bobs := `{"resource":` + observation("bob-lab", "bob", "laboratory", "bob-lab-1", "") + `,"request":{"method":"PUT","url":"Observation/bob-lab"}}`
	rows := []row{
		{name: "read own Patient", method: "GET", path: "/Patient/alice", want: 200, total: -1},
		{name: "read other Patient", method: "GET", path: "/Patient/bob", want: 404, total: -1},
		{name: "read other's Observation", method: "GET", path: "/Observation/bob-lab", want: 404, total: -1},
		{name: "vread other's Observation", method: "GET", path: "/Observation/bob-lab/_history/1", want: 404, total: -1},
		{name: "search Observations", method: "GET", path: "/Observation", want: 200, total: 3},
		{name: "search by other subject", method: "GET", path: "/Observation?subject=Patient/bob", want: 200, total: 0},
		{name: "search Patients", method: "GET", path: "/Patient", want: 200, total: 1},
		{name: "search Patients by name", method: "GET", path: "/Patient?name=" + bobMark, want: 200, total: 0},
		{name: "chain to other patient", method: "GET", path: "/Observation?subject:Patient.name=" + bobMark, want: 200, total: 0},
		{name: "chain through focus", method: "GET", path: "/Observation?focus:Patient.name=" + bobMark, want: 200, total: 0},
		{name: "_has to other's data", method: "GET", path: "/Patient?_has:Observation:subject:identifier=bob-lab-1", want: 200, total: 0},
		{name: "_include of other patient", method: "GET", path: "/Observation?_include=Observation:focus&_include=Observation:subject", want: 200, total: 3},
		{name: "_revinclude of other's data", method: "GET", path: "/Patient?_revinclude=Observation:subject&_revinclude=Encounter:subject", want: 200, total: 1},
		{name: "system search", method: "GET", path: "?_type=Patient,Observation,Encounter", want: 200, total: 3},
		{name: "system search, all types", method: "GET", path: "?_count=1000", want: 200, total: -1},
		{name: "instance history of other", method: "GET", path: "/Patient/bob/_history", want: 404, total: -1},
		{name: "type history", method: "GET", path: "/Observation/_history", want: 403, total: -1},
		{name: "system history", method: "GET", path: "/_history", want: 403, total: -1},
		{name: "other's compartment", method: "GET", path: "/Patient/bob/Observation", want: 200, total: 0},
		{name: "other's compartment, all types", method: "GET", path: "/Patient/bob/*?_count=1000", want: 200, total: -1},
		{name: "other's $everything", method: "GET", path: "/Patient/bob/$everything", want: 404, total: -1},
		{name: "own $everything", method: "GET", path: "/Patient/alice/$everything?_count=1000", want: 200, total: -1},
		{name: "type $everything", method: "GET", path: "/Patient/$everything?_count=1000", want: 200, total: 1},
		{name: "transaction with a forbidden entry", method: "POST", path: "", body: bundle("transaction", mine+","+bobs), want: 403, total: -1},
		{name: "create for other patient", method: "POST", path: "/Observation", body: observation("x", "bob", "laboratory", "bob-new-1", ""), want: 403, total: -1},
		{name: "update other's Observation", method: "PUT", path: "/Observation/bob-lab", body: observation("bob-lab", "alice", "laboratory", "bob-lab-1", ""), want: 403, total: -1},
		{name: "move own Observation to other", method: "PUT", path: "/Observation/alice-lab", body: observation("alice-lab", "bob", "laboratory", "alice-lab-1", ""), want: 403, total: -1},
		{name: "delete other's Observation", method: "DELETE", path: "/Observation/bob-lab", want: 403, total: -1},
		{name: "conditional delete of other's", method: "DELETE", path: "/Observation?identifier=urn:test|bob-lab-1", want: 200, total: -1},
		// Bob's Observation matches these criteria but is invisible to the
		// token: the create goes through, then the update finds Alice's own.
		{name: "If-None-Exist matching other's", method: "POST", path: "/Observation", body: observation("", "alice", "laboratory", "bob-lab-1", ""),
			header: map[string]string{"If-None-Exist": "identifier=urn:test|bob-lab-1"}, want: 201, total: -1},
		{name: "conditional update matching other's", method: "PUT", path: "/Observation?identifier=urn:test|bob-lab-1", body: observation("", "alice", "laboratory", "bob-lab-1", ""), want: 200, total: -1},
		{name: "$reindex", method: "POST", path: "/$reindex", want: 403, total: -1},
		{name: "$verify-audit", method: "GET", path: "/$verify-audit", want: 403, total: -1},
		{name: "update an AuditEvent", method: "PUT", path: "/AuditEvent/audit-1", body: `{"resourceType":"AuditEvent","id":"audit-1"}`, want: 405, total: -1},
		{name: "delete an AuditEvent", method: "DELETE", path: "/AuditEvent/audit-1", want: 405, total: -1},
		{name: "write a SearchParameter", method: "POST", path: "/SearchParameter", body: `{"resourceType":"SearchParameter","url":"http://x/sp","name":"x","status":"active","description":"x","code":"x","base":["Patient"],"type":"string","expression":"Patient.name"}`, want: 403, total: -1},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			a := f.do(r.method, r.path, alice, r.body, r.header)
			if a.status != r.want {
				t.Fatalf("%s %s: %d, want %d: %.600s", r.method, r.path, a.status, r.want, a.body)
			}
			leaked(t, a.body)
			if a.status >= 400 && !strings.Contains(a.body, "OperationOutcome") {
				t.Errorf("%s %s: %d without an OperationOutcome: %s", r.method, r.path, a.status, a.body)
			}
			if r.total >= 0 {
				b := readBundle(t, a.body)
				if b.Total == nil || *b.Total != r.total {
					t.Errorf("%s %s: total %v, want %d: %.600s", r.method, r.path, b.Total, r.total, a.body)
				}
			}
		})
	}

	admin := "Bearer " + f.backendToken("system/*.rs")
	t.Run("Bob's data untouched", func(t *testing.T) {
		a := f.do("GET", "/Observation/bob-lab", admin, "", nil)
		if a.status != 200 || !strings.Contains(a.body, `"Patient/bob"`) || !strings.Contains(a.body, `"versionId":"1"`) {
			t.Errorf("Bob's Observation changed: %d %s", a.status, a.body)
		}
		if a := f.do("GET", "/Observation?subject=Patient/bob", admin, "", nil); *readBundle(t, a.body).Total != 1 {
			t.Errorf("Bob's Observations: %s", a.body)
		}
		if a := f.do("GET", "/Observation?identifier=urn:test|alice-new-1", admin, "", nil); *readBundle(t, a.body).Total != 0 {
			t.Errorf("the failed transaction stored its allowed entry: %s", a.body)
		}
	})
	t.Run("batch with a forbidden entry", func(t *testing.T) {
		a := f.do("POST", "", alice, bundle("batch", mine+","+bobs), nil)
		b := readBundle(t, a.body)
		if a.status != 200 || len(b.Entry) != 2 || !strings.HasPrefix(b.Entry[0].Response.Status, "201") ||
			!strings.HasPrefix(b.Entry[1].Response.Status, "403") {
			t.Fatalf("batch: %d %s", a.status, a.body)
		}
	})
	t.Run("paging", func(t *testing.T) {
		// Pages continue by a cursor bound to the restricted search: every
		// page keeps to Alice's data.
		a := f.do("GET", "/Observation?_count=1", alice, "", nil)
		seen := 0
		for range 20 {
			var page struct {
				Link []struct{ Relation, URL string } `json:"link"`
			}
			if a.status != 200 || json.Unmarshal([]byte(a.body), &page) != nil {
				t.Fatalf("page: %d %s", a.status, a.body)
			}
			leaked(t, a.body)
			seen += len(readBundle(t, a.body).Entry)
			next := ""
			for _, l := range page.Link {
				if l.Relation == "next" {
					next = strings.TrimPrefix(l.URL, f.url+"/fhir")
				}
			}
			if next == "" {
				break
			}
			a = f.do("GET", next, alice, "", nil)
		}
		if total := *readBundle(t, f.do("GET", "/Observation?_summary=count", alice, "", nil).body).Total; seen != total {
			t.Errorf("pages held %d Observations, the total is %d", seen, total)
		}
	})
	t.Run("own create", func(t *testing.T) {
		a := f.do("POST", "/Observation", alice, observation("", "alice", "vital-signs", "alice-new-2", ""), nil)
		if a.status != 201 {
			t.Fatalf("create for herself: %d %s", a.status, a.body)
		}
	})
	t.Run("audit trail of her data", func(t *testing.T) {
		a := f.do("GET", "/AuditEvent?patient=alice&_count=200", alice, "", nil)
		b := readBundle(t, a.body)
		if a.status != 200 || b.Total == nil || *b.Total == 0 {
			t.Fatalf("Alice's audit events: %d %.500s", a.status, a.body)
		}
		leaked(t, a.body)
	})
	t.Run("refusals are audited", func(t *testing.T) {
		auditor := "Bearer " + f.backendToken("system/AuditEvent.rs")
		a := f.do("GET", "/AuditEvent?outcome=4&_summary=count", auditor, "", nil)
		if b := readBundle(t, a.body); a.status != 200 || b.Total == nil || *b.Total == 0 {
			t.Errorf("no audit event of a refused request: %d %s", a.status, a.body)
		}
		a = f.do("GET", "/$verify-audit", auditor, "", nil)
		if a.status != 200 || !strings.Contains(a.body, `"Parameters"`) {
			t.Errorf("$verify-audit: %d %s", a.status, a.body)
		}
	})
}

// TestScopeQuery: a v2 scope with a query (system/Observation.rs?category=
// laboratory) sees only the resources matching it, in totals and reads.
func TestScopeQuery(t *testing.T) {
	f := newFixture(t)
	lab := "Bearer " + f.backendToken("system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
	a := f.do("GET", "/Observation", lab, "", nil)
	if b := readBundle(t, a.body); a.status != 200 || b.Total == nil || *b.Total != 2 || strings.Contains(a.body, "alice-vital") {
		t.Errorf("laboratory scope search: %d %.600s", a.status, a.body)
	}
	if a := f.do("GET", "/Observation/alice-vital", lab, "", nil); a.status != 404 {
		t.Errorf("laboratory scope reading a vital sign: %d %s", a.status, a.body)
	}
	if a := f.do("GET", "/Observation/alice-lab", lab, "", nil); a.status != 200 {
		t.Errorf("laboratory scope reading a laboratory result: %d %s", a.status, a.body)
	}
	if a := f.do("GET", "/Patient/alice", lab, "", nil); a.status != 403 {
		t.Errorf("Observation scope reading a Patient: %d %s", a.status, a.body)
	}
	// Two scope queries on one type: either admits a resource.
	cat := "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|"
	either := "Bearer " + f.backendToken(cat+"laboratory "+cat+"vital-signs")
	a = f.do("GET", "/Observation", either, "", nil)
	if b := readBundle(t, a.body); a.status != 200 || b.Total == nil || *b.Total != 3 || strings.Contains(a.body, "alice-about-bob") {
		t.Errorf("laboratory or vital-signs scopes: %d %.600s", a.status, a.body)
	}
	// A write must stay within the scope query.
	labWriter := "Bearer " + f.backendToken("system/Observation.cu?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
	if a := f.do("POST", "/Observation", labWriter, observation("", "alice", "vital-signs", "w-1", ""), nil); a.status != 403 {
		t.Errorf("laboratory writer creating a vital sign: %d %s", a.status, a.body)
	}
	if a := f.do("POST", "/Observation", labWriter, observation("", "alice", "laboratory", "w-2", ""), nil); a.status != 201 {
		t.Errorf("laboratory writer creating a laboratory result: %d %s", a.status, a.body)
	}
	write := "Bearer " + f.backendToken("system/Patient.rs")
	if a := f.do("POST", "/Patient", write, `{"resourceType":"Patient"}`, nil); a.status != 403 || !strings.Contains(a.body, "OperationOutcome") {
		t.Errorf("create with a read scope: %d %s", a.status, a.body)
	}
}

// bobResources are the addresses of Bob's data.
var bobResources = []string{"/Patient/bob", "/Observation/bob-lab", "/Encounter/bob-visit"}

// leaked fails when an answer holds anything of Bob's: one of his
// resources, or his name in a resource. (Alice's own data may name him, as
// the focus of her Observation does; her audit records echo her own
// queries, and OperationOutcomes and self links the query she sent.)
func leaked(t *testing.T, body string) {
	t.Helper()
	var doc struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal([]byte(body), &doc) != nil {
		return
	}
	switch doc.ResourceType {
	case "OperationOutcome":
		return
	case "Bundle":
	default:
		if strings.Contains(body, bobMark) {
			t.Errorf("Bob's data leaked: %.1000s", body)
		}
		return
	}
	for _, e := range doc.Entry {
		for _, r := range bobResources {
			if strings.HasSuffix(e.FullURL, r) {
				t.Errorf("Bob's %s is in the answer", r)
			}
		}
		if !strings.Contains(e.FullURL, "/AuditEvent/") && strings.Contains(string(e.Resource), bobMark) {
			t.Errorf("Bob's data leaked in %s: %.1000s", e.FullURL, e.Resource)
		}
	}
}

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store/mongo/mongotest"
)

// TestServeMongoStore runs the binary on the MongoDB backend (FerretDB,
// in-process, which like a standalone MongoDB has no multi-document
// transactions): single interactions and batch Bundles work, transaction
// Bundles are refused with an OperationOutcome.
func TestServeMongoStore(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	uri := mongotest.Start(t) + "telehub_cmd_test"
	p := startBinary(t, bin, "--store", uri, "--data", t.TempDir())
	if p.started["store"] != storeMongo || p.started["transactions"] != false {
		t.Errorf("start-up line: %v", p.started)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	bearer := p.bearer(t, "system/Patient.cruds")

	post := func(path, body string, wantStatus int) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.url(path), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", bearer)
		return send(t, client, req, wantStatus)
	}
	created := post("/fhir/Patient", fmt.Sprintf(testPatient, "on-mongo"), http.StatusCreated)
	read, _ := http.NewRequest(http.MethodGet, p.url("/fhir/Patient/"+idFromLocation(t, created.Header.Get("Location"))), nil)
	read.Header.Set("Authorization", bearer)
	if res := send(t, client, read, http.StatusOK); !strings.Contains(res.body, "on-mongo") {
		t.Errorf("read back: %s", res.body)
	}

	bundle := func(typ string) string {
		return fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[
			{"fullUrl":"urn:uuid:6f1c1c2e-0b6a-4e8e-9a57-3c1b2f0c9d01","resource":`+testPatient+`,"request":{"method":"POST","url":"Patient"}},
			{"fullUrl":"urn:uuid:6f1c1c2e-0b6a-4e8e-9a57-3c1b2f0c9d02","resource":`+testPatient+`,"request":{"method":"POST","url":"Patient"}}]}`,
			typ, typ+"-1", typ+"-2")
	}
	if res := post("/fhir", bundle("batch"), http.StatusOK); strings.Count(res.body, `"201`) != 2 {
		t.Errorf("batch response: %s", res.body)
	}
	if res := post("/fhir", bundle("transaction"), http.StatusBadRequest); !strings.Contains(res.body, "OperationOutcome") {
		t.Errorf("transaction refusal: %s", res.body)
	}
	ready, _ := http.NewRequest(http.MethodGet, p.url("/readyz"), nil)
	send(t, client, ready, http.StatusOK)
}

// TestAuthorizationServerOnMongo runs the authorization server's state on
// the MongoDB backend: the demo is off by default there, the admin commands
// work on the store URI, and a started server serves their client.
func TestAuthorizationServerOnMongo(t *testing.T) {
	t.Parallel()
	uri := mongotest.Start(t) + "telehub_cmd_auth_test"
	code, out, errs := admin(t, map[string]string{"TELEHUB_STORE": uri}, "client", "add", "--id", "svc", "--scope", "system/*.rs")
	secret := printedSecret.FindStringSubmatch(out)
	if code != 0 || secret == nil {
		t.Fatalf("client add on mongo: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	p := startWithBootstrap(t, "--store", uri, "--data", t.TempDir())
	if p.demo != "" {
		t.Errorf("demo on MongoDB without --demo:\n%s", p.demo)
	}
	for _, c := range []struct{ id, secret string }{{"svc", secret[1]}, {"backend", bootstrapSecret}} {
		status, tok := p.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, c.id, c.secret)
		if status != http.StatusOK {
			t.Errorf("client_credentials for %s: %d %v", c.id, status, tok)
		}
	}
}

package fhir

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/smart"
)

// The security section and the websocket extension appear only when wired,
// and the statement stays a valid R4 resource.
func TestCapabilitySecurityAndWebSocket(t *testing.T) {
	oauth := &smart.Endpoints{Authorize: "http://a.test/auth/authorize", Token: "http://a.test/auth/token"}
	for _, tc := range []struct {
		name  string
		opts  Options
		oauth bool
		ws    string
	}{
		{"bare", Options{}, false, ""},
		{"wired", Options{OAuth: oauth, SubscriptionWebSocket: "ws://a.test/subscriptions/websocket"}, true, "ws://a.test/subscriptions/websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.opts)
			res := ts.do(http.MethodGet, "/fhir/metadata", "")
			if res.Code != http.StatusOK {
				t.Fatalf("metadata: %d", res.Code)
			}
			if _, err := model.Parse(res.Body.Bytes()); err != nil {
				t.Fatalf("CapabilityStatement does not validate: %v", err)
			}
			var cs capabilityStatement
			if err := json.Unmarshal(res.Body.Bytes(), &cs); err != nil {
				t.Fatal(err)
			}
			rest := cs.Rest[0]
			if got := rest.Security != nil; got != tc.oauth {
				t.Fatalf("security section present = %v, want %v", got, tc.oauth)
			}
			if tc.oauth {
				uris := map[string]string{}
				for _, e := range rest.Security.Extension[0].Extension {
					uris[e.URL] = e.ValueURI
				}
				if uris["token"] != oauth.Token || uris["authorize"] != oauth.Authorize || len(uris) != 2 {
					t.Fatalf("oauth-uris: %v", uris)
				}
			}
			var ws string
			for _, e := range rest.Extension {
				if e.URL == "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket" {
					ws = e.ValueURI
				}
			}
			if ws != tc.ws {
				t.Fatalf("websocket extension %q, want %q", ws, tc.ws)
			}
		})
	}
}

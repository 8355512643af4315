package signaling

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telehub/telehub/authz"
)

// iceServer is one entry of RTCConfiguration.iceServers.
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// turnCredentials is the answer of /signaling/turn: the TURN REST API
// members (username, password, ttl, uris), "credential" as WebRTC names the
// password, and the iceServers ready for an RTCPeerConnection.
type turnCredentials struct {
	Username   string      `json:"username,omitempty"`
	Credential string      `json:"credential,omitempty"`
	Password   string      `json:"password,omitempty"`
	TTL        int64       `json:"ttl,omitempty"`
	URIs       []string    `json:"uris"`
	ICEServers []iceServer `json:"iceServers"`
}

// TURNCredential computes the coturn use-auth-secret credential of a
// TURN REST API username ("<expiry>:<user>").
func TURNCredential(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ServeTURN answers the ICE servers, with TURN credentials valid for
// Options.TURN.TTL, to a caller with a valid access token.
func (r *Relay) ServeTURN(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if req.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	token := ""
	if scheme, t, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(t)
	}
	p, err := r.principal(req, token)
	if err != nil {
		if pe, ok := isProtocol(err); ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signaling", error="invalid_token"`)
			writeOutcome(w, http.StatusUnauthorized, "login", pe.message)
			return
		}
		r.log.ErrorContext(req.Context(), "turn: verify access token", "err", err)
		writeOutcome(w, http.StatusInternalServerError, "exception", "the access token could not be checked")
		return
	}
	writeJSON(w, http.StatusOK, r.credentials(p, time.Now()))
}

func (r *Relay) credentials(p *authz.Principal, now time.Time) turnCredentials {
	t := r.opts.TURN
	out := turnCredentials{URIs: append([]string{}, t.URIs...), ICEServers: []iceServer{}}
	if len(t.STUN) > 0 {
		out.ICEServers = append(out.ICEServers, iceServer{URLs: t.STUN})
	}
	if len(t.URIs) > 0 {
		user := p.Subject
		if user == "" {
			user = "anonymous"
		}
		// ':' separates the expiry in the username: keep it out of the user part.
		user = strings.ReplaceAll(user, ":", "_")
		ttl := int64(t.TTL / time.Second)
		out.Username = strconv.FormatInt(now.Unix()+ttl, 10) + ":" + user
		out.Credential = TURNCredential(t.Secret, out.Username)
		out.Password = out.Credential
		out.TTL = ttl
		out.ICEServers = append(out.ICEServers, iceServer{URLs: t.URIs, Username: out.Username, Credential: out.Credential})
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	body, _ := json.Marshal(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []map[string]string{{"severity": "error", "code": code, "diagnostics": diagnostics}},
	})
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

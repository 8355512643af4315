package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// systemToken returns a backend access token with scope (e.g.
// "system/*.cruds") for the server's own tools (the embedded server of
// `telehub bench`): it registers a confidential client with a random
// secret and asks the token endpoint, over HTTP like any client, so that
// the tools exercise the same token checks as real clients.
func (s *server) systemToken(ctx context.Context, scope string) (string, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	id := "telehub-tool-" + hex.EncodeToString(secret[:4])
	key := hex.EncodeToString(secret)
	if err := s.auth.EnsureBootstrapClient(ctx, id+":"+key); err != nil {
		return "", fmt.Errorf("tool client: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL(s.baseURL)+"/auth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, key)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("tool token: %w", err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", fmt.Errorf("tool token: status %d %s", res.StatusCode, tok.Error)
	}
	return tok.AccessToken, nil
}

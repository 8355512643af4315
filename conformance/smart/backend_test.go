package smart_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/telehub/telehub/internal/e2e"
	"github.com/telehub/telehub/smart"
)

// TestBackendServicesNode runs backend.mjs, a backend-services client built
// on jose, with an RS384 and an ES384 key.
func TestBackendServicesNode(t *testing.T) {
	node, modules := e2e.Node(t, "jose")
	h := startHub(t)
	for _, alg := range []jwa.SignatureAlgorithm{jwa.RS384, jwa.ES384} {
		t.Run(alg.String(), func(t *testing.T) {
			priv, pub := clientKey(t, alg)
			keyFile := filepath.Join(t.TempDir(), "key.jwk")
			if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
				t.Fatal(err)
			}
			id := "backend-" + alg.String()
			h.addClient(t, smart.NewClient{
				ID: id, Name: "Backend " + alg.String(), AuthMethod: smart.AuthPrivateKeyJWT, JWKS: pub,
				Scopes: []string{"system/*.rs"}, GrantTypes: []string{smart.GrantClientCredentials},
			})
			var out struct {
				Checks   []checkResult
				Searched struct {
					Observations int
					Patients     []string
				}
			}
			runNode(t, node, modules, "backend.mjs", map[string]string{
				"FHIR_URL": h.fhirBase, "CLIENT_ID": id, "ALG": alg.String(), "KEY_FILE": keyFile,
			}, &out)
			reportChecks(t, out.Checks, 7)
			// A system token sees every patient's observations.
			if out.Searched.Observations != len(h.observationIDs)+1 || !slices.Contains(out.Searched.Patients, "Martin") {
				t.Errorf("the backend client found %+v, want %d observations and Martin", out.Searched, len(h.observationIDs)+1)
			}
		})
	}
}

// clientKey makes a key pair for alg: the private JWK (for the script) and
// the public JWK Set (registered with the client).
func clientKey(t *testing.T, alg jwa.SignatureAlgorithm) (private, publicSet []byte) {
	t.Helper()
	var raw any
	var err error
	if alg == jwa.ES384 {
		raw, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	} else {
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	key.Set(jwk.KeyIDKey, "k-"+alg.String())
	key.Set(jwk.AlgorithmKey, alg)
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	set.AddKey(pub)
	if private, err = json.Marshal(key); err != nil {
		t.Fatal(err)
	}
	if publicSet, err = json.Marshal(set); err != nil {
		t.Fatal(err)
	}
	return private, publicSet
}

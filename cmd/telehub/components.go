package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/consent"
	"github.com/telehub/telehub/dicomweb"
	"github.com/telehub/telehub/events"
	"github.com/telehub/telehub/signaling"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/sqlite"
	"github.com/telehub/telehub/web"
)

// The components beside the FHIR API: the DICOMweb origin server, the
// signaling relay of video sessions and the web app. Each gets the same
// authenticator, consent policy and audit recorder as the FHIR API.

// dicomStorage is where DICOMweb keeps its index and its files: beside the
// resource store, in a store of its own (an SQLite file in the data
// directory, or another database of the same MongoDB), and blobs in the data
// directory or in GridFS.
type dicomStorage struct {
	index store.Store
	blobs dicomweb.Blobs
	close []io.Closer
}

func (d *dicomStorage) Close() error {
	var errs []error
	for _, c := range d.close {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// openDICOMStorage opens the DICOM index and blobs for the resource store
// of kind at target.
func openDICOMStorage(ctx context.Context, cfg serveConfig, kind, target string) (*dicomStorage, error) {
	d := &dicomStorage{}
	switch kind {
	case storeSQLite:
		dir := filepath.Dir(target)
		idx, err := sqlite.Open(ctx, filepath.Join(dir, "dicom.db"))
		if err != nil {
			return nil, fmt.Errorf("DICOM index: %w", err)
		}
		d.index = idx
		d.close = append(d.close, idx)
		blobs, err := dicomweb.NewDirBlobs(filepath.Join(dir, "dicom"))
		if err != nil {
			d.Close()
			return nil, err
		}
		d.blobs = blobs
	case storeMongo:
		indexURI, err := siblingDatabase(target, "_dicom")
		if err != nil {
			return nil, err
		}
		idx, err := mongo.Open(ctx, indexURI)
		if err != nil {
			return nil, fmt.Errorf("DICOM index: %w", err)
		}
		d.index = idx
		d.close = append(d.close, idx)
		blobs, err := dicomweb.OpenGridFSBlobs(ctx, target)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.blobs = blobs
		d.close = append(d.close, blobs)
	default:
		return nil, fmt.Errorf("unknown store kind %q", kind)
	}
	return d, nil
}

// siblingDatabase is the MongoDB URI of the database named like uri's own
// (mongo.DefaultDatabase when it names none) plus suffix.
func siblingDatabase(uri, suffix string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("MongoDB URI: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		name = mongo.DefaultDatabase
	}
	u.Path = "/" + name + suffix
	return u.String(), nil
}

// newDICOMweb builds the DICOMweb server over d, served at /dicom-web.
func (s *server) newDICOMweb(cfg serveConfig, d *dicomStorage, authn *authz.Authenticator, policy authz.ConsentPolicy) (*dicomweb.Server, error) {
	tmp := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("DICOMweb upload folder: %w", err)
	}
	return dicomweb.New(dicomweb.Options{
		Index: d.index, Blobs: d.blobs, FHIR: s.api, BaseURL: serverURL(s.baseURL) + "/dicom-web",
		Auth: authn, Consent: policy, Audit: s.audits,
		MaxUploadBytes: cfg.DICOMMaxUpload, Overwrite: cfg.DICOMOverwrite, TempDir: tmp, Logger: s.logger,
	})
}

// newRelay builds the signaling relay, joined to the other nodes through
// the bus's NATS connection.
func (s *server) newRelay(cfg serveConfig, authn *authz.Authenticator) (*signaling.Relay, error) {
	host, _ := os.Hostname()
	return signaling.New(signaling.Options{
		FHIR: s.api, Auth: authn, Audit: s.audits, NATS: s.bus.Conn(), NodeID: host + "-" + strings.ToLower(randomBase32(5)),
		TURN:   signaling.TURNOptions{STUN: cfg.STUN, URIs: cfg.TURN, Secret: cfg.TURNSecret},
		Logger: s.logger,
	})
}

// ensureWebClient registers the web app as a public SMART client whose
// redirect is the app's own page on this server.
func ensureWebClient(ctx context.Context, auth *smart.Server, fhirBase string) error {
	return auth.EnsurePublicClient(ctx, smart.NewClient{
		ID: web.ClientID, Name: "TeleHub web app",
		RedirectURIs: []string{serverURL(fhirBase) + web.RedirectPath},
		Scopes:       web.Scopes,
		GrantTypes:   []string{smart.GrantAuthorizationCode, smart.GrantRefreshToken},
	})
}

// invalidateOnChange drops the policy's cached answers whenever another
// node commits a write that may change them (this node's own writes drop
// them at once, through the FHIR layer): a Consent written on one node is
// enforced on all within moments.
func invalidateOnChange(bus *events.Bus, policy *consent.Policy) error {
	for _, typ := range consent.InputTypes {
		if _, err := bus.Conn().Subscribe(events.SubjectPrefix+typ, func(*nats.Msg) { policy.Invalidate() }); err != nil {
			return fmt.Errorf("subscribe to %s changes: %w", typ, err)
		}
	}
	return nil
}

// followSearchParameters makes every node search by the custom
// SearchParameters any node writes, as soon as the change event arrives.
func (s *server) followSearchParameters() error {
	_, err := s.bus.Conn().Subscribe(events.SubjectPrefix+"SearchParameter", func(m *nats.Msg) {
		var ev events.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.ID == "" {
			s.logger.Warn("SearchParameter change event unreadable", "err", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.api.SearchParameterChanged(ctx, ev.ID); err != nil {
			s.logger.Warn("SearchParameter change not applied", "id", ev.ID, "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to SearchParameter changes: %w", err)
	}
	return nil
}

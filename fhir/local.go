package fhir

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// The in-process API: other TeleHub components (DICOMweb's ImagingStudy
// synchronisation, consent's notifications, the signaling relay's Encounter
// updates) write and read FHIR resources through the same validation, index
// extraction, version checks and commit as the REST interactions, without
// HTTP. These calls are trusted: authorization is the caller's business.
// Errors a client could have caused are *Error values (see StatusOf). A
// resource whose bulk a component generates (an ImagingStudy listing
// thousands of instances) goes through UpdateGenerated, which validates an
// outline of it and indexes the bulk in parts (generated.go).

// Error is an error of the in-process API with the HTTP status the same
// REST interaction would have answered.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return "fhir: " + e.Message }

// StatusOf returns the HTTP status of err: that of an *Error, 500 otherwise.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}

// local turns the REST layer's error into the in-process API's.
func local(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return &Error{Status: ae.status, Message: ae.message}
	}
	return err
}

// Create stores a new resource of type typ with a server-assigned id. A
// non-empty ifNoneExist ("identifier=x|y") makes it conditional: an existing
// match is returned instead, with created false.
func (s *Server) Create(ctx context.Context, typ string, body []byte, ifNoneExist string) (res *store.Resource, created bool, err error) {
	ch, err := s.apply(ctx, &call{method: http.MethodPost, typ: typ, body: body, ifNoneExist: ifNoneExist})
	if err != nil {
		return nil, false, local(err)
	}
	r := ch.result()
	return r.resource, r.status == http.StatusCreated, nil
}

// Update stores body as the new version of typ/id (creating it when
// absent). ifMatch > 0 requires the current version to be ifMatch (409-like
// *Error with status 412 otherwise).
func (s *Server) Update(ctx context.Context, typ, id string, body []byte, ifMatch int64) (*store.Resource, error) {
	return s.change(ctx, &call{method: http.MethodPut, typ: typ, id: id, body: body}, ifMatch)
}

// Patch applies a JSON Patch (RFC 6902) to typ/id; ifMatch as in Update.
func (s *Server) Patch(ctx context.Context, typ, id string, jsonPatch []byte, ifMatch int64) (*store.Resource, error) {
	return s.change(ctx, &call{method: http.MethodPatch, typ: typ, id: id, body: jsonPatch}, ifMatch)
}

// change applies an update or a patch, pinned to version ifMatch when positive.
func (s *Server) change(ctx context.Context, cl *call, ifMatch int64) (*store.Resource, error) {
	if ifMatch > 0 {
		cl.ifMatch = etag(ifMatch)
	}
	ch, err := s.apply(ctx, cl)
	if err != nil {
		return nil, local(err)
	}
	return ch.result().resource, nil
}

// Read returns the current version of typ/id: *Error 404 when it never
// existed, 410 when deleted.
func (s *Server) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	res, err := s.readVersion(ctx, typ, id, "")
	if err != nil {
		return nil, local(err)
	}
	return res, nil
}

// PieceStore is the store the pieces of spliced bodies are read from (see
// store.WithPieces), or nil when the server's store assembles none.
func (s *Server) PieceStore() store.Store {
	if s.pieces == nil {
		return nil
	}
	return s.pieces.PieceStore()
}

// ReadStored is Read with a spliced body (store.Splice) as stored, not
// assembled: for the component that writes it, which needs its outline and
// the names of its pieces, not its bulk.
func (s *Server) ReadStored(ctx context.Context, typ, id string) (*store.Resource, error) {
	res, err := s.readVersionWith(ctx, typ, id, "", s.readStored)
	if err != nil {
		return res, local(err)
	}
	return res, nil
}

// Find returns at most limit current resources of type typ matching the
// search params (every parameter must be understood: 400 otherwise).
func (s *Server) Find(ctx context.Context, typ string, params url.Values, limit int) ([]store.Resource, error) {
	if limit <= 0 {
		limit = s.opts.DefaultPageSize
	}
	found, err := s.match(ctx, smart.Search, typ, params, limit)
	if err != nil {
		return nil, local(err)
	}
	if len(found) > limit {
		found = found[:limit]
	}
	return found, nil
}

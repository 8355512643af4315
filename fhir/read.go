package fhir

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

func (s *Server) read(c echo.Context) error {
	return s.serveVersion(c, c.Param("type"), c.Param("id"), "")
}

func (s *Server) vread(c echo.Context) error {
	return s.serveVersion(c, c.Param("type"), c.Param("id"), c.Param("vid"))
}

// serveVersion answers a read (vid empty) or a vread from the stored bytes.
func (s *Server) serveVersion(c echo.Context, typ, id, vid string) error {
	res, err := s.readAllowed(c.Request().Context(), typ, id, vid)
	if res != nil {
		setVersionHeaders(c.Response().Header(), res)
	}
	if err != nil {
		return err
	}
	if notModified(c.Request().Header.Get("If-None-Match"), c.Request().Header.Get("If-Modified-Since"), res) {
		return c.NoContent(http.StatusNotModified)
	}
	body, err := shape(res.Body, c.QueryParams())
	if err != nil {
		return err
	}
	return send(c, http.StatusOK, body)
}

// readAllowed is readVersion for the request's token: 403 without a read
// scope, 404 outside its compartment, 403 when a consent denies it.
func (s *Server) readAllowed(ctx context.Context, typ, id, vid string) (*store.Resource, error) {
	if err := s.checkVisible(ctx, smart.Read, typ, id); err != nil {
		return nil, err
	}
	return s.readVersion(ctx, typ, id, vid)
}

// readVersion reads the current version (vid empty) or one version of a
// resource. A deleted version comes back with a 410 error, so that callers
// can still report its version.
func (s *Server) readVersion(ctx context.Context, typ, id, vid string) (*store.Resource, error) {
	return s.readVersionWith(ctx, typ, id, vid, s.store.Read)
}

// readVersionWith is readVersion reading the current version with
// readCurrent.
func (s *Server) readVersionWith(ctx context.Context, typ, id, vid string, readCurrent func(context.Context, string, string) (*store.Resource, error)) (*store.Resource, error) {
	var (
		res *store.Resource
		err error
	)
	if err := s.syncAuditTrail(ctx, typ); err != nil {
		return nil, err
	}
	if vid == "" {
		res, err = readCurrent(ctx, typ, id)
	} else {
		v, perr := strconv.ParseInt(vid, 10, 64)
		if perr != nil || v < 1 {
			return nil, newError(http.StatusNotFound, codeNotFound, "version %q of %s/%s is not known", vid, typ, id)
		}
		res, err = s.store.VRead(ctx, typ, id, v)
	}
	if errors.Is(err, store.ErrNotFound) {
		if vid != "" {
			return nil, newError(http.StatusNotFound, codeNotFound, "version %s of %s/%s is not known", vid, typ, id)
		}
		return nil, newError(http.StatusNotFound, codeNotFound, "%s/%s is not known", typ, id)
	}
	if err != nil {
		return nil, fmt.Errorf("fhir: read %s/%s: %w", typ, id, err)
	}
	if res.Deleted {
		return res, newError(http.StatusGone, codeDeleted, "%s/%s was deleted (version %d)", typ, id, res.VersionID)
	}
	return res, nil
}

func setVersionHeaders(h http.Header, res *store.Resource) {
	h.Set("ETag", etag(res.VersionID))
	h.Set("Last-Modified", res.LastUpdated.UTC().Format(http.TimeFormat))
}

// notModified evaluates If-None-Match (W/"n", a list, or *) and, without
// it, If-Modified-Since.
func notModified(ifNoneMatch, ifModifiedSince string, res *store.Resource) bool {
	if inm := ifNoneMatch; inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			if v, ok := parseETag(tag); ok && v == res.VersionID {
				return true
			}
		}
		return false
	}
	if ims := ifModifiedSince; ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !res.LastUpdated.Truncate(time.Second).After(t)
	}
	return false
}

var summaryModes = map[string]bool{"true": true, "text": true, "data": true, "false": true, "count": true}

// shape applies _summary and _elements to a resource body; without them the
// stored bytes are served as they are.
func shape(body []byte, params url.Values) ([]byte, error) {
	mode := params.Get("_summary")
	elements := params.Get("_elements")
	if mode == "" && elements == "" {
		return body, nil
	}
	if mode != "" && !summaryModes[mode] {
		return nil, badRequest(codeValue, "_summary must be true, text, data, count or false, not %q", mode)
	}
	var err error
	if mode != "" && mode != "false" && mode != "count" {
		if body, err = model.Summary(body, mode); err != nil {
			return nil, parseError(err, http.StatusBadRequest)
		}
	} else if elements != "" {
		if body, err = model.Elements(body, strings.Split(elements, ",")); err != nil {
			return nil, parseError(err, http.StatusBadRequest)
		}
	}
	return body, nil
}

package fhir

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/store"
)

// resourceBody reads the JSON resource of a create or update.
func (s *Server) resourceBody(c echo.Context) ([]byte, error) {
	if _, err := checkBodyType(c.Request(), true, isJSONType); err != nil {
		return nil, err
	}
	return s.readBody(c.Request())
}

func (s *Server) create(c echo.Context) error {
	body, err := s.resourceBody(c)
	if err != nil {
		return err
	}
	return s.answerCall(c, &call{
		method: http.MethodPost, typ: c.Param("type"), body: body,
		ifNoneExist: c.Request().Header.Get("If-None-Exist"),
	})
}

func (s *Server) update(c echo.Context) error {
	body, err := s.resourceBody(c)
	if err != nil {
		return err
	}
	return s.answerCall(c, &call{
		method: http.MethodPut, typ: c.Param("type"), id: c.Param("id"), body: body,
		ifMatch: c.Request().Header.Get("If-Match"),
	})
}

func (s *Server) conditionalUpdate(c echo.Context) error {
	if c.Request().URL.RawQuery == "" {
		return s.methodNotAllowed(c)
	}
	body, err := s.resourceBody(c)
	if err != nil {
		return err
	}
	return s.answerCall(c, &call{
		method: http.MethodPut, typ: c.Param("type"), body: body,
		criteria: c.QueryParams(), conditional: true,
		ifMatch: c.Request().Header.Get("If-Match"),
	})
}

// patchBody reads a patch document: a JSON Patch
// (application/json-patch+json) or a FHIRPath Patch (a Parameters resource
// as FHIR JSON); fhirPatch tells which.
func (s *Server) patchBody(c echo.Context) (body []byte, fhirPatch bool, err error) {
	patchType := func(mt string) bool { return mt == mediaJSONPatch || isJSONType(mt) }
	mt, err := checkBodyType(c.Request(), false, patchType)
	if err != nil {
		return nil, false, err
	}
	body, err = s.readBody(c.Request())
	return body, mt != mediaJSONPatch, err
}

func (s *Server) patch(c echo.Context) error {
	body, fhirPatch, err := s.patchBody(c)
	if err != nil {
		return err
	}
	return s.answerCall(c, &call{
		method: http.MethodPatch, typ: c.Param("type"), id: c.Param("id"), body: body, fhirPatch: fhirPatch,
		ifMatch: c.Request().Header.Get("If-Match"),
	})
}

func (s *Server) conditionalPatch(c echo.Context) error {
	if c.Request().URL.RawQuery == "" {
		return s.methodNotAllowed(c)
	}
	body, fhirPatch, err := s.patchBody(c)
	if err != nil {
		return err
	}
	return s.answerCall(c, &call{
		method: http.MethodPatch, typ: c.Param("type"), body: body, fhirPatch: fhirPatch,
		criteria: c.QueryParams(), conditional: true,
		ifMatch: c.Request().Header.Get("If-Match"),
	})
}

func (s *Server) delete(c echo.Context) error {
	return s.answerCall(c, &call{
		method: http.MethodDelete, typ: c.Param("type"), id: c.Param("id"),
		ifMatch: c.Request().Header.Get("If-Match"),
	})
}

func (s *Server) conditionalDelete(c echo.Context) error {
	if c.Request().URL.RawQuery == "" {
		return s.methodNotAllowed(c)
	}
	return s.answerCall(c, &call{
		method: http.MethodDelete, typ: c.Param("type"),
		criteria: c.QueryParams(), conditional: true,
		ifMatch: c.Request().Header.Get("If-Match"),
	})
}

// answerCall applies a write call and answers it per the Prefer header.
func (s *Server) answerCall(c echo.Context, cl *call) error {
	ch, err := s.apply(c.Request().Context(), cl)
	if err != nil {
		return err
	}
	res := ch.result()
	pref := parsePrefer(c.Request().Header)
	h := c.Response().Header()
	if r := res.resource; r != nil {
		setVersionHeaders(h, r)
		if !r.Deleted {
			loc := s.versionURL(r)
			h.Set("Content-Location", loc)
			if res.status == http.StatusCreated {
				h.Set(echo.HeaderLocation, loc)
			}
		}
	}
	switch {
	case pref.ret == "minimal" && cl.method == http.MethodDelete:
		return c.NoContent(http.StatusNoContent)
	case pref.ret == "minimal":
		return c.NoContent(res.status)
	case pref.ret == "OperationOutcome" || res.resource == nil || res.resource.Deleted:
		return send(c, res.status, infoOutcome(res.message))
	}
	return send(c, res.status, res.resource.Body)
}

// resourceURL is the absolute URL of a resource; versionURL of one version.
func (s *Server) resourceURL(typ, id string) string {
	return s.opts.BaseURL + "/" + typ + "/" + id
}

func (s *Server) versionURL(r *store.Resource) string {
	return s.resourceURL(r.Type, r.ID) + "/_history/" + itoa(r.VersionID)
}

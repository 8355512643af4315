package fhir

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// contentTypeFHIR is the Content-Type of every response body.
const contentTypeFHIR = "application/fhir+json; charset=utf-8"

// jsonTypes are the media types the server reads and writes resources as.
var jsonTypes = map[string]bool{
	"application/fhir+json": true,
	"application/json":      true,
	"application/json+fhir": true, // the DSTU2 name, still sent by older clients
}

// formatAliases are the _format values that mean JSON.
var formatAliases = map[string]bool{"json": true}

const mediaJSONPatch = "application/json-patch+json"

// checkFormat enforces _format and Accept: the server only speaks JSON, so
// anything that excludes it is 406.
func checkFormat(r *http.Request) error {
	if format := formatParam(r); format != "" {
		mt, _, err := mime.ParseMediaType(format)
		if err != nil || !(formatAliases[mt] || jsonTypes[mt]) {
			return newError(http.StatusNotAcceptable, codeNotSupported, "_format %q is not supported: this server answers application/fhir+json only", format)
		}
		return nil
	}
	accept := r.Header.Values(echo.HeaderAccept)
	if len(accept) == 0 || acceptsJSON(strings.Join(accept, ",")) {
		return nil
	}
	return newError(http.StatusNotAcceptable, codeNotSupported, "cannot answer in any of the accepted types %q: this server answers application/fhir+json only", strings.Join(accept, ","))
}

// formatParam returns _format, reading "application/fhir json" (an
// unescaped "+") as meant. Most requests have no query at all: skip parsing.
func formatParam(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return strings.ReplaceAll(r.URL.Query().Get("_format"), " ", "+")
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok && strings.Trim(q, "0.") == "" {
			continue // q=0: explicitly refused
		}
		if jsonTypes[mt] || mt == "*/*" || mt == "application/*" {
			return true
		}
	}
	return false
}

// checkBodyType enforces the Content-Type of a request body. An absent
// Content-Type is read as JSON when allowEmpty is set.
func checkBodyType(r *http.Request, allowEmpty bool, accepted func(string) bool) (string, error) {
	ct := r.Header.Get(echo.HeaderContentType)
	if ct == "" && allowEmpty {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !accepted(mt) {
		return mt, newError(http.StatusUnsupportedMediaType, codeNotSupported, "request body Content-Type %q is not supported", ct)
	}
	return mt, nil
}

func isJSONType(mt string) bool { return jsonTypes[mt] }

// readBody reads a request body up to the configured limit (413 beyond it).
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	limit := s.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, s.tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest(codeStructure, "cannot read the request body")
	}
	if int64(len(body)) > limit {
		return nil, s.tooLarge()
	}
	return body, nil
}

func (s *Server) tooLarge() error {
	return newError(http.StatusRequestEntityTooLarge, codeTooLong, "request body is larger than %d bytes", s.opts.MaxBodyBytes)
}

// prefer holds the parts of the Prefer header the server honours.
type prefer struct {
	ret    string // "minimal", "representation", "OperationOutcome" or ""
	strict bool   // handling=strict
}

func parsePrefer(h http.Header) prefer {
	var p prefer
	for _, v := range h.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch strings.TrimSpace(name) {
			case "return":
				p.ret = value
			case "handling":
				p.strict = value == "strict"
			}
		}
	}
	return p
}

// send writes a response body as FHIR JSON, indented when _pretty=true.
func send(c echo.Context, status int, body []byte) error {
	if c.QueryParam("_pretty") == "true" {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	return c.Blob(status, contentTypeFHIR, body)
}

package fhir

import (
	"fmt"
	"net/http"
)

// Issue type codes (FHIR value set issue-type) the server answers with.
const (
	codeInvalid      = "invalid"
	codeStructure    = "structure"
	codeRequired     = "required"
	codeValue        = "value"
	codeNotFound     = "not-found"
	codeDeleted      = "deleted"
	codeConflict     = "conflict"
	codeNotSupported = "not-supported"
	codeTooCostly    = "too-costly"
	codeProcessing   = "processing"
	codeException    = "exception"
	codeInformation  = "informational"
	codeDuplicate    = "duplicate"
	codeTooLong      = "too-long"
	codeBusinessRule = "business-rule"
	codeForbidden    = "forbidden"
	codeLogin        = "login"
)

// apiError is an error a client caused (or an internal one already
// sanitised): it carries the HTTP status and the OperationOutcome issue that
// explains it. Its message is written for the client; internal errors never
// become an apiError with their Go text.
type apiError struct {
	status     int
	code       string
	message    string
	expression []string
	// more holds further issues of the same failure (every problem a
	// validation found, the first being the error itself).
	more []issue
}

func (e *apiError) Error() string { return e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, code, format, args...)
}

// within prefixes an error's message with where it happened (a Bundle entry),
// keeping its status and code.
func within(where string, err error) error {
	ae, ok := err.(*apiError)
	if !ok {
		return err
	}
	out := *ae
	out.message = where + ": " + ae.message
	return &out
}

type issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

type operationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}

func outcomeJSON(issues ...issue) []byte {
	b, err := encodeJSON(operationOutcome{ResourceType: "OperationOutcome", Issue: issues})
	if err != nil {
		// Marshalling plain strings cannot fail.
		panic(err)
	}
	return b
}

// errorOutcome is the OperationOutcome of an apiError.
func errorOutcome(e *apiError) []byte {
	severity := "error"
	if e.status >= 500 {
		severity = "fatal"
	}
	issues := append([]issue{{Severity: severity, Code: e.code, Diagnostics: e.message, Expression: e.expression}}, e.more...)
	return outcomeJSON(issues...)
}

// infoOutcome is an informational OperationOutcome (Prefer:
// return=OperationOutcome, successful deletes).
func infoOutcome(message string) []byte {
	return outcomeJSON(issue{Severity: "information", Code: codeInformation, Diagnostics: message})
}

// statusText is the "200 OK" form Bundle responses use.
func statusText(status int) string {
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Error is a parse or validation failure a client caused. Path is the element
// path (FHIRPath-like, e.g. "Patient.birthDate") when known. Syntax tells a
// malformed JSON document apart from a content error (unknown element, bad
// primitive, unknown type ...). Issues lists every problem found, the first of
// which is also in Path and Message.
type Error struct {
	Path    string
	Message string
	Syntax  bool
	Issues  []Issue
}

// Issue is one problem found in a resource.
type Issue struct {
	Path    string
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Path != "" {
		msg = e.Path + ": " + msg
	}
	if n := len(e.Issues); n > 1 {
		msg += fmt.Sprintf(" (and %d more)", n-1)
	}
	return msg
}

// newError makes an *Error with its single issue.
func newError(path, message string, syntax bool) *Error {
	return &Error{Path: path, Message: message, Syntax: syntax, Issues: []Issue{{Path: path, Message: message}}}
}

// syntaxError describes malformed JSON with the line and column of the fault.
func syntaxError(body []byte) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return newError("", "the body is empty", true)
	}
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(body, se.Offset)
		return newError("", fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, se.Error()), true)
	}
	return newError("", "malformed JSON", true)
}

func position(body []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(body)); i++ {
		if body[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// convertError turns the library's error list into an *Error. The library's
// error types live in an internal package, so their exported fields are read
// by reflection; anything unrecognised keeps its text on one line.
func convertError(err error) *Error {
	var issues []Issue
	collectIssues(reflect.ValueOf(err), err, &issues)
	sort.SliceStable(issues, func(i, j int) bool { return issues[i].Path < issues[j].Path })
	if len(issues) == 0 {
		issues = append(issues, Issue{Message: oneLine(err.Error())})
	}
	return &Error{Path: issues[0].Path, Message: issues[0].Message, Issues: issues}
}

func collectIssues(v reflect.Value, err error, out *[]Issue) {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Slice:
		for i := range v.Len() {
			item := v.Index(i)
			e, _ := item.Interface().(error)
			collectIssues(item, e, out)
		}
	case reflect.Struct:
		path, details, diag := stringField(v, "Path"), stringField(v, "Details"), stringField(v, "Diagnostics")
		if details == "" && err != nil {
			details = err.Error()
		}
		*out = append(*out, describe(fhirPath(path), oneLine(details), oneLine(diag)))
	default:
		if err != nil {
			*out = append(*out, Issue{Message: oneLine(err.Error())})
		}
	}
}

func stringField(v reflect.Value, name string) string {
	f := v.FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

// fhirPath turns the library's JSON path into the FHIRPath-like form used
// in OperationOutcome.issue.expression: the library names the type of a
// contained resource after its index ("Patient.contained[0].Organization.name"),
// FHIRPath does not ("Patient.contained[0].name").
func fhirPath(p string) string {
	return containedType.ReplaceAllString(strings.TrimPrefix(p, "."), "$1")
}

var (
	containedType = regexp.MustCompile(`(\.contained\[\d+\])\.[A-Z][A-Za-z]*`)
	missingField  = regexp.MustCompile(`^missing required field "(.+)"$`)
	codeMismatch  = regexp.MustCompile(`^"(.*)" is not a (\w+?)(Code)?$`)
)

// describe rewrites the library's terse details into a sentence, moving the
// element name into the path where the library left it in the text.
func describe(path, details, diag string) Issue {
	switch {
	case details == "unknown field":
		name, err := strconv.Unquote(diag)
		if err != nil {
			name = diag
		}
		return Issue{Path: joinPath(path, name), Message: fmt.Sprintf("unknown element %q", name)}
	case details == "unknown resource type":
		return Issue{Path: path, Message: "unknown resource type " + diag}
	case details == "invalid JSON":
		return Issue{Path: path, Message: "expected a JSON object"}
	}
	if m := missingField.FindStringSubmatch(details); m != nil {
		return Issue{Path: joinPath(path, m[1]), Message: "required element is missing"}
	}
	if m := codeMismatch.FindStringSubmatch(diag); details == "code type mismatch" && m != nil {
		return Issue{Path: path, Message: fmt.Sprintf("%q is not a valid %s code", m[1], m[2])}
	}
	if diag != "" && !strings.Contains(details, diag) {
		details += ": " + diag
	}
	return Issue{Path: path, Message: details}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const limit = 300
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

package fhirpath

import (
	"fmt"
	"strings"
	"testing"
)

// show renders a syntax tree in prefix form, to check precedence.
func show(n node) string {
	switch n := n.(type) {
	case *literalNode:
		var parts []string
		for _, it := range n.value {
			parts = append(parts, formatForSuite(it))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case *identNode:
		return n.name
	case *childNode:
		return show(n.target) + "." + n.name
	case *callNode:
		var args []string
		for _, a := range n.args {
			args = append(args, show(a))
		}
		prefix := ""
		if n.target != nil {
			prefix = show(n.target) + "."
		}
		return prefix + n.name + "(" + strings.Join(args, ",") + ")"
	case *indexNode:
		return show(n.target) + "[" + show(n.index) + "]"
	case *unaryNode:
		return "(" + n.op + show(n.operand) + ")"
	case *binaryNode:
		return "(" + show(n.left) + " " + n.op + " " + show(n.right) + ")"
	case *typeNode:
		return "(" + show(n.target) + " " + n.op + " " + n.typ.String() + ")"
	case *varNode:
		return "%" + n.name
	case *specialNode:
		return n.name
	}
	return fmt.Sprintf("?%T", n)
}

func TestParsePrecedence(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"1 + 2 * 3", "({1} + ({2} * {3}))"},
		{"a or b and c", "(a or (b and c))"},
		{"a implies b or c", "(a implies (b or c))"},
		{"a | b = c", "((a | b) = c)"},
		{"a = b | c", "(a = (b | c))"},
		{"x is Quantity and y", "((x is Quantity) and y)"},
		{"Observation.value as FHIR.Quantity", "(Observation.value as FHIR.Quantity)"},
		{"-1.5.round()", "(-{1.5}.round())"},
		{"a.b[0].c(1, 'x')", "a.b[{0}].c({1},{x})"},
		{"a in b contains c", "((a in b) contains c)"},
		{"name.where($this.given = %name)", "name.where(($this.given = %name))"},
		{"5 'mg' + 2 days", "({5 'mg'} + {2 days})"},
		{"@2014-01-05T10:30:00.000+01:00 - 1 year", "({@2014-01-05T10:30:00.000+01:00} - {1 year})"},
		{"`div`.`given`", "div.given"},
		{"%`vs-gender`", "%vs-gender"},
		{"a /* note */ // rest\n + b", "(a + b)"},
		{"a xor b != c", "(a xor (b != c))"},
		{"{}.empty()", "{}.empty()"},
		{"'it''s'", ""},
	}
	for _, tt := range tests {
		n, err := parse(tt.expr)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parse(%q) = %s, want an error", tt.expr, show(n))
			}
			continue
		}
		if err != nil {
			t.Errorf("parse(%q): %v", tt.expr, err)
			continue
		}
		if got := show(n); got != tt.want {
			t.Errorf("parse(%q) = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, expr := range []string{
		"", "1 +", "a.(b)", "a[1", "'unterminated", "/* open", "f(1,", "@2014-13", "a.b.", "1 $ 2", "x is",
	} {
		if _, err := Compile(expr); err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", expr)
		}
	}
}

func TestStringEscapes(t *testing.T) {
	got := eval(t, nil, `'a\'b\\c\nd\u00e9'`)
	if len(got) != 1 || got[0].Value != "a'b\\c\ndé" {
		t.Errorf("got %#v", got)
	}
}

func TestPlainPathFastPath(t *testing.T) {
	if p := MustCompile("Patient.name.given").path; strings.Join(p, ".") != "Patient.name.given" {
		t.Errorf("plain navigation not detected: %v", p)
	}
	if p := MustCompile("Patient.name.given.first()").path; p != nil {
		t.Errorf("a function call is not plain navigation: %v", p)
	}
}

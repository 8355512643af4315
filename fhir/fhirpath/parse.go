package fhirpath

import (
	"fmt"
	"strings"
	"unicode"
)

// tokenKind classifies lexical tokens.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokDelimitedIdent // `name`
	tokString
	tokNumber
	tokLongNumber
	tokDateTime
	tokVar     // %name
	tokSpecial // $this, $index, $total
	tokOp
)

type token struct {
	kind tokenKind
	text string
	pos  int
}

// lex splits an expression into tokens, dropping whitespace and comments.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment at %d", i)
			}
			i += end + 4
		case c == '\'' || c == '`':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated literal at %d", i)
			}
			text, err := unescape(src[i+1 : j])
			if err != nil {
				return nil, err
			}
			kind := tokString
			if c == '`' {
				kind = tokDelimitedIdent
			}
			toks = append(toks, token{kind, text, i})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			if j+1 < len(src) && src[j] == '.' && isDigit(src[j+1]) {
				j++
				for j < len(src) && isDigit(src[j]) {
					j++
				}
			}
			if j < len(src) && src[j] == 'L' {
				toks = append(toks, token{tokLongNumber, src[i:j], i})
				i = j + 1
				continue
			}
			toks = append(toks, token{tokNumber, src[i:j], i})
			i = j
		case c == '@':
			j := i + 1
			for j < len(src) && (isDigit(src[j]) || strings.IndexByte("-:.TZ+", src[j]) >= 0) {
				// A '+' or '-' only belongs to the literal as a time-zone offset.
				if (src[j] == '+' || src[j] == '-') && !(j+1 < len(src) && isDigit(src[j+1])) {
					break
				}
				if src[j] == '.' && !(j+1 < len(src) && isDigit(src[j+1])) {
					break
				}
				j++
			}
			toks = append(toks, token{tokDateTime, src[i+1 : j], i})
			i = j
		case c == '%':
			j := i + 1
			if j < len(src) && (src[j] == '`' || src[j] == '\'') {
				q := src[j]
				end := strings.IndexByte(src[j+1:], q)
				if end < 0 {
					return nil, fmt.Errorf("unterminated variable name at %d", i)
				}
				toks = append(toks, token{tokVar, src[j+1 : j+1+end], i})
				i = j + end + 2
				continue
			}
			for j < len(src) && (isIdentChar(src[j]) || src[j] == '-') {
				j++
			}
			toks = append(toks, token{tokVar, src[i+1 : j], i})
			i = j
		case c == '$':
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{tokSpecial, src[i:j], i})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{tokIdent, src[i:j], i})
			i = j
		default:
			op := ""
			for _, candidate := range []string{"<=", ">=", "!=", "!~", "=", "~", "<", ">", "+", "-", "*", "/", "|", "&", "(", ")", "[", "]", "{", "}", ".", ","} {
				if strings.HasPrefix(src[i:], candidate) {
					op = candidate
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected character %q at %d", c, i)
			}
			toks = append(toks, token{tokOp, op, i})
			i += len(op)
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(src)}), nil
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || unicode.IsLetter(rune(c)) }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// unescape resolves the escapes of string and delimited-identifier literals.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "\\") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 >= len(s) {
				return "", fmt.Errorf("bad unicode escape")
			}
			var r rune
			if _, err := fmt.Sscanf(s[i+1:i+5], "%04x", &r); err != nil {
				return "", fmt.Errorf("bad unicode escape %q", s[i+1:i+5])
			}
			b.WriteRune(r)
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// node is one node of a parsed expression.
type node interface{}

type (
	literalNode struct{ value Collection }
	// identNode is a member name evaluated against the focus.
	identNode struct{ name string }
	// childNode navigates from target to a member.
	childNode struct {
		target node
		name   string
	}
	callNode struct {
		target node // nil: the function applies to the focus
		name   string
		args   []node
	}
	indexNode struct{ target, index node }
	unaryNode struct {
		op      string
		operand node
	}
	binaryNode struct {
		op          string
		left, right node
	}
	typeNode struct {
		op     string // "is" or "as"
		target node
		typ    typeSpec
	}
	varNode     struct{ name string } // %name
	specialNode struct{ name string } // $this, $index, $total
)

// typeSpec is a qualified type name such as FHIR.Patient or System.String.
type typeSpec struct{ namespace, name string }

func (t typeSpec) String() string {
	if t.namespace == "" {
		return t.name
	}
	return t.namespace + "." + t.name
}

type parser struct {
	toks []token
	pos  int
}

// parse builds the syntax tree of an expression.
func parse(src string) (node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.expression(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("unexpected %q at %d", t.text, t.pos)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) expect(op string) error {
	t := p.next()
	if t.kind != tokOp || t.text != op {
		return fmt.Errorf("expected %q at %d, found %q", op, t.pos, t.text)
	}
	return nil
}

// binaryPrecedence gives the binding power of infix operators (higher binds tighter).
func binaryPrecedence(t token) int {
	if t.kind == tokOp {
		switch t.text {
		case "*", "/":
			return 9
		case "+", "-", "&":
			return 8
		case "|":
			return 6
		case "<", ">", "<=", ">=":
			return 5
		case "=", "~", "!=", "!~":
			return 4
		}
	}
	if t.kind == tokIdent {
		switch t.text {
		case "div", "mod":
			return 9
		case "is", "as":
			return 7
		case "in", "contains":
			return 3
		case "and":
			return 2
		case "or", "xor":
			return 1
		case "implies":
			return 0
		}
	}
	return -1
}

// expression parses operators binding at least minPrec (precedence climbing).
func (p *parser) expression(minPrec int) (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec := binaryPrecedence(t)
		if prec < minPrec || prec < 0 {
			return left, nil
		}
		p.next()
		if t.text == "is" || t.text == "as" {
			ts, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			left = &typeNode{op: t.text, target: left, typ: ts}
			continue
		}
		right, err := p.expression(prec + 1)
		if err != nil {
			return nil, err
		}
		left = &binaryNode{op: t.text, left: left, right: right}
	}
}

func (p *parser) typeSpecifier() (typeSpec, error) {
	first, err := p.identifier()
	if err != nil {
		return typeSpec{}, err
	}
	if t := p.peek(); t.kind == tokOp && t.text == "." {
		p.next()
		second, err := p.identifier()
		if err != nil {
			return typeSpec{}, err
		}
		return typeSpec{namespace: first, name: second}, nil
	}
	return typeSpec{name: first}, nil
}

func (p *parser) identifier() (string, error) {
	t := p.next()
	if t.kind != tokIdent && t.kind != tokDelimitedIdent {
		return "", fmt.Errorf("expected identifier at %d, found %q", t.pos, t.text)
	}
	return t.text, nil
}

func (p *parser) unary() (node, error) {
	if t := p.peek(); t.kind == tokOp && (t.text == "-" || t.text == "+") {
		p.next()
		operand, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{op: t.text, operand: operand}, nil
	}
	return p.postfix()
}

// postfix parses a term followed by member invocations and indexers.
func (p *parser) postfix() (node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tokOp && t.text == ".":
			p.next()
			name, err := p.identifier()
			if err != nil {
				return nil, err
			}
			if nt := p.peek(); nt.kind == tokOp && nt.text == "(" {
				args, err := p.arguments()
				if err != nil {
					return nil, err
				}
				n = &callNode{target: n, name: name, args: args}
			} else {
				n = &childNode{target: n, name: name}
			}
		case t.kind == tokOp && t.text == "[":
			p.next()
			idx, err := p.expression(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			n = &indexNode{target: n, index: idx}
		default:
			return n, nil
		}
	}
}

func (p *parser) arguments() ([]node, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var args []node
	if t := p.peek(); t.kind == tokOp && t.text == ")" {
		p.next()
		return args, nil
	}
	for {
		a, err := p.expression(0)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		t := p.next()
		if t.kind == tokOp && t.text == ")" {
			return args, nil
		}
		if t.kind != tokOp || t.text != "," {
			return nil, fmt.Errorf("expected ',' or ')' at %d", t.pos)
		}
	}
}

var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month", "week": "week", "weeks": "week",
	"day": "day", "days": "day", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
}

func (p *parser) term() (node, error) {
	t := p.next()
	switch t.kind {
	case tokNumber, tokLongNumber:
		return p.number(t)
	case tokString:
		return &literalNode{Collection{{Value: t.text, Type: typeString}}}, nil
	case tokDateTime:
		v, err := parseDateTimeLiteral(t.text)
		if err != nil {
			return nil, fmt.Errorf("bad date/time literal @%s: %w", t.text, err)
		}
		return &literalNode{Collection{{Value: v, Type: v.systemType()}}}, nil
	case tokVar:
		return &varNode{name: t.text}, nil
	case tokSpecial:
		switch t.text {
		case "$this", "$index", "$total":
			return &specialNode{name: t.text}, nil
		}
		return nil, fmt.Errorf("unknown %s at %d", t.text, t.pos)
	case tokIdent, tokDelimitedIdent:
		if t.kind == tokIdent {
			switch t.text {
			case "true", "false":
				return &literalNode{Collection{{Value: t.text == "true", Type: typeBoolean}}}, nil
			}
		}
		if nt := p.peek(); nt.kind == tokOp && nt.text == "(" && t.kind == tokIdent {
			args, err := p.arguments()
			if err != nil {
				return nil, err
			}
			return &callNode{name: t.text, args: args}, nil
		}
		return &identNode{name: t.text}, nil
	case tokOp:
		switch t.text {
		case "(":
			n, err := p.expression(0)
			if err != nil {
				return nil, err
			}
			return n, p.expect(")")
		case "{":
			return &literalNode{}, p.expect("}")
		}
	}
	if t.kind == tokEOF {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	return nil, fmt.Errorf("unexpected %q at %d", t.text, t.pos)
}

// number parses a numeric literal and an optional quantity unit after it.
func (p *parser) number(t token) (node, error) {
	if t.kind == tokLongNumber {
		var v int64
		if _, err := fmt.Sscan(t.text, &v); err != nil {
			return nil, fmt.Errorf("bad integer %s: %w", t.text, err)
		}
		return &literalNode{Collection{{Value: v, Type: typeInteger}}}, nil
	}
	var value any
	var typ string
	if strings.Contains(t.text, ".") {
		d, err := parseDecimal(t.text)
		if err != nil {
			return nil, err
		}
		value, typ = d, typeDecimal
	} else {
		var v int64
		if _, err := fmt.Sscan(t.text, &v); err != nil {
			return nil, fmt.Errorf("bad integer %s: %w", t.text, err)
		}
		value, typ = v, typeInteger
	}
	nt := p.peek()
	unit := ""
	switch {
	case nt.kind == tokString:
		unit = nt.text
	case nt.kind == tokIdent && calendarUnits[nt.text] != "":
		unit = nt.text
	default:
		return &literalNode{Collection{{Value: value, Type: typ}}}, nil
	}
	p.next()
	d, _ := toDecimal(value)
	return &literalNode{Collection{{Value: Quantity{Value: d, Unit: unit}, Type: typeQuantity}}}, nil
}

package fhirpath

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// evaluator holds the state of one evaluation.
type evaluator struct {
	model       *model
	env         map[string]Collection
	resolver    func(string) (any, bool)
	context     *any
	resource    Item       // %resource
	contextItem Collection // %context
	now         time.Time  // fixed at the first now(), today() or timeOfDay()
}

// scope holds the iteration variables of the innermost function argument.
type scope struct {
	this  Collection
	index int
	total Collection
}

// inferType gives a System type to a JSON value whose FHIR type is unknown.
func inferType(v any) string {
	switch v := v.(type) {
	case string:
		return typeString
	case bool:
		return typeBoolean
	case json.Number:
		if strings.ContainsAny(v.String(), ".eE") {
			return typeDecimal
		}
		return typeInteger
	case int64:
		return typeInteger
	case Decimal:
		return typeDecimal
	case DateTime:
		return v.systemType()
	case Quantity:
		return typeQuantity
	}
	return ""
}

// navigate follows member names from each item of the focus: the short
// path for expressions that are plain navigation.
func (ev *evaluator) navigate(focus Collection, path []string) (Collection, error) {
	if len(path) > 0 && len(focus) > 0 && isTypeName(path[0]) && ev.model.element(focus[0].Type, path[0]) == nil {
		focus = ev.ofType(focus, typeSpec{name: path[0]})
		path = path[1:]
	}
	for _, name := range path {
		var next Collection
		for _, it := range focus {
			var err error
			if next, err = ev.child(next, it, name); err != nil {
				return nil, err
			}
		}
		focus = next
		if len(focus) == 0 {
			return nil, nil
		}
	}
	return focus, nil
}

func isTypeName(name string) bool {
	return name != "" && unicode.IsUpper(rune(name[0]))
}

// child appends to out the values of the member name of it. A name no FHIR
// type defines is an error (a typo, or a typed choice name such as
// valueQuantity, which FHIRPath spells value.ofType(Quantity)); a name other
// types define gives nothing, as collections mix types (descendants()).
func (ev *evaluator) child(out Collection, it Item, name string) (Collection, error) {
	m, ok := it.Value.(map[string]any)
	if !ok {
		return out, nil
	}
	el := ev.model.element(it.Type, name)
	if el == nil {
		if ev.model.known(it.Type) {
			if !ev.model.elementNames[name] || ev.jsonKeyElement(it.Type, name) != nil {
				return out, errorf("%s has no element %s", it.Type, name)
			}
			return out, nil
		}
		return appendJSON(out, m[name], m["_"+name], ""), nil
	}
	return ev.elementValues(out, m, el), nil
}

// elementValues appends the values of one element of a JSON object.
func (ev *evaluator) elementValues(out Collection, m map[string]any, el *elementDef) Collection {
	name := el.name
	if !el.choice {
		return appendJSON(out, m[name], m["_"+name], el.types[0])
	}
	for i, t := range el.types {
		key := el.keys[i]
		if v, ok := m[key]; ok {
			return appendJSON(out, v, m["_"+key], t)
		}
		if e, ok := m["_"+key]; ok {
			return appendJSON(out, nil, e, t)
		}
	}
	return out
}

// appendJSON appends a JSON value (single or array), pairing primitives with
// their extension objects.
func appendJSON(out Collection, v, ext any, typ string) Collection {
	if arr, ok := v.([]any); ok {
		out = slices.Grow(out, len(arr))
		exts, _ := ext.([]any)
		for i, x := range arr {
			var e any
			if i < len(exts) {
				e = exts[i]
			}
			out = appendOne(out, x, e, typ)
		}
		return out
	}
	if v == nil {
		if exts, ok := ext.([]any); ok {
			for _, e := range exts {
				out = appendOne(out, nil, e, typ)
			}
			return out
		}
	}
	return appendOne(out, v, ext, typ)
}

func appendOne(out Collection, v, ext any, typ string) Collection {
	e, _ := ext.(map[string]any)
	if v == nil && e == nil {
		return out
	}
	it := itemOf(v, typ)
	it.ext = e
	return append(out, it)
}

// errorf reports an execution error.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (ev *evaluator) eval(n node, focus Collection, sc *scope) (Collection, error) {
	switch n := n.(type) {
	case *literalNode:
		return n.value, nil
	case *identNode:
		return ev.evalIdent(n.name, focus)
	case *childNode:
		target, err := ev.eval(n.target, focus, sc)
		if err != nil {
			return nil, err
		}
		var out Collection
		for _, it := range target {
			if out, err = ev.child(out, it, n.name); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *callNode:
		input := focus
		if n.target != nil {
			var err error
			if input, err = ev.eval(n.target, focus, sc); err != nil {
				return nil, err
			}
		}
		return ev.call(n, input, sc)
	case *indexNode:
		target, err := ev.eval(n.target, focus, sc)
		if err != nil {
			return nil, err
		}
		idx, err := ev.eval(n.index, sc.this, sc)
		if err != nil {
			return nil, err
		}
		i, ok, err := singletonInt(idx)
		if err != nil || !ok {
			return nil, err
		}
		if i < 0 || int(i) >= len(target) {
			return nil, nil
		}
		return target[i : i+1], nil
	case *unaryNode:
		operand, err := ev.eval(n.operand, focus, sc)
		if err != nil {
			return nil, err
		}
		if n.op == "+" {
			return operand, nil
		}
		return negate(operand)
	case *binaryNode:
		return ev.evalBinary(n, focus, sc)
	case *typeNode:
		target, err := ev.eval(n.target, focus, sc)
		if err != nil {
			return nil, err
		}
		return ev.typeOp(n.op, target, n.typ)
	case *varNode:
		return ev.variable(n.name)
	case *specialNode:
		switch n.name {
		case "$this":
			return sc.this, nil
		case "$index":
			return Collection{{Value: int64(sc.index), Type: typeInteger}}, nil
		default:
			return sc.total, nil
		}
	}
	return nil, errorf("unknown node %T", n)
}

// evalIdent navigates a member of the focus, or filters the focus by type
// when the identifier names the type of the context (Patient.name).
func (ev *evaluator) evalIdent(name string, focus Collection) (Collection, error) {
	if isTypeName(name) && len(focus) > 0 && ev.model.element(focus[0].Type, name) == nil {
		return ev.ofType(focus, typeSpec{name: name}), nil
	}
	var out Collection
	for _, it := range focus {
		var err error
		if out, err = ev.child(out, it, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (ev *evaluator) variable(name string) (Collection, error) {
	if v, ok := ev.env[name]; ok {
		return v, nil
	}
	str := func(s string) (Collection, error) { return Collection{{Value: s, Type: typeString}}, nil }
	switch name {
	case "resource", "rootResource":
		if ev.resource.Value == nil {
			return nil, nil
		}
		return Collection{ev.resource}, nil
	case "context":
		return ev.contextItem, nil
	case "ucum":
		return str("http://unitsofmeasure.org")
	case "sct":
		return str("http://snomed.info/sct")
	case "loinc":
		return str("http://loinc.org")
	}
	if rest, ok := strings.CutPrefix(name, "vs-"); ok {
		return str("http://hl7.org/fhir/ValueSet/" + rest)
	}
	if rest, ok := strings.CutPrefix(name, "ext-"); ok {
		return str("http://hl7.org/fhir/StructureDefinition/" + rest)
	}
	return nil, errorf("undefined variable %%%s", name)
}

func (ev *evaluator) evalBinary(n *binaryNode, focus Collection, sc *scope) (Collection, error) {
	left, err := ev.eval(n.left, focus, sc)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "and", "or", "xor", "implies":
		return ev.logical(n, left, focus, sc)
	}
	right, err := ev.eval(n.right, focus, sc)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "|":
		return union(left, right), nil
	case "=", "!=":
		eq, ok := ev.collectionsEqual(left, right)
		if !ok {
			return nil, nil
		}
		return boolean(eq == (n.op == "=")), nil
	case "~", "!~":
		return boolean(ev.collectionsEquivalent(left, right) == (n.op == "~")), nil
	case "<", ">", "<=", ">=":
		return compareOp(n.op, left, right)
	case "in":
		return membership(ev, right, left)
	case "contains":
		return membership(ev, left, right)
	case "&":
		ls, err := singletonString(left)
		if err != nil {
			return nil, err
		}
		rs, err := singletonString(right)
		if err != nil {
			return nil, err
		}
		return Collection{{Value: ls + rs, Type: typeString}}, nil
	}
	return arithmetic(n.op, left, right)
}

// logical implements three-valued and/or/xor/implies; the right operand of
// and/or/implies is evaluated only when needed.
func (ev *evaluator) logical(n *binaryNode, left, focus Collection, sc *scope) (Collection, error) {
	l, err := toBool3(left)
	if err != nil {
		return nil, err
	}
	switch {
	case n.op == "and" && l == bFalse, n.op == "or" && l == bTrue:
		return boolean(l == bTrue), nil
	case n.op == "implies" && l == bFalse:
		return boolean(true), nil
	}
	right, err := ev.eval(n.right, focus, sc)
	if err != nil {
		return nil, err
	}
	r, err := toBool3(right)
	if err != nil {
		return nil, err
	}
	var out bool3
	switch n.op {
	case "and":
		switch {
		case r == bFalse:
			out = bFalse
		case l == bTrue && r == bTrue:
			out = bTrue
		}
	case "or":
		switch {
		case r == bTrue:
			out = bTrue
		case l == bFalse && r == bFalse:
			out = bFalse
		}
	case "xor":
		if l != bUnknown && r != bUnknown {
			out = boolToB3(l != r)
		}
	case "implies":
		switch {
		case r == bTrue:
			out = bTrue
		case l == bTrue:
			out = r
		}
	}
	if out == bUnknown {
		return nil, nil
	}
	return boolean(out == bTrue), nil
}

type bool3 int

const (
	bUnknown bool3 = iota
	bFalse
	bTrue
)

func boolToB3(b bool) bool3 {
	if b {
		return bTrue
	}
	return bFalse
}

// toBool3 applies singleton evaluation for a Boolean operand.
func toBool3(c Collection) (bool3, error) {
	switch len(c) {
	case 0:
		return bUnknown, nil
	case 1:
		if b, ok := systemValue(c[0]).(bool); ok {
			return boolToB3(b), nil
		}
		return bTrue, nil
	}
	return bUnknown, errorf("expected a single boolean, got %d items", len(c))
}

func boolean(b bool) Collection { return Collection{{Value: b, Type: typeBoolean}} }

var errNotSingleton = errors.New("expected a single item")

func singletonInt(c Collection) (int64, bool, error) {
	if len(c) == 0 {
		return 0, false, nil
	}
	if len(c) > 1 {
		return 0, false, errNotSingleton
	}
	switch v := systemValue(c[0]).(type) {
	case int64:
		return v, true, nil
	}
	return 0, false, errorf("expected an integer, got %s", c[0].Type)
}

func singletonString(c Collection) (string, error) {
	if len(c) == 0 {
		return "", nil
	}
	if len(c) > 1 {
		return "", errNotSingleton
	}
	s, ok := systemValue(c[0]).(string)
	if !ok {
		return "", errorf("expected a string, got %s", c[0].Type)
	}
	return s, nil
}

// union merges two collections, removing duplicates.
func union(a, b Collection) Collection {
	var out Collection
	var seen itemSet
	for _, src := range []Collection{a, b} {
		for _, it := range src {
			if seen.add(it) {
				out = append(out, it)
			}
		}
	}
	return out
}

// itemSet tracks distinct items: hashed by value for strings, booleans,
// numbers and dates, compared one by one for the rest.
type itemSet struct {
	keys  map[string]bool
	other Collection
}

// add reports whether it was not in the set yet, and adds it.
func (s *itemSet) add(it Item) bool {
	var key string
	switch v := systemValue(it).(type) {
	case string:
		key = "s" + v
	case bool:
		key = "b" + strconv.FormatBool(v)
	case int64:
		key = "n" + strconv.FormatInt(v, 10)
	case Decimal:
		key = "n" + v.rat().RatString()
	case DateTime:
		key = "d" + v.String()
	default:
		if containsItem(s.other, it) {
			return false
		}
		s.other = append(s.other, it)
		return true
	}
	if s.keys[key] {
		return false
	}
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	s.keys[key] = true
	return true
}

func containsItem(c Collection, it Item) bool {
	for _, x := range c {
		if eq, ok := itemsEqual(x, it); ok && eq {
			return true
		}
	}
	return false
}

func membership(ev *evaluator, container, element Collection) (Collection, error) {
	if len(element) == 0 {
		return nil, nil
	}
	if len(element) > 1 {
		return nil, errNotSingleton
	}
	return boolean(containsItem(container, element[0])), nil
}

func (ev *evaluator) collectionsEqual(a, b Collection) (eq, ok bool) {
	if len(a) == 0 || len(b) == 0 {
		return false, false
	}
	if len(a) != len(b) {
		return false, true
	}
	for i := range a {
		eq, ok := itemsEqual(a[i], b[i])
		if !ok {
			return false, false
		}
		if !eq {
			return false, true
		}
	}
	return true, true
}

func (ev *evaluator) collectionsEquivalent(a, b Collection) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && itemsEquivalent(x, y) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

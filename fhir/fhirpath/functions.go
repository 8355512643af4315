package fhirpath

import (
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// call evaluates a function invocation over its input collection.
func (ev *evaluator) call(n *callNode, input Collection, sc *scope) (Collection, error) {
	if f, ok := lambdaFunctions[n.name]; ok {
		return f(ev, n, input, sc)
	}
	f, ok := plainFunctions[n.name]
	if !ok {
		return nil, errorf("unknown function %s()", n.name)
	}
	if len(n.args) < f.minArgs || len(n.args) > f.maxArgs {
		return nil, errorf("%s() takes %d to %d arguments, got %d", n.name, f.minArgs, f.maxArgs, len(n.args))
	}
	args := make([]Collection, len(n.args))
	for i, a := range n.args {
		v, err := ev.eval(a, sc.this, sc)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return f.fn(ev, input, args)
}

type plainFunction struct {
	minArgs, maxArgs int
	fn               func(ev *evaluator, input Collection, args []Collection) (Collection, error)
}

type lambdaFunction func(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error)

var lambdaFunctions map[string]lambdaFunction

var plainFunctions map[string]plainFunction

func init() {
	lambdaFunctions = map[string]lambdaFunction{
		"where": fnWhere, "select": fnSelect, "all": fnAll, "exists": fnExists, "repeat": fnRepeat,
		"iif": fnIif, "aggregate": fnAggregate, "sort": fnSort, "ofType": fnOfType, "is": fnIs, "as": fnAs,
		"trace": fnTrace,
	}
	plainFunctions = map[string]plainFunction{
		"empty": {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
			return boolean(len(in) == 0), nil
		}},
		"not":      {0, 0, fnNot},
		"count":    {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) { return integer(len(in)), nil }},
		"allTrue":  {0, 0, boolAggregate(true, true)},
		"anyTrue":  {0, 0, boolAggregate(true, false)},
		"allFalse": {0, 0, boolAggregate(false, true)},
		"anyFalse": {0, 0, boolAggregate(false, false)},
		"subsetOf": {1, 1, func(_ *evaluator, in Collection, a []Collection) (Collection, error) {
			return boolean(subset(in, a[0])), nil
		}},
		"supersetOf": {1, 1, func(_ *evaluator, in Collection, a []Collection) (Collection, error) {
			return boolean(subset(a[0], in)), nil
		}},
		"distinct": {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) { return union(in, nil), nil }},
		"isDistinct": {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
			return boolean(len(union(in, nil)) == len(in)), nil
		}},
		"single": {0, 0, fnSingle},
		"first":  {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) { return slice(in, 0, 1), nil }},
		"last": {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
			return slice(in, len(in)-1, len(in)), nil
		}},
		"tail": {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
			return slice(in, 1, len(in)), nil
		}},
		"skip":      {1, 1, fnSkip},
		"take":      {1, 1, fnTake},
		"intersect": {1, 1, fnIntersect},
		"exclude":   {1, 1, fnExclude},
		"union":     {1, 1, func(_ *evaluator, in Collection, a []Collection) (Collection, error) { return union(in, a[0]), nil }},
		"combine": {1, 1, func(_ *evaluator, in Collection, a []Collection) (Collection, error) {
			return append(append(Collection{}, in...), a[0]...), nil
		}},
		"children":           {0, 0, fnChildren},
		"descendants":        {0, 0, fnDescendants},
		"extension":          {1, 1, fnExtension},
		"hasExtension":       {1, 1, fnHasExtension},
		"hasValue":           {0, 0, fnHasValue},
		"getValue":           {0, 0, fnGetValue},
		"resolve":            {0, 0, fnResolve},
		"type":               {0, 0, fnType},
		"memberOf":           {1, 1, fnUnsupported("memberOf")},
		"conformsTo":         {1, 1, fnConformsTo},
		"htmlChecks":         {0, 0, func(_ *evaluator, in Collection, _ []Collection) (Collection, error) { return boolean(true), nil }},
		"today":              {0, 0, fnToday},
		"now":                {0, 0, fnNow},
		"timeOfDay":          {0, 0, fnTimeOfDay},
		"toBoolean":          {0, 0, converter(toBooleanValue)},
		"toInteger":          {0, 0, converter(toIntegerValue)},
		"toDecimal":          {0, 0, converter(toDecimalValue)},
		"toString":           {0, 0, converter(toStringValue)},
		"toDate":             {0, 0, converter(toDateValue(kindDate))},
		"toDateTime":         {0, 0, converter(toDateValue(kindDateTime))},
		"toTime":             {0, 0, converter(toDateValue(kindTime))},
		"toQuantity":         {0, 1, fnToQuantity},
		"convertsToBoolean":  {0, 0, convertsTo(toBooleanValue)},
		"convertsToInteger":  {0, 0, convertsTo(toIntegerValue)},
		"convertsToDecimal":  {0, 0, convertsTo(toDecimalValue)},
		"convertsToString":   {0, 0, convertsTo(toStringValue)},
		"convertsToDate":     {0, 0, convertsTo(toDateValue(kindDate))},
		"convertsToDateTime": {0, 0, convertsTo(toDateValue(kindDateTime))},
		"convertsToTime":     {0, 0, convertsTo(toDateValue(kindTime))},
		"convertsToQuantity": {0, 1, fnConvertsToQuantity},
		"indexOf":            {1, 1, stringFn1(func(s, a string) Collection { return integer(strings.Index(s, a)) })},
		"substring":          {1, 2, fnSubstring},
		"startsWith":         {1, 1, stringFn1(func(s, a string) Collection { return boolean(strings.HasPrefix(s, a)) })},
		"endsWith":           {1, 1, stringFn1(func(s, a string) Collection { return boolean(strings.HasSuffix(s, a)) })},
		"contains":           {1, 1, stringFn1(func(s, a string) Collection { return boolean(strings.Contains(s, a)) })},
		"upper":              {0, 0, stringFn0(func(s string) Collection { return str(strings.ToUpper(s)) })},
		"lower":              {0, 0, stringFn0(func(s string) Collection { return str(strings.ToLower(s)) })},
		"length":             {0, 0, stringFn0(func(s string) Collection { return integer(utf8.RuneCountInString(s)) })},
		"toChars":            {0, 0, stringFn0(toChars)},
		"trim":               {0, 0, stringFn0(func(s string) Collection { return str(strings.TrimSpace(s)) })},
		"replace":            {2, 2, fnReplace},
		"matches":            {1, 1, fnMatches(false)},
		"matchesFull":        {1, 1, fnMatches(true)},
		"replaceMatches":     {2, 2, fnReplaceMatches},
		"split":              {1, 1, stringFn1(splitString)},
		"join":               {0, 1, fnJoin},
		"encode":             {1, 1, stringFn1(encode)},
		"decode":             {1, 1, stringFn1(decode)},
		"escape":             {1, 1, stringFn1(escape)},
		"unescape":           {1, 1, stringFn1(unescapeString)},
		"abs":                {0, 0, fnAbs},
		"ceiling": {0, 0, mathFn(func(d Decimal) Collection {
			return integerDec(d.neg().truncateTo(0, true).neg())
		})},
		"floor":        {0, 0, mathFn(func(d Decimal) Collection { return integerDec(d.truncateTo(0, true)) })},
		"truncate":     {0, 0, mathFn(func(d Decimal) Collection { return integerDec(d.truncateTo(0, false)) })},
		"exp":          {0, 0, floatFn(math.Exp)},
		"ln":           {0, 0, floatFn(math.Log)},
		"sqrt":         {0, 0, floatFn(math.Sqrt)},
		"log":          {1, 1, fnLog},
		"power":        {1, 1, fnPower},
		"round":        {0, 1, fnRound},
		"lowBoundary":  {0, 1, boundary(false)},
		"highBoundary": {0, 1, boundary(true)},
		"precision":    {0, 0, fnPrecision},
		"comparable":   {1, 1, fnComparable},
	}
}

func integer(n int) Collection { return Collection{{Value: int64(n), Type: typeInteger}} }
func str(s string) Collection  { return Collection{{Value: s, Type: typeString}} }

func integerDec(d Decimal) Collection {
	return Collection{{Value: d.rat().Num().Int64(), Type: typeInteger}}
}

func slice(c Collection, from, to int) Collection {
	from, to = max(from, 0), min(to, len(c))
	if from >= to {
		return nil
	}
	return c[from:to]
}

func subset(a, b Collection) bool {
	for _, it := range a {
		if !containsItem(b, it) {
			return false
		}
	}
	return true
}

// singleton returns the only item of a collection, or an error when there are several.
func singleton(c Collection) (Item, bool, error) {
	switch len(c) {
	case 0:
		return Item{}, false, nil
	case 1:
		return c[0], true, nil
	}
	return Item{}, false, errNotSingleton
}

// Functions whose arguments are evaluated per input item (where, select, …).

func (ev *evaluator) eachItem(n *callNode, input Collection, sc *scope, arg int, visit func(i int, it Item, r Collection) (bool, error)) error {
	for i, it := range input {
		sub := &scope{this: Collection{it}, index: i, total: sc.total}
		r, err := ev.eval(n.args[arg], sub.this, sub)
		if err != nil {
			return err
		}
		more, err := visit(i, it, r)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func needArgs(n *callNode, lo, hi int) error {
	if len(n.args) < lo || len(n.args) > hi {
		return errorf("%s() takes %d to %d arguments, got %d", n.name, lo, hi, len(n.args))
	}
	return nil
}

func fnWhere(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 1, 1); err != nil {
		return nil, err
	}
	var out Collection
	err := ev.eachItem(n, input, sc, 0, func(_ int, it Item, r Collection) (bool, error) {
		b, err := toBool3(r)
		if b == bTrue {
			out = append(out, it)
		}
		return true, err
	})
	return out, err
}

func fnSelect(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 1, 1); err != nil {
		return nil, err
	}
	var out Collection
	err := ev.eachItem(n, input, sc, 0, func(_ int, _ Item, r Collection) (bool, error) {
		out = append(out, r...)
		return true, nil
	})
	return out, err
}

func fnAll(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 1, 1); err != nil {
		return nil, err
	}
	all := true
	err := ev.eachItem(n, input, sc, 0, func(_ int, _ Item, r Collection) (bool, error) {
		b, err := toBool3(r)
		if b != bTrue {
			all = false
		}
		return all, err
	})
	return boolean(all), err
}

func fnExists(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 0, 1); err != nil {
		return nil, err
	}
	if len(n.args) == 0 {
		return boolean(len(input) > 0), nil
	}
	found := false
	err := ev.eachItem(n, input, sc, 0, func(_ int, _ Item, r Collection) (bool, error) {
		b, err := toBool3(r)
		found = b == bTrue
		return !found, err
	})
	return boolean(found), err
}

func fnRepeat(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 1, 1); err != nil {
		return nil, err
	}
	var out Collection
	var seen itemSet
	queue := input
	for len(queue) > 0 {
		if len(out) > maxRepeat {
			return nil, errorf("repeat() produced more than %d items", maxRepeat)
		}
		var next Collection
		err := ev.eachItem(n, queue, sc, 0, func(_ int, _ Item, r Collection) (bool, error) {
			for _, x := range r {
				if seen.add(x) {
					out = append(out, x)
					next = append(next, x)
				}
			}
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		queue = next
	}
	return out, nil
}

// maxRepeat bounds repeat(), whose expression may never stop producing new items.
const maxRepeat = 100000

func fnIif(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 2, 3); err != nil {
		return nil, err
	}
	this := sc.this
	if n.target != nil {
		if len(input) > 1 {
			return nil, errNotSingleton
		}
		this = input
	}
	sub := &scope{this: this, index: sc.index, total: sc.total}
	cond, err := ev.eval(n.args[0], this, sub)
	if err != nil {
		return nil, err
	}
	if len(cond) > 1 {
		return nil, errorf("iif() criterion must be a single boolean")
	}
	b, err := toBool3(cond)
	if err != nil {
		return nil, err
	}
	if len(cond) == 1 {
		if _, isBool := systemValue(cond[0]).(bool); !isBool {
			return nil, errorf("iif() criterion must be a boolean")
		}
	}
	if b == bTrue {
		return ev.eval(n.args[1], this, sub)
	}
	if len(n.args) == 3 {
		return ev.eval(n.args[2], this, sub)
	}
	return nil, nil
}

func fnAggregate(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 1, 2); err != nil {
		return nil, err
	}
	var total Collection
	if len(n.args) == 2 {
		var err error
		if total, err = ev.eval(n.args[1], sc.this, sc); err != nil {
			return nil, err
		}
	}
	for i, it := range input {
		sub := &scope{this: Collection{it}, index: i, total: total}
		r, err := ev.eval(n.args[0], sub.this, sub)
		if err != nil {
			return nil, err
		}
		total = r
	}
	return total, nil
}

func fnSort(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	type keyed struct {
		it   Item
		keys []Collection
	}
	rows := make([]keyed, len(input))
	descending := make([]bool, len(n.args))
	for i, it := range input {
		rows[i].it = it
		for j, a := range n.args {
			if u, ok := a.(*unaryNode); ok && u.op == "-" {
				descending[j] = true
				a = u.operand
			}
			sub := &scope{this: Collection{it}, index: i, total: sc.total}
			k, err := ev.eval(a, sub.this, sub)
			if err != nil {
				return nil, err
			}
			rows[i].keys = append(rows[i].keys, k)
		}
	}
	var sortErr error
	order := func(a, b Collection) int {
		if len(a) == 0 || len(b) == 0 {
			return 0
		}
		c, _, err := compareItems(a[0], b[0])
		if err != nil {
			sortErr = err
		}
		return c
	}
	sort.SliceStable(rows, func(x, y int) bool {
		if len(n.args) == 0 {
			return order(Collection{rows[x].it}, Collection{rows[y].it}) < 0
		}
		for j := range n.args {
			kx, ky := rows[x].keys[j], rows[y].keys[j]
			if len(kx) == 0 || len(ky) == 0 { // empty keys sort first, whatever the direction
				if len(kx) != len(ky) {
					return len(kx) == 0
				}
				continue
			}
			c := order(kx, ky)
			if descending[j] {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	out := make(Collection, len(rows))
	for i, r := range rows {
		out[i] = r.it
	}
	return out, sortErr
}

func typeArgOf(n *callNode) (typeSpec, error) {
	if len(n.args) != 1 {
		return typeSpec{}, errorf("%s() takes one type argument", n.name)
	}
	ts, ok := typeArg(n.args[0])
	if !ok {
		return ts, errorf("%s() argument must be a type name", n.name)
	}
	return ts, nil
}

func fnOfType(ev *evaluator, n *callNode, input Collection, _ *scope) (Collection, error) {
	ts, err := typeArgOf(n)
	if err != nil {
		return nil, err
	}
	if err := ev.checkType(ts); err != nil {
		return nil, err
	}
	return ev.ofType(input, ts), nil
}

func fnIs(ev *evaluator, n *callNode, input Collection, _ *scope) (Collection, error) {
	ts, err := typeArgOf(n)
	if err != nil {
		return nil, err
	}
	return ev.typeOp("is", input, ts)
}

func fnAs(ev *evaluator, n *callNode, input Collection, _ *scope) (Collection, error) {
	ts, err := typeArgOf(n)
	if err != nil {
		return nil, err
	}
	return ev.typeOp("as", input, ts)
}

// fnTrace returns its input; tracing output is not collected.
func fnTrace(ev *evaluator, n *callNode, input Collection, sc *scope) (Collection, error) {
	if err := needArgs(n, 1, 2); err != nil {
		return nil, err
	}
	return input, nil
}

func fnNot(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
	b, err := toBool3(in)
	if err != nil || b == bUnknown {
		return nil, err
	}
	return boolean(b == bFalse), nil
}

func boolAggregate(want, all bool) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
		for _, it := range in {
			b, ok := systemValue(it).(bool)
			if !ok {
				return nil, errorf("expected booleans, got %s", it.Type)
			}
			if all && b != want {
				return boolean(false), nil
			}
			if !all && b == want {
				return boolean(true), nil
			}
		}
		return boolean(all), nil
	}
}

func fnSingle(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
	if len(in) > 1 {
		return nil, errNotSingleton
	}
	return in, nil
}

func fnSkip(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	n, ok, err := singletonInt(a[0])
	if err != nil || !ok {
		return nil, err
	}
	return slice(in, int(n), len(in)), nil
}

func fnTake(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	n, ok, err := singletonInt(a[0])
	if err != nil || !ok {
		return nil, err
	}
	return slice(in, 0, int(n)), nil
}

func fnIntersect(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	var out Collection
	for _, it := range in {
		if containsItem(a[0], it) && !containsItem(out, it) {
			out = append(out, it)
		}
	}
	return out, nil
}

func fnExclude(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	var out Collection
	for _, it := range in {
		if !containsItem(a[0], it) {
			out = append(out, it)
		}
	}
	return out, nil
}

// childrenOf returns every direct child of an item, typed through the model,
// in the order of the JSON keys.
func (ev *evaluator) childrenOf(out Collection, it Item) Collection {
	m, ok := it.Value.(map[string]any)
	if !ok {
		return out
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "resourceType" && !strings.HasPrefix(k, "_") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if el := ev.jsonKeyElement(it.Type, k); el != nil {
			out = appendJSON(out, m[k], m["_"+k], el.types[0])
		} else if !ev.model.known(it.Type) {
			out = appendJSON(out, m[k], m["_"+k], "")
		}
	}
	return out
}

// jsonKeyElement finds the element a JSON key holds, with the key's own
// type for choice elements (valueQuantity: value of type Quantity).
func (ev *evaluator) jsonKeyElement(typeName, key string) *elementDef {
	if el := ev.model.element(typeName, key); el != nil && !el.choice {
		return el
	}
	for i := len(key) - 1; i > 0; i-- {
		if key[i] < 'A' || key[i] > 'Z' {
			continue
		}
		el := ev.model.element(typeName, key[:i])
		if el == nil || !el.choice {
			continue
		}
		for _, t := range el.types {
			if strings.EqualFold(t, key[i:]) {
				return &elementDef{name: key, types: []string{t}}
			}
		}
	}
	return nil
}

func fnChildren(ev *evaluator, in Collection, _ []Collection) (Collection, error) {
	var out Collection
	for _, it := range in {
		out = ev.childrenOf(out, it)
	}
	return out, nil
}

func fnDescendants(ev *evaluator, in Collection, _ []Collection) (Collection, error) {
	var out Collection
	queue := in
	for len(queue) > 0 {
		var next Collection
		for _, it := range queue {
			next = ev.childrenOf(next, it)
		}
		out = append(out, next...)
		queue = next
	}
	return out, nil
}

// fnExtension finds extensions by URL, including those of primitives (_field).
func fnExtension(ev *evaluator, in Collection, a []Collection) (Collection, error) {
	url, err := singletonString(a[0])
	if err != nil {
		return nil, err
	}
	var out Collection
	for _, it := range in {
		var exts Collection
		if it.ext != nil {
			exts = appendJSON(nil, it.ext["extension"], nil, "Extension")
		} else {
			var err error
			if exts, err = ev.child(nil, it, "extension"); err != nil {
				return nil, err
			}
		}
		for _, e := range exts {
			if m, ok := e.Value.(map[string]any); ok && m["url"] == url {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// fnHasExtension is the FHIR helper hasExtension(url): extension(url).exists().
func fnHasExtension(ev *evaluator, in Collection, a []Collection) (Collection, error) {
	exts, err := fnExtension(ev, in, a)
	if err != nil {
		return nil, err
	}
	return boolean(len(exts) > 0), nil
}

func fnHasValue(ev *evaluator, in Collection, _ []Collection) (Collection, error) {
	if len(in) != 1 {
		return boolean(false), nil
	}
	_, isMap := in[0].Value.(map[string]any)
	return boolean(in[0].Value != nil && !isMap), nil
}

func fnGetValue(ev *evaluator, in Collection, _ []Collection) (Collection, error) {
	if len(in) != 1 || in[0].Value == nil {
		return nil, nil
	}
	if _, isMap := in[0].Value.(map[string]any); isMap {
		return nil, nil
	}
	return in, nil
}

func fnType(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
	out := make(Collection, len(in))
	for i, it := range in {
		out[i] = typeInfo(it)
	}
	return out, nil
}

func fnUnsupported(name string) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(*evaluator, Collection, []Collection) (Collection, error) {
		return nil, errorf("%s() is not supported", name)
	}
}

// fnConformsTo knows only the core profiles: a resource conforms to the
// StructureDefinition of its own type (and its bases).
func fnConformsTo(ev *evaluator, in Collection, a []Collection) (Collection, error) {
	url, err := singletonString(a[0])
	if err != nil {
		return nil, err
	}
	name, ok := strings.CutPrefix(url, "http://hl7.org/fhir/StructureDefinition/")
	if !ok || !ev.model.known(name) {
		return nil, errorf("conformsTo(): unknown profile %s", url)
	}
	it, ok, err := singleton(in)
	if err != nil || !ok {
		return nil, err
	}
	return boolean(ev.model.isA(it.Type, name)), nil
}

// resolve() finds a referenced resource: contained (#id), an entry of the
// enclosing Bundle, or through the resolver option. A literal reference
// (Type/id, absolute or not) nothing resolves still yields a resource that
// knows only its type and id, so "where(resolve() is Patient)" works
// without a database, as search parameters need on every write.
func fnResolve(ev *evaluator, in Collection, _ []Collection) (Collection, error) {
	var out Collection
	for _, it := range in {
		ref, ok := it.Value.(string)
		if !ok {
			if m, isMap := it.Value.(map[string]any); isMap {
				ref, ok = m["reference"].(string)
			}
		}
		if !ok || ref == "" {
			continue
		}
		if r, found := ev.resolveReference(ref); found {
			out = append(out, itemOf(r, ""))
		}
	}
	return out, nil
}

func (ev *evaluator) resolveReference(ref string) (any, bool) {
	root, _ := ev.resource.Value.(map[string]any)
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		contained, _ := root["contained"].([]any)
		for _, c := range contained {
			if m, ok := c.(map[string]any); ok && m["id"] == id {
				return m, true
			}
		}
		return nil, false
	}
	if root["resourceType"] == "Bundle" {
		entries, _ := root["entry"].([]any)
		for _, e := range entries {
			em, _ := e.(map[string]any)
			res, _ := em["resource"].(map[string]any)
			if res == nil {
				continue
			}
			if full, _ := em["fullUrl"].(string); full == ref {
				return res, true
			}
			if rt, _ := res["resourceType"].(string); rt != "" {
				if id, _ := res["id"].(string); id != "" && (ref == rt+"/"+id || strings.HasSuffix(ref, "/"+rt+"/"+id)) {
					return res, true
				}
			}
		}
	}
	if ev.resolver != nil {
		if r, ok := ev.resolver(ref); ok {
			return r, true
		}
	}
	return referenceStub(ev.model, ref)
}

// referenceStub builds {resourceType, id} from a literal reference such as
// "Patient/123", "http://server/fhir/Patient/123/_history/2".
func referenceStub(m *model, ref string) (map[string]any, bool) {
	parts := strings.Split(ref, "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	n := len(parts)
	if n < 2 || !m.isResource(parts[n-2]) || parts[n-1] == "" {
		return nil, false
	}
	return map[string]any{"resourceType": parts[n-2], "id": parts[n-1]}, true
}

// clock returns the evaluation's time: now() is the same throughout one evaluation.
func (ev *evaluator) clock() time.Time {
	if ev.now.IsZero() {
		ev.now = time.Now()
	}
	return ev.now
}

func fnToday(ev *evaluator, _ Collection, _ []Collection) (Collection, error) {
	d := fromGoTime(ev.clock(), kindDate, precDay, false)
	return Collection{{Value: d, Type: typeDate}}, nil
}

func fnNow(ev *evaluator, _ Collection, _ []Collection) (Collection, error) {
	d := fromGoTime(ev.clock(), kindDateTime, precMillisecond, true)
	return Collection{{Value: d, Type: typeDateTime}}, nil
}

func fnTimeOfDay(ev *evaluator, _ Collection, _ []Collection) (Collection, error) {
	d := fromGoTime(ev.clock(), kindTime, precMillisecond, false)
	return Collection{{Value: d, Type: typeTime}}, nil
}

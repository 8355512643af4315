package fhirpath

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// quantityTypes are the FHIR types whose values are FHIRPath quantities.
var quantityTypes = map[string]bool{
	"Quantity": true, "Age": true, "Duration": true, "Distance": true, "Count": true,
	"SimpleQuantity": true, "MoneyQuantity": true,
}

// systemValue converts an item to its FHIRPath System value (bool, string,
// int64, Decimal, DateTime, Quantity), or returns the JSON map for other
// complex types and nil for a primitive without value.
func systemValue(it Item) any {
	switch v := it.Value.(type) {
	case string:
		switch it.Type {
		case "date", "dateTime", "instant":
			d, err := parseDateTime(v)
			if err != nil {
				return v
			}
			if it.Type != "date" {
				d.kind = kindDateTime
			}
			return d
		case "time":
			d, err := parseTime(v)
			if err != nil {
				return v
			}
			return d
		}
		return v
	case json.Number:
		switch it.Type {
		case "integer", "positiveInt", "unsignedInt", "integer64", typeInteger:
			if n, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
				return n
			}
		}
		if d, err := parseDecimal(v.String()); err == nil {
			return d
		}
		return v.String()
	case map[string]any:
		if quantityTypes[it.Type] {
			if q, ok := quantityOf(v); ok {
				return q
			}
		}
		return v
	}
	return it.Value
}

func quantityOf(m map[string]any) (Quantity, bool) {
	n, ok := m["value"].(json.Number)
	if !ok {
		return Quantity{}, false
	}
	d, err := parseDecimal(n.String())
	if err != nil {
		return Quantity{}, false
	}
	unit, _ := m["code"].(string)
	if unit == "" {
		unit, _ = m["unit"].(string)
	}
	return Quantity{Value: d, Unit: unit}, true
}

// numeric returns the value as a Decimal when it is a number.
func toDecimal(v any) (Decimal, bool) {
	switch v := v.(type) {
	case int64:
		return decimalFromInt(v), true
	case Decimal:
		return v, true
	}
	return Decimal{}, false
}

// itemsEqual implements FHIRPath '=' for single items; ok is false when the
// result is empty (dates of different precision).
func itemsEqual(a, b Item) (eq, ok bool) {
	va, vb := systemValue(a), systemValue(b)
	switch x := va.(type) {
	case string:
		y, isStr := vb.(string)
		return isStr && x == y, true
	case bool:
		y, isBool := vb.(bool)
		return isBool && x == y, true
	case int64, Decimal:
		dx, _ := toDecimal(x)
		dy, isNum := toDecimal(vb)
		if !isNum {
			if q, isQ := vb.(Quantity); isQ && q.Unit == "1" {
				return dx.cmp(q.Value) == 0, true
			}
			return false, true
		}
		return dx.cmp(dy) == 0, true
	case DateTime:
		y, isDT := vb.(DateTime)
		if !isDT || (x.kind == kindTime) != (y.kind == kindTime) {
			return false, true
		}
		c, ok := compareDateTime(x, y)
		return c == 0, ok
	case Quantity:
		y, isQ := vb.(Quantity)
		if !isQ {
			return false, true
		}
		c, ok := compareQuantities(x, y, true)
		return ok && c == 0, ok
	case map[string]any:
		y, isMap := vb.(map[string]any)
		return isMap && reflect.DeepEqual(x, y), true
	case nil:
		return vb == nil, true
	}
	return reflect.DeepEqual(va, vb), true
}

// itemsEquivalent implements FHIRPath '~' for single items.
func itemsEquivalent(a, b Item) bool {
	va, vb := systemValue(a), systemValue(b)
	switch x := va.(type) {
	case string:
		y, ok := vb.(string)
		return ok && normalizeSpace(x) == normalizeSpace(y)
	case int64, Decimal:
		dx, _ := toDecimal(x)
		dy, ok := toDecimal(vb)
		if !ok {
			return false
		}
		prec := min(dx.scale, dy.scale)
		return dx.round(prec).cmp(dy.round(prec)) == 0
	case DateTime:
		y, ok := vb.(DateTime)
		if !ok {
			return false
		}
		c, ok := compareDateTime(x, y)
		return ok && c == 0
	case Quantity:
		y, ok := vb.(Quantity)
		if !ok {
			return false
		}
		c, ok := compareQuantities(x, y, false)
		return ok && c == 0
	case map[string]any:
		y, ok := vb.(map[string]any)
		return ok && reflect.DeepEqual(x, y)
	}
	eq, _ := itemsEqual(a, b)
	return eq
}

func normalizeSpace(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// compareOp implements <, >, <= and >=.
func compareOp(op string, left, right Collection) (Collection, error) {
	if len(left) == 0 || len(right) == 0 {
		return nil, nil
	}
	if len(left) > 1 || len(right) > 1 {
		return nil, errNotSingleton
	}
	c, ok, err := compareItems(left[0], right[0])
	if err != nil || !ok {
		return nil, err
	}
	switch op {
	case "<":
		return boolean(c < 0), nil
	case ">":
		return boolean(c > 0), nil
	case "<=":
		return boolean(c <= 0), nil
	}
	return boolean(c >= 0), nil
}

// compareItems orders two items; ok is false when the answer is unknown.
func compareItems(a, b Item) (c int, ok bool, err error) {
	va, vb := systemValue(a), systemValue(b)
	switch x := va.(type) {
	case string:
		if y, isStr := vb.(string); isStr {
			return strings.Compare(x, y), true, nil
		}
	case int64, Decimal:
		dx, _ := toDecimal(x)
		if dy, isNum := toDecimal(vb); isNum {
			return dx.cmp(dy), true, nil
		}
	case DateTime:
		if y, isDT := vb.(DateTime); isDT {
			c, ok := compareDateTime(x, y)
			return c, ok, nil
		}
	case Quantity:
		if y, isQ := vb.(Quantity); isQ {
			c, ok := compareQuantities(x, y, true)
			if !ok {
				return 0, false, errorf("cannot compare %s with %s", x, y)
			}
			return c, true, nil
		}
	}
	return 0, false, errorf("cannot compare %s with %s", a.Type, b.Type)
}

// unit is a unit's dimension and its factor to the dimension's base unit.
type unit struct {
	dim    string
	factor *big.Rat
}

var calendarToUCUM = map[string]string{
	"year": "a", "years": "a", "month": "mo", "months": "mo", "week": "wk", "weeks": "wk", "day": "d", "days": "d",
	"hour": "h", "hours": "h", "minute": "min", "minutes": "min", "second": "s", "seconds": "s",
	"millisecond": "ms", "milliseconds": "ms",
}

var baseUnits = map[string]unit{
	"g": {"mass", big.NewRat(1, 1)}, "m": {"length", big.NewRat(1, 1)}, "L": {"volume", big.NewRat(1, 1)},
	"l": {"volume", big.NewRat(1, 1)}, "s": {"time", big.NewRat(1, 1)}, "mol": {"amount", big.NewRat(1, 1)},
	"min": {"time", big.NewRat(60, 1)}, "h": {"time", big.NewRat(3600, 1)}, "d": {"time", big.NewRat(86400, 1)},
	"wk": {"time", big.NewRat(604800, 1)}, "mo": {"time", big.NewRat(2629746, 1)}, "a": {"time", big.NewRat(31556952, 1)},
	"[in_i]": {"length", big.NewRat(254, 10000)}, "[ft_i]": {"length", big.NewRat(3048, 10000)},
	"[lb_av]": {"mass", big.NewRat(45359237, 100000)}, "1": {"one", big.NewRat(1, 1)}, "%": {"one", big.NewRat(1, 100)},
	"[s]": {"[s]", big.NewRat(1, 1)},
}

var unitPrefixes = map[string]*big.Rat{
	"k": big.NewRat(1000, 1), "h": big.NewRat(100, 1), "da": big.NewRat(10, 1), "d": big.NewRat(1, 10),
	"c": big.NewRat(1, 100), "m": big.NewRat(1, 1000), "u": big.NewRat(1, 1000000), "n": big.NewRat(1, 1000000000),
}

// lookupUnit resolves a UCUM unit (a base unit with an optional SI prefix)
// or a calendar duration keyword.
func lookupUnit(code string) (unit, bool) {
	if u, ok := calendarToUCUM[code]; ok {
		code = u
	}
	if u, ok := baseUnits[code]; ok {
		return u, true
	}
	for p, f := range unitPrefixes {
		if rest, ok := strings.CutPrefix(code, p); ok {
			if u, ok := baseUnits[rest]; ok && (u.dim == "mass" || u.dim == "length" || u.dim == "volume" || rest == "s" || u.dim == "amount") {
				return unit{u.dim, new(big.Rat).Mul(u.factor, f)}, true
			}
		}
	}
	return unit{}, false
}

// isCalendarVague reports units whose calendar and UCUM forms differ
// (years and months have no fixed length).
func isCalendarVague(code string) bool {
	switch code {
	case "year", "years", "month", "months":
		return true
	}
	return false
}

// compareQuantities orders two quantities, converting units of the same
// dimension; strict equality keeps calendar years/months apart from 'a'/'mo'.
func compareQuantities(a, b Quantity, strict bool) (int, bool) {
	if a.Unit == b.Unit {
		return a.Value.cmp(b.Value), true
	}
	if strict && (isCalendarVague(a.Unit) != isCalendarVague(b.Unit)) {
		return 0, false
	}
	ua, okA := lookupUnit(a.Unit)
	ub, okB := lookupUnit(b.Unit)
	if !okA || !okB || ua.dim != ub.dim {
		return 0, false
	}
	x := new(big.Rat).Mul(a.Value.rat(), ua.factor)
	y := new(big.Rat).Mul(b.Value.rat(), ub.factor)
	if !strict {
		prec := min(a.Value.scale, b.Value.scale)
		return Decimal{r: x}.round(prec).cmp(Decimal{r: y}.round(prec)), true
	}
	return x.Cmp(y), true
}

func negate(c Collection) (Collection, error) {
	if len(c) == 0 {
		return nil, nil
	}
	if len(c) > 1 {
		return nil, errNotSingleton
	}
	switch v := systemValue(c[0]).(type) {
	case int64:
		return Collection{{Value: -v, Type: typeInteger}}, nil
	case Decimal:
		return Collection{{Value: v.neg(), Type: typeDecimal}}, nil
	case Quantity:
		return Collection{{Value: Quantity{Value: v.Value.neg(), Unit: v.Unit}, Type: typeQuantity}}, nil
	}
	return nil, errorf("cannot negate %s", c[0].Type)
}

// arithmetic implements + - * / div mod.
func arithmetic(op string, left, right Collection) (Collection, error) {
	if len(left) == 0 || len(right) == 0 {
		return nil, nil
	}
	if len(left) > 1 || len(right) > 1 {
		return nil, errNotSingleton
	}
	a, b := systemValue(left[0]), systemValue(right[0])
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok && op == "+" {
			return Collection{{Value: x + y, Type: typeString}}, nil
		}
	case int64:
		if y, ok := b.(int64); ok && op != "/" {
			return intArithmetic(op, x, y)
		}
		if y, ok := b.(Decimal); ok {
			return decimalArithmetic(op, decimalFromInt(x), y)
		}
		if y, ok := b.(int64); ok {
			return decimalArithmetic(op, decimalFromInt(x), decimalFromInt(y))
		}
		if y, ok := b.(Quantity); ok && op == "*" {
			return quantityArithmetic(op, Quantity{Value: decimalFromInt(x), Unit: "1"}, y)
		}
	case Decimal:
		if y, ok := toDecimal(b); ok {
			return decimalArithmetic(op, x, y)
		}
		if y, ok := b.(Quantity); ok && op == "*" {
			return quantityArithmetic(op, Quantity{Value: x, Unit: "1"}, y)
		}
	case Quantity:
		if y, ok := b.(Quantity); ok {
			return quantityArithmetic(op, x, y)
		}
		if y, ok := toDecimal(b); ok && (op == "*" || op == "/") {
			return quantityArithmetic(op, x, Quantity{Value: y, Unit: "1"})
		}
	case DateTime:
		if y, ok := b.(Quantity); ok && (op == "+" || op == "-") {
			return dateArithmetic(op, x, y)
		}
	}
	return nil, errorf("cannot apply %s to %s and %s", op, left[0].Type, right[0].Type)
}

func intArithmetic(op string, x, y int64) (Collection, error) {
	var v int64
	switch op {
	case "+":
		v = x + y
	case "-":
		v = x - y
	case "*":
		v = x * y
	case "div", "mod":
		if y == 0 {
			return nil, nil
		}
		if op == "div" {
			v = x / y
		} else {
			v = x % y
		}
	default:
		return nil, errorf("cannot apply %s to integers", op)
	}
	return Collection{{Value: v, Type: typeInteger}}, nil
}

func decimalArithmetic(op string, x, y Decimal) (Collection, error) {
	var v Decimal
	switch op {
	case "+":
		v = x.add(y)
	case "-":
		v = x.sub(y)
	case "*":
		v = x.mul(y)
	case "/", "div", "mod":
		if y.rat().Sign() == 0 {
			return nil, nil
		}
		q := new(big.Rat).Quo(x.rat(), y.rat())
		switch op {
		case "/":
			v = Decimal{r: q, scale: max(x.scale, y.scale)}
			if _, exact := q.FloatPrec(); !exact {
				v = Decimal{r: q}.round(8)
			}
		case "div":
			t := Decimal{r: q}.truncateTo(0, false)
			return Collection{{Value: t.rat().Num().Int64(), Type: typeInteger}}, nil
		default:
			t := Decimal{r: q}.truncateTo(0, false)
			v = x.sub(t.mul(y))
		}
	default:
		return nil, errorf("cannot apply %s to decimals", op)
	}
	return Collection{{Value: v, Type: typeDecimal}}, nil
}

func quantityArithmetic(op string, x, y Quantity) (Collection, error) {
	q := func(v Decimal, u string) (Collection, error) {
		return Collection{{Value: Quantity{Value: v, Unit: u}, Type: typeQuantity}}, nil
	}
	switch op {
	case "+", "-":
		if x.Unit != y.Unit {
			ux, okX := lookupUnit(x.Unit)
			uy, okY := lookupUnit(y.Unit)
			if !okX || !okY || ux.dim != uy.dim {
				return nil, nil
			}
			// Express y in x's unit.
			f := new(big.Rat).Quo(uy.factor, ux.factor)
			y = Quantity{Value: Decimal{r: new(big.Rat).Mul(y.Value.rat(), f), scale: y.Value.scale}, Unit: x.Unit}
		}
		if op == "+" {
			return q(x.Value.add(y.Value), x.Unit)
		}
		return q(x.Value.sub(y.Value), x.Unit)
	case "*":
		if x.Unit != y.Unit {
			// Same dimension: express x in y's unit, so cm × m gives m2.
			if converted, ok := convertQuantity(x, y.Unit); ok && y.Unit != "1" {
				x = converted
			}
		}
		return q(x.Value.mul(y.Value), combineUnits(x.Unit, y.Unit, "."))
	case "/":
		if y.Value.rat().Sign() == 0 {
			return nil, nil
		}
		r, _ := decimalArithmetic("/", x.Value, y.Value)
		return q(r[0].Value.(Decimal), combineUnits(x.Unit, y.Unit, "/"))
	}
	return nil, errorf("cannot apply %s to quantities", op)
}

func combineUnits(a, b, sep string) string {
	switch {
	case b == "1":
		return a
	case a == "1" && sep == ".":
		return b
	case a == b && sep == "/":
		return "1"
	case a == b:
		return a + "2"
	}
	return a + sep + b
}

// dateArithmetic adds or subtracts a time-valued quantity to a date/time.
func dateArithmetic(op string, d DateTime, q Quantity) (Collection, error) {
	u := q.Unit
	if c, ok := calendarToUCUM[u]; ok {
		u = c
	}
	if u == "a" && q.Unit == "a" || u == "mo" && q.Unit == "mo" {
		return nil, errorf("date arithmetic needs calendar durations, not '%s'", q.Unit)
	}
	// Fractions of the unit are dropped, as the specification says.
	n := q.Value.truncateTo(0, false).rat().Num().Int64()
	if op == "-" {
		n = -n
	}
	t := d.goTime()
	switch u {
	case "a":
		t = addMonths(t, int(n)*12)
	case "mo":
		t = addMonths(t, int(n))
	case "wk":
		t = t.AddDate(0, 0, int(n)*7)
	case "d":
		t = t.AddDate(0, 0, int(n))
	case "h":
		t = t.Add(time.Duration(n) * time.Hour)
	case "min":
		t = t.Add(time.Duration(n) * time.Minute)
	case "s":
		t = t.Add(time.Duration(n) * time.Second)
	case "ms":
		t = t.Add(time.Duration(n) * time.Millisecond)
	default:
		return nil, errorf("cannot add %s to a date", q.Unit)
	}
	r := fromGoTime(t, d.kind, d.prec, d.hasTZ)
	return Collection{{Value: r, Type: r.systemType()}}, nil
}

// addMonths adds months, clamping the day to the end of the target month.
func addMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

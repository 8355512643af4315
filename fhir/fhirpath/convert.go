package fhirpath

import (
	"regexp"
	"strconv"
	"strings"
)

// Conversion functions: toX() and convertsToX().

type convertFunc func(v any) (Item, bool)

func converter(f convertFunc) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
		it, ok, err := singleton(in)
		if err != nil || !ok {
			return nil, err
		}
		r, ok := f(systemValue(it))
		if !ok {
			return nil, nil
		}
		return Collection{r}, nil
	}
}

func convertsTo(f convertFunc) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
		it, ok, err := singleton(in)
		if err != nil || !ok {
			return nil, err
		}
		_, ok = f(systemValue(it))
		return boolean(ok), nil
	}
}

func toBooleanValue(v any) (Item, bool) {
	b := func(x bool) (Item, bool) { return Item{Value: x, Type: typeBoolean}, true }
	switch v := v.(type) {
	case bool:
		return b(v)
	case int64:
		if v == 0 || v == 1 {
			return b(v == 1)
		}
	case Decimal:
		if v.cmp(decimalFromInt(0)) == 0 {
			return b(false)
		}
		if v.cmp(decimalFromInt(1)) == 0 {
			return b(true)
		}
	case string:
		switch strings.ToLower(v) {
		case "true", "t", "yes", "y", "1", "1.0":
			return b(true)
		case "false", "f", "no", "n", "0", "0.0":
			return b(false)
		}
	}
	return Item{}, false
}

var integerPattern = regexp.MustCompile(`^[+-]?\d+$`)
var decimalPattern = regexp.MustCompile(`^[+-]?\d+(\.\d+)?$`)

func toIntegerValue(v any) (Item, bool) {
	switch v := v.(type) {
	case int64:
		return Item{Value: v, Type: typeInteger}, true
	case bool:
		if v {
			return Item{Value: int64(1), Type: typeInteger}, true
		}
		return Item{Value: int64(0), Type: typeInteger}, true
	case string:
		if integerPattern.MatchString(v) {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return Item{Value: n, Type: typeInteger}, true
			}
		}
	}
	return Item{}, false
}

func toDecimalValue(v any) (Item, bool) {
	switch v := v.(type) {
	case int64:
		return Item{Value: decimalFromInt(v), Type: typeDecimal}, true
	case Decimal:
		return Item{Value: v, Type: typeDecimal}, true
	case bool:
		n := int64(0)
		if v {
			n = 1
		}
		return Item{Value: Decimal{r: decimalFromInt(n).rat(), scale: 1}, Type: typeDecimal}, true
	case string:
		if decimalPattern.MatchString(v) {
			if d, err := parseDecimal(v); err == nil {
				return Item{Value: d, Type: typeDecimal}, true
			}
		}
	}
	return Item{}, false
}

func toStringValue(v any) (Item, bool) {
	s, ok := formatValue(v)
	if !ok {
		return Item{}, false
	}
	return Item{Value: s, Type: typeString}, true
}

// formatValue renders a System value as toString() does.
func formatValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case Decimal:
		return v.String(), true
	case DateTime:
		return v.String(), true
	case Quantity:
		return v.String(), true
	}
	return "", false
}

func toDateValue(kind dtKind) convertFunc {
	return func(v any) (Item, bool) {
		var d DateTime
		switch v := v.(type) {
		case DateTime:
			d = v
		case string:
			var err error
			if kind == kindTime {
				d, err = parseTime(v)
			} else {
				d, err = parseDateTime(v)
			}
			if err != nil {
				return Item{}, false
			}
		default:
			return Item{}, false
		}
		switch {
		case kind == kindTime && d.kind != kindTime, kind != kindTime && d.kind == kindTime:
			return Item{}, false
		case kind == kindDate:
			d.kind, d.hasTZ = kindDate, false
			d.prec = min(d.prec, precDay)
		case kind == kindDateTime:
			d.kind = kindDateTime
		}
		return Item{Value: d, Type: d.systemType()}, true
	}
}

var quantityPattern = regexp.MustCompile(`^([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?$`)

func toQuantityValue(v any) (Item, bool) {
	q := func(d Decimal, u string) (Item, bool) {
		return Item{Value: Quantity{Value: d, Unit: u}, Type: typeQuantity}, true
	}
	switch v := v.(type) {
	case int64:
		return q(decimalFromInt(v), "1")
	case Decimal:
		return q(v, "1")
	case Quantity:
		return Item{Value: v, Type: typeQuantity}, true
	case bool:
		n := int64(0)
		if v {
			n = 1
		}
		return q(Decimal{r: decimalFromInt(n).rat(), scale: 1}, "1")
	case string:
		m := quantityPattern.FindStringSubmatch(strings.TrimSpace(v))
		if m == nil {
			return Item{}, false
		}
		d, err := parseDecimal(m[1])
		if err != nil {
			return Item{}, false
		}
		switch {
		case m[2] != "":
			return q(d, m[2])
		case m[3] != "":
			if _, ok := calendarUnits[m[3]]; !ok {
				return Item{}, false
			}
			return q(d, m[3])
		}
		return q(d, "1")
	}
	return Item{}, false
}

func fnToQuantity(ev *evaluator, in Collection, a []Collection) (Collection, error) {
	it, ok, err := singleton(in)
	if err != nil || !ok {
		return nil, err
	}
	r, ok := toQuantityValue(systemValue(it))
	if !ok {
		return nil, nil
	}
	if len(a) == 1 {
		target, err := singletonString(a[0])
		if err != nil {
			return nil, err
		}
		converted, ok := convertQuantity(r.Value.(Quantity), target)
		if !ok {
			return nil, nil
		}
		r.Value = converted
	}
	return Collection{r}, nil
}

func fnConvertsToQuantity(ev *evaluator, in Collection, a []Collection) (Collection, error) {
	r, err := fnToQuantity(ev, in, a)
	if err != nil || len(in) == 0 {
		return nil, err
	}
	return boolean(len(r) == 1), nil
}

// convertQuantity expresses q in another unit of the same dimension.
func convertQuantity(q Quantity, target string) (Quantity, bool) {
	if q.Unit == target {
		return q, true
	}
	from, ok1 := lookupUnit(q.Unit)
	to, ok2 := lookupUnit(target)
	if !ok1 || !ok2 || from.dim != to.dim {
		return Quantity{}, false
	}
	r := q.Value.rat()
	r = r.Mul(r, from.factor)
	r = r.Quo(r, to.factor)
	return Quantity{Value: Decimal{r: r, scale: q.Value.scale}, Unit: target}, true
}

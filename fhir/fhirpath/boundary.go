package fhirpath

import (
	"math/big"
	"time"
)

// boundary implements lowBoundary() and highBoundary(): the smallest or
// largest value the input could stand for, given its precision.
func boundary(high bool) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, a []Collection) (Collection, error) {
		it, ok, err := singleton(in)
		if err != nil || !ok {
			return nil, err
		}
		digits, hasDigits := int64(-1), false
		if len(a) == 1 {
			if digits, hasDigits, err = singletonInt(a[0]); err != nil {
				return nil, err
			}
		}
		switch v := systemValue(it).(type) {
		case int64:
			return decimalBoundary(decimalFromInt(v), high, digits, hasDigits, "")
		case Decimal:
			return decimalBoundary(v, high, digits, hasDigits, "")
		case Quantity:
			return decimalBoundary(v.Value, high, digits, hasDigits, v.Unit)
		case DateTime:
			return dateBoundary(v, high, digits, hasDigits)
		}
		return nil, nil
	}
}

func decimalBoundary(d Decimal, high bool, digits int64, hasDigits bool, unit string) (Collection, error) {
	if !hasDigits {
		digits = 8
	}
	if digits < 0 || digits > 28 {
		return nil, nil
	}
	half := new(big.Rat).SetFrac(big.NewInt(5), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.scale+1)), nil))
	r := new(big.Rat).Set(d.rat())
	if high {
		r.Add(r, half)
	} else {
		r.Sub(r, half)
	}
	var out Decimal
	if high {
		out = Decimal{r: r}.neg().truncateTo(int(digits), true).neg()
	} else {
		out = Decimal{r: r}.truncateTo(int(digits), true)
	}
	if unit != "" {
		return Collection{{Value: Quantity{Value: out, Unit: unit}, Type: typeQuantity}}, nil
	}
	return Collection{{Value: out, Type: typeDecimal}}, nil
}

// dateDigits maps precision digits to precision levels.
var dateDigits = map[int64]int{4: precYear, 6: precMonth, 8: precDay, 10: precHour, 12: precMinute, 14: precSecond, 17: precMillisecond}
var timeDigits = map[int64]int{2: precHour, 4: precMinute, 6: precSecond, 9: precMillisecond}

func dateBoundary(d DateTime, high bool, digits int64, hasDigits bool) (Collection, error) {
	table := dateDigits
	if d.kind == kindTime {
		table = timeDigits
	}
	prec := precMillisecond
	if d.kind == kindDate {
		prec = precDay
	}
	if hasDigits {
		p, ok := table[digits]
		if !ok {
			return nil, nil
		}
		prec = p
	}
	if d.prec == precHour && d.kind != kindDate {
		d.prec = precMinute // hh alone is not a valid FHIR time: read it as hh:00
	}
	r := d
	if high {
		if r.prec < precMonth {
			r.month = 12
		}
		if r.prec < precDay {
			r.day = time.Date(r.year, time.Month(r.month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		}
		if r.prec < precHour {
			r.hour = 23
		}
		if r.prec < precMinute {
			r.minute = 59
		}
		if r.prec < precSecond {
			r.second = 59
		}
		if r.prec < precMillisecond {
			r.millisecond = 999
		}
	} else {
		r.month, r.day = max(r.month, 1), max(r.day, 1)
	}
	if d.kind == kindDateTime && !d.hasTZ && prec >= precHour {
		r.hasTZ = true
		r.tzMinutes = 14 * 60
		if high {
			r.tzMinutes = -12 * 60
		}
	}
	r.prec = prec
	if d.kind == kindDate && prec > precDay {
		r.kind = kindDateTime
	}
	return Collection{{Value: r, Type: r.systemType()}}, nil
}

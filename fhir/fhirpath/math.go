package fhirpath

import (
	"math"
	"math/big"
)

// Math functions.

func inputNumber(in Collection) (any, bool, error) {
	it, ok, err := singleton(in)
	if err != nil || !ok {
		return nil, false, err
	}
	v := systemValue(it)
	switch v.(type) {
	case int64, Decimal, Quantity:
		return v, true, nil
	}
	return nil, false, errorf("expected a number, got %s", it.Type)
}

func fnAbs(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
	v, ok, err := inputNumber(in)
	if err != nil || !ok {
		return nil, err
	}
	switch v := v.(type) {
	case int64:
		return Collection{{Value: max(v, -v), Type: typeInteger}}, nil
	case Decimal:
		if v.rat().Sign() < 0 {
			v = v.neg()
		}
		return Collection{{Value: v, Type: typeDecimal}}, nil
	case Quantity:
		if v.Value.rat().Sign() < 0 {
			v.Value = v.Value.neg()
		}
		return Collection{{Value: v, Type: typeQuantity}}, nil
	}
	return nil, nil
}

func mathFn(f func(d Decimal) Collection) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
		v, ok, err := inputNumber(in)
		if err != nil || !ok {
			return nil, err
		}
		d, ok := toDecimal(v)
		if !ok {
			return nil, errorf("expected a number")
		}
		return f(d), nil
	}
}

func floatFn(f func(float64) float64) func(*evaluator, Collection, []Collection) (Collection, error) {
	return mathFn(func(d Decimal) Collection { return floatResult(f(d.float())) })
}

func floatResult(f float64) Collection {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return Collection{{Value: decimalFromFloat(f), Type: typeDecimal}}
}

func fnLog(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	v, ok, err := inputNumber(in)
	if err != nil || !ok {
		return nil, err
	}
	b, ok, err := inputNumber(a[0])
	if err != nil || !ok {
		return nil, err
	}
	x, _ := toDecimal(v)
	base, _ := toDecimal(b)
	return floatResult(math.Log(x.float()) / math.Log(base.float())), nil
}

func fnPower(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	v, ok, err := inputNumber(in)
	if err != nil || !ok {
		return nil, err
	}
	e, ok, err := inputNumber(a[0])
	if err != nil || !ok {
		return nil, err
	}
	bi, baseInt := v.(int64)
	ei, expInt := e.(int64)
	if baseInt && expInt && ei >= 0 {
		if ei > 64 && bi != 0 && bi != 1 && bi != -1 {
			return nil, nil // beyond the Integer range
		}
		r := new(big.Int).Exp(big.NewInt(bi), big.NewInt(ei), nil)
		if !r.IsInt64() {
			return nil, nil
		}
		return Collection{{Value: r.Int64(), Type: typeInteger}}, nil
	}
	x, _ := toDecimal(v)
	y, _ := toDecimal(e)
	return floatResult(math.Pow(x.float(), y.float())), nil
}

func fnRound(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	v, ok, err := inputNumber(in)
	if err != nil || !ok {
		return nil, err
	}
	digits := int64(0)
	if len(a) == 1 {
		if digits, _, err = singletonInt(a[0]); err != nil {
			return nil, err
		}
		if digits < 0 {
			return nil, errorf("round() precision must not be negative")
		}
	}
	d, _ := toDecimal(v)
	return Collection{{Value: d.round(int(digits)), Type: typeDecimal}}, nil
}

func fnPrecision(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
	it, ok, err := singleton(in)
	if err != nil || !ok {
		return nil, err
	}
	switch v := systemValue(it).(type) {
	case Decimal:
		return integer(v.scale), nil
	case int64:
		return integer(0), nil
	case DateTime:
		digits := []int{4, 6, 8, 10, 12, 14, 17}
		if v.kind == kindTime {
			digits = []int{0, 0, 0, 2, 4, 6, 9}
		}
		return integer(digits[v.prec]), nil
	}
	return nil, errorf("precision() needs a number or a date/time")
}

func fnComparable(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	x, ok1, err := singleton(in)
	if err != nil {
		return nil, err
	}
	y, ok2, err := singleton(a[0])
	if err != nil || !ok1 || !ok2 {
		return nil, err
	}
	qx, isQx := systemValue(x).(Quantity)
	qy, isQy := systemValue(y).(Quantity)
	if !isQx || !isQy {
		return nil, errorf("comparable() needs quantities")
	}
	ux, okx := lookupUnit(qx.Unit)
	uy, oky := lookupUnit(qy.Unit)
	return boolean(okx && oky && ux.dim == uy.dim), nil
}

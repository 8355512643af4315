package fhirpath

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// System type names.
const (
	typeBoolean  = "System.Boolean"
	typeString   = "System.String"
	typeInteger  = "System.Integer"
	typeDecimal  = "System.Decimal"
	typeDate     = "System.Date"
	typeDateTime = "System.DateTime"
	typeTime     = "System.Time"
	typeQuantity = "System.Quantity"
)

// Decimal is an exact decimal number that remembers how many digits were
// written after the point, so 1.50 keeps its precision through evaluation.
type Decimal struct {
	r     *big.Rat
	scale int
}

func parseDecimal(s string) (Decimal, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Decimal{}, fmt.Errorf("bad decimal %q", s)
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
		if e := strings.IndexAny(s, "eE"); e >= 0 {
			scale = e - i - 1
		}
	}
	return Decimal{r: r, scale: scale}, nil
}

func decimalFromInt(v int64) Decimal { return Decimal{r: new(big.Rat).SetInt64(v)} }

func (d Decimal) rat() *big.Rat {
	if d.r == nil {
		return new(big.Rat)
	}
	return d.r
}

// String formats the decimal with its scale, or with up to 8 digits when
// the value came from a division that does not terminate.
func (d Decimal) String() string {
	r := d.rat()
	if r.IsInt() && d.scale == 0 {
		return r.Num().String()
	}
	scale := d.scale
	if exact, ok := r.FloatPrec(); ok && exact > scale {
		scale = exact
	} else if !ok && scale < 8 {
		scale = 8
	}
	s := r.FloatString(scale)
	if d.scale < scale && strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
		if d.scale > 0 && !strings.Contains(s, ".") {
			s += "." + strings.Repeat("0", d.scale)
		}
	}
	return s
}

func (d Decimal) cmp(o Decimal) int { return d.rat().Cmp(o.rat()) }

func (d Decimal) isInt() bool { return d.rat().IsInt() }

func (d Decimal) float() float64 { f, _ := d.rat().Float64(); return f }

func decimalFromFloat(f float64) Decimal {
	r := new(big.Rat)
	r.SetFloat64(f)
	d, err := parseDecimal(strconv.FormatFloat(f, 'f', -1, 64))
	if err != nil {
		return Decimal{r: r}
	}
	return d
}

func (d Decimal) add(o Decimal) Decimal {
	return Decimal{r: new(big.Rat).Add(d.rat(), o.rat()), scale: max(d.scale, o.scale)}
}
func (d Decimal) sub(o Decimal) Decimal {
	return Decimal{r: new(big.Rat).Sub(d.rat(), o.rat()), scale: max(d.scale, o.scale)}
}
func (d Decimal) mul(o Decimal) Decimal {
	return Decimal{r: new(big.Rat).Mul(d.rat(), o.rat()), scale: d.scale + o.scale}
}
func (d Decimal) neg() Decimal { return Decimal{r: new(big.Rat).Neg(d.rat()), scale: d.scale} }

// round rounds half away from zero to the given number of digits.
func (d Decimal) round(digits int) Decimal {
	r := d.rat()
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(scale))
	num, den := scaled.Num(), scaled.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return Decimal{r: new(big.Rat).SetFrac(q, scale), scale: digits}
}

// truncateTo drops digits beyond the given count (toward zero, or toward
// -infinity when floor is set).
func (d Decimal) truncateTo(digits int, floor bool) Decimal {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	scaled := new(big.Rat).Mul(d.rat(), new(big.Rat).SetInt(scale))
	q, m := new(big.Int).QuoRem(scaled.Num(), scaled.Denom(), new(big.Int))
	if floor && m.Sign() < 0 {
		q.Sub(q, big.NewInt(1))
	}
	return Decimal{r: new(big.Rat).SetFrac(q, scale), scale: digits}
}

// Quantity is a FHIRPath quantity: a decimal value with a UCUM or calendar unit.
type Quantity struct {
	Value Decimal
	Unit  string
}

func (q Quantity) String() string {
	if _, ok := calendarUnits[q.Unit]; ok {
		return q.Value.String() + " " + q.Unit
	}
	return q.Value.String() + " '" + q.Unit + "'"
}

// dtKind tells a date, a date-time and a time apart.
type dtKind int

const (
	kindDate dtKind = iota
	kindDateTime
	kindTime
)

// Precision levels of dates and times.
const (
	precYear = iota
	precMonth
	precDay
	precHour
	precMinute
	precSecond
	precMillisecond
)

// DateTime is a FHIRPath Date, DateTime or Time with partial precision.
type DateTime struct {
	kind                              dtKind
	prec                              int
	year, month, day                  int
	hour, minute, second, millisecond int
	hasTZ                             bool
	tzMinutes                         int
}

func (d DateTime) systemType() string {
	switch d.kind {
	case kindDate:
		return typeDate
	case kindTime:
		return typeTime
	}
	return typeDateTime
}

// parseDateTimeLiteral parses the text after '@' of a FHIRPath literal.
func parseDateTimeLiteral(s string) (DateTime, error) {
	if strings.HasPrefix(s, "T") {
		t, err := parseTime(s[1:])
		if err == nil && t.hasTZ {
			return t, fmt.Errorf("a time has no time zone")
		}
		return t, err
	}
	d, err := parseDateTime(s)
	if err != nil {
		return d, err
	}
	if !strings.Contains(s, "T") {
		d.kind = kindDate
	}
	return d, nil
}

// parseDateTime parses an ISO 8601 date or date-time with partial precision.
func parseDateTime(s string) (DateTime, error) {
	d := DateTime{kind: kindDateTime}
	datePart, timePart, hasT := strings.Cut(s, "T")
	fields := strings.Split(datePart, "-")
	if len(fields) > 3 || len(fields[0]) != 4 {
		return d, fmt.Errorf("bad date %q", s)
	}
	targets := []*int{&d.year, &d.month, &d.day}
	for i, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil || len(f) != []int{4, 2, 2}[i] {
			return d, fmt.Errorf("bad date %q", s)
		}
		*targets[i] = v
		d.prec = i
	}
	if d.month > 12 || (d.prec >= precMonth && d.month < 1) || d.day > 31 || (d.prec >= precDay && d.day < 1) {
		return d, fmt.Errorf("bad date %q", s)
	}
	if !hasT {
		d.kind = kindDate
		return d, nil
	}
	if timePart == "" {
		return d, nil // "2015T": a date-time of date precision
	}
	if d.prec != precDay {
		return d, fmt.Errorf("bad date-time %q", s)
	}
	t, err := parseTime(timePart)
	if err != nil {
		return d, err
	}
	d.prec, d.hour, d.minute, d.second, d.millisecond = t.prec, t.hour, t.minute, t.second, t.millisecond
	d.hasTZ, d.tzMinutes = t.hasTZ, t.tzMinutes
	return d, nil
}

// parseTime parses hh[:mm[:ss[.fff]]] with an optional zone (zones only in date-times).
func parseTime(s string) (DateTime, error) {
	d := DateTime{kind: kindTime}
	if i := strings.IndexAny(s, "Z+-"); i >= 0 {
		zone := s[i:]
		s = s[:i]
		d.hasTZ = true
		if zone != "Z" {
			if len(zone) != 6 || zone[3] != ':' {
				return d, fmt.Errorf("bad zone %q", zone)
			}
			h, err1 := strconv.Atoi(zone[1:3])
			m, err2 := strconv.Atoi(zone[4:6])
			if err1 != nil || err2 != nil {
				return d, fmt.Errorf("bad zone %q", zone)
			}
			d.tzMinutes = h*60 + m
			if zone[0] == '-' {
				d.tzMinutes = -d.tzMinutes
			}
		}
	}
	main, frac, hasFrac := strings.Cut(s, ".")
	fields := strings.Split(main, ":")
	if len(fields) > 3 {
		return d, fmt.Errorf("bad time %q", s)
	}
	targets := []*int{&d.hour, &d.minute, &d.second}
	for i, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil || len(f) != 2 {
			return d, fmt.Errorf("bad time %q", s)
		}
		*targets[i] = v
		d.prec = precHour + i
	}
	if d.hour > 23 || d.minute > 59 || d.second > 59 {
		return d, fmt.Errorf("bad time %q", s)
	}
	if hasFrac {
		if d.prec != precSecond || frac == "" {
			return d, fmt.Errorf("bad time %q", s)
		}
		for len(frac) < 3 {
			frac += "0"
		}
		ms, err := strconv.Atoi(frac[:3])
		if err != nil {
			return d, fmt.Errorf("bad time %q", s)
		}
		d.millisecond, d.prec = ms, precMillisecond
	}
	return d, nil
}

// String formats the value as FHIR does (without the '@' of literals).
func (d DateTime) String() string {
	var b strings.Builder
	if d.kind != kindTime {
		fmt.Fprintf(&b, "%04d", d.year)
		if d.prec >= precMonth {
			fmt.Fprintf(&b, "-%02d", d.month)
		}
		if d.prec >= precDay {
			fmt.Fprintf(&b, "-%02d", d.day)
		}
		if d.kind == kindDate || d.prec < precHour {
			return b.String()
		}
		b.WriteByte('T')
	}
	fmt.Fprintf(&b, "%02d", d.hour)
	if d.prec >= precMinute {
		fmt.Fprintf(&b, ":%02d", d.minute)
	}
	if d.prec >= precSecond {
		fmt.Fprintf(&b, ":%02d", d.second)
	}
	if d.prec >= precMillisecond {
		fmt.Fprintf(&b, ".%03d", d.millisecond)
	}
	if d.hasTZ && d.kind == kindDateTime {
		if d.tzMinutes == 0 {
			b.WriteString("Z")
		} else {
			sign, m := '+', d.tzMinutes
			if m < 0 {
				sign, m = '-', -m
			}
			fmt.Fprintf(&b, "%c%02d:%02d", sign, m/60, m%60)
		}
	}
	return b.String()
}

// goTime converts to a time.Time, filling missing parts with their minimum
// and a missing zone with UTC.
func (d DateTime) goTime() time.Time {
	month, day := max(d.month, 1), max(d.day, 1)
	year := d.year
	if d.kind == kindTime {
		year, month, day = 0, 1, 1
	}
	loc := time.UTC
	if d.hasTZ {
		loc = time.FixedZone("", d.tzMinutes*60)
	}
	return time.Date(year, time.Month(month), day, d.hour, d.minute, d.second, d.millisecond*1e6, loc)
}

// fromGoTime builds a DateTime of the given kind and precision from t.
func fromGoTime(t time.Time, kind dtKind, prec int, hasTZ bool) DateTime {
	_, off := t.Zone()
	return DateTime{kind: kind, prec: prec, year: t.Year(), month: int(t.Month()), day: t.Day(),
		hour: t.Hour(), minute: t.Minute(), second: t.Second(), millisecond: t.Nanosecond() / 1e6,
		hasTZ: hasTZ, tzMinutes: off / 60}
}

// compareDateTime orders two values; ok is false when their precisions make
// the answer unknown (the FHIRPath result is then empty).
func compareDateTime(a, b DateTime) (c int, ok bool) {
	if (a.kind == kindTime) != (b.kind == kindTime) || a.hasTZ != b.hasTZ && min(a.prec, b.prec) >= precHour {
		return 0, false
	}
	pa, pb := a.prec, b.prec
	// Seconds and milliseconds are one precision for comparisons.
	if pa == precMillisecond {
		pa = precSecond
	}
	if pb == precMillisecond {
		pb = precSecond
	}
	if a.hasTZ || b.hasTZ {
		if pa >= precHour && pb >= precHour {
			ta, tb := a.goTime(), b.goTime()
			if pa == pb {
				return ta.Compare(tb), true
			}
			a = fromGoTime(ta.UTC(), a.kind, a.prec, true)
			b = fromGoTime(tb.UTC(), b.kind, b.prec, true)
		}
	}
	fa := []int{a.year, a.month, a.day, a.hour, a.minute, a.second*1000 + a.millisecond}
	fb := []int{b.year, b.month, b.day, b.hour, b.minute, b.second*1000 + b.millisecond}
	start := 0
	if a.kind == kindTime {
		start = precHour
	}
	for i := start; i <= min(pa, pb); i++ {
		if fa[i] != fb[i] {
			if fa[i] < fb[i] {
				return -1, true
			}
			return 1, true
		}
	}
	if pa != pb {
		return 0, false
	}
	return 0, true
}

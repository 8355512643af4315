package search

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/telehub/telehub/store"
)

// Location's near parameter ("near=lat|long|distance|units") finds the
// locations whose position lies in a bounding box around the point: the
// latitudes within the distance, and the longitudes within the distance
// widened by 1/cos(latitude), as a degree of longitude shrinks towards the
// poles. It is a box, not a circle: a location in a corner of the box, up to
// √2 times the distance away, matches too. The store has no geometry; the
// box is two range clauses on the position's coordinates, indexed under
// "near:latitude" and "near:longitude" as numbers (Low = High = the degree).
const (
	paramNear = "near"
	// SuffixLatitude and SuffixLongitude index Location.position, for near.
	SuffixLatitude  = ":latitude"
	SuffixLongitude = ":longitude"
)

const (
	// earthRadiusKm is the mean radius of the Earth.
	earthRadiusKm = 6371.0088
	// defaultNearKm is the distance when the search gives none, which the
	// specification leaves to the server.
	defaultNearKm = 5.0
)

// nearUnits are the distance units near accepts, in kilometres.
var nearUnits = map[string]float64{"km": 1, "m": 0.001, "[mi_i]": 1.609344}

// isNear reports whether p is Location's near parameter.
func isNear(p *Param) bool { return p.Kind == store.KindSpecial && p.Code == paramNear }

// positionEntries indexes a Location.position's latitude and longitude.
func positionEntries(code string, v Value, out []store.IndexEntry) []store.IndexEntry {
	d, ok := v.Data.(map[string]any)
	if !ok {
		return out
	}
	lat, latOK := degrees(d["latitude"])
	long, longOK := degrees(d["longitude"])
	if !latOK || !longOK || math.Abs(lat) > 90 || math.Abs(long) > 180 {
		return out
	}
	return append(out,
		store.IndexEntry{Param: code + SuffixLatitude, Kind: store.KindNumber, Low: lat, High: lat},
		store.IndexEntry{Param: code + SuffixLongitude, Kind: store.KindNumber, Low: long, High: long})
}

func degrees(d any) (float64, bool) {
	text, ok := numberText(d)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// nearClauses parses "lat|long[|distance[|units]]" into the clauses of its
// bounding box: one on the latitude, one on the longitude (two ranges when
// the box crosses the antimeridian, none when it covers a pole).
func nearClauses(p *Param, modifier, value string) ([]store.Clause, error) {
	if modifier != "" {
		return nil, fmt.Errorf("%s: modifier :%s is not supported", p.Code, modifier)
	}
	if len(splitOr(value)) > 1 {
		return nil, fmt.Errorf("%s: one point only, not a list", p.Code)
	}
	lat, long, km, err := parseNear(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Code, err)
	}
	span := km / earthRadiusKm * 180 / math.Pi
	latLow, latHigh := lat-span, lat+span
	clauses := []store.Clause{{Any: []store.Condition{
		{Param: p.Code + SuffixLatitude, Op: store.OpEq, Low: math.Max(latLow, -90), High: math.Min(latHigh, 90)}}}}
	if latLow <= -90 || latHigh >= 90 {
		return clauses, nil // every longitude is near a pole
	}
	// The widest longitude span is at the box's edge nearest a pole.
	longSpan := span / math.Cos(math.Max(math.Abs(latLow), math.Abs(latHigh))*math.Pi/180)
	if longSpan >= 180 {
		return clauses, nil
	}
	longitude := func(low, high float64) store.Condition {
		return store.Condition{Param: p.Code + SuffixLongitude, Op: store.OpEq, Low: low, High: high}
	}
	var around store.Clause
	switch low, high := long-longSpan, long+longSpan; {
	case low < -180:
		around.Any = []store.Condition{longitude(-180, high), longitude(low+360, 180)}
	case high > 180:
		around.Any = []store.Condition{longitude(low, 180), longitude(-180, high-360)}
	default:
		around.Any = []store.Condition{longitude(low, high)}
	}
	return append(clauses, around), nil
}

// parseNear parses "lat|long[|distance[|units]]", the distance in km.
func parseNear(value string) (lat, long, km float64, err error) {
	parts := strings.Split(value, "|")
	if len(parts) < 2 || len(parts) > 4 {
		return 0, 0, 0, fmt.Errorf("%q is not latitude|longitude|distance|units", value)
	}
	lat, err1 := strconv.ParseFloat(parts[0], 64)
	long, err2 := strconv.ParseFloat(parts[1], 64)
	if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(long) || math.Abs(lat) > 90 || math.Abs(long) > 180 {
		return 0, 0, 0, fmt.Errorf("%q: invalid latitude or longitude", value)
	}
	km = defaultNearKm
	if len(parts) >= 3 && parts[2] != "" {
		d, err := strconv.ParseFloat(parts[2], 64)
		if err != nil || !(d >= 0) || math.IsInf(d, 0) {
			return 0, 0, 0, fmt.Errorf("%q: invalid distance %q", value, parts[2])
		}
		unit := "km"
		if len(parts) == 4 && parts[3] != "" {
			unit = parts[3]
		}
		scale, ok := nearUnits[unit]
		if !ok {
			return 0, 0, 0, fmt.Errorf("%q: unit %q is not km, m or [mi_i]", value, unit)
		}
		km = d * scale
	}
	return lat, long, km, nil
}

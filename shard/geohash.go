package shard

import "math"

// Geohash math for the geo commands, computed the way Redis 7.0 computes
// it so that scores, positions and distances agree to the last digit.
//
// A point is stored as a sorted set score: the 52-bit interleaving of its
// latitude (even bits) and longitude (odd bits), each quantised to 26 bits
// over Redis's ranges (latitude is limited to the Web Mercator band). Every
// float expression here is written in the order C evaluates it, and sums of
// products are wrapped in float64() so that Go never fuses them into a
// multiply-add that C would not do.

const (
	geoStepMax = 26 // 26 bits per coordinate, 52 in all

	geoLatMin  = -85.05112878
	geoLatMax  = 85.05112878
	geoLongMin = -180
	geoLongMax = 180
)

// geoFloats are the constants of the distance math, as float64 values
// computed at run time (a Go constant expression would be evaluated
// exactly and rounded once, which can differ from C's double arithmetic).
var (
	geoPi          = math.Pi
	geoDR          = geoPi / 180.0 // degrees to radians
	geoEarthRadius = 6372797.560856
	geoMercatorMax = 20037726.37
)

func geoDegRad(deg float64) float64 { return deg * geoDR }
func geoRadDeg(rad float64) float64 { return rad / geoDR }

// geoBits is a geohash of step bits per coordinate.
type geoBits struct {
	bits uint64
	step uint8
}

func (h geoBits) isZero() bool { return h.bits == 0 && h.step == 0 }

type geoRange struct{ min, max float64 }

// geoArea is the cell a hash names.
type geoArea struct {
	lon, lat geoRange
}

// The ranges the geo commands index with, and the standard ones GEOHASH
// re-encodes with.
var (
	geoLongRange = geoRange{geoLongMin, geoLongMax}
	geoLatRange  = geoRange{geoLatMin, geoLatMax}
	geoStdLat    = geoRange{-90, 90}
)

// geoInterleave spreads the low 32 bits of x over the even bits and those
// of y over the odd bits.
func geoInterleave(x, y uint32) uint64 {
	return geoSpread(x) | geoSpread(y)<<1
}

func geoSpread(v uint32) uint64 {
	x := uint64(v)
	x = (x | x<<16) & 0x0000FFFF0000FFFF
	x = (x | x<<8) & 0x00FF00FF00FF00FF
	x = (x | x<<4) & 0x0F0F0F0F0F0F0F0F
	x = (x | x<<2) & 0x3333333333333333
	x = (x | x<<1) & 0x5555555555555555
	return x
}

// geoSqueeze gathers the even bits of v into the low 32 bits.
func geoSqueeze(v uint64) uint32 {
	x := v & 0x5555555555555555
	x = (x | x>>1) & 0x3333333333333333
	x = (x | x>>2) & 0x0F0F0F0F0F0F0F0F
	x = (x | x>>4) & 0x00FF00FF00FF00FF
	x = (x | x>>8) & 0x0000FFFF0000FFFF
	x = (x | x>>16) & 0x00000000FFFFFFFF
	return uint32(x)
}

// geoEncode hashes a point with step bits per coordinate over the given
// ranges. ok is false outside the indexable area.
func geoEncode(lonR, latR geoRange, lon, lat float64, step uint8) (geoBits, bool) {
	if step > 32 || step == 0 || (latR.min == 0 && latR.max == 0) || (lonR.min == 0 && lonR.max == 0) {
		return geoBits{}, false
	}
	if lon > geoLongMax || lon < geoLongMin || lat > geoLatMax || lat < geoLatMin {
		return geoBits{}, false
	}
	if lat < latR.min || lat > latR.max || lon < lonR.min || lon > lonR.max {
		return geoBits{step: step}, false
	}
	latOff := (lat - latR.min) / (latR.max - latR.min)
	lonOff := (lon - lonR.min) / (lonR.max - lonR.min)
	scale := float64(uint64(1) << step)
	latOff *= scale
	lonOff *= scale
	return geoBits{bits: geoInterleave(uint32(latOff), uint32(lonOff)), step: step}, true
}

// geoDecode returns the cell of a hash; ok is false for the zero hash.
func geoDecode(lonR, latR geoRange, h geoBits) (a geoArea, ok bool) {
	if h.isZero() || (latR.min == 0 && latR.max == 0) || (lonR.min == 0 && lonR.max == 0) {
		return a, false
	}
	ilat := geoSqueeze(h.bits)
	ilon := geoSqueeze(h.bits >> 1)
	latScale := latR.max - latR.min
	lonScale := lonR.max - lonR.min
	div := float64(uint64(1) << h.step)
	a.lat.min = latR.min + float64(float64(ilat)/div*latScale)
	a.lat.max = latR.min + float64(float64(ilat+1)/div*latScale)
	a.lon.min = lonR.min + float64(float64(ilon)/div*lonScale)
	a.lon.max = lonR.min + float64(float64(ilon+1)/div*lonScale)
	return a, true
}

// center returns the middle of a cell, clamped to the indexable area.
func (a *geoArea) center() (lon, lat float64) {
	lon = (a.lon.min + a.lon.max) / 2
	lon = min(max(lon, geoLongMin), geoLongMax)
	lat = (a.lat.min + a.lat.max) / 2
	lat = min(max(lat, geoLatMin), geoLatMax)
	return lon, lat
}

// geoScoreToBits converts a sorted set score to an integer the way C's
// (uint64_t) cast does on x86-64, whatever the score is.
func geoScoreToBits(score float64) uint64 {
	const two63 = 9223372036854775808.0
	switch {
	case score != score: // NaN
		return 1 << 63
	case score < two63:
		if score <= -two63 {
			return 1 << 63
		}
		return uint64(int64(score))
	case score < 2*two63:
		return uint64(int64(score-two63)) ^ (1 << 63)
	}
	return 0
}

// geoDecodeScore returns the position a sorted set score stands for.
func geoDecodeScore(score float64) (lon, lat float64) {
	a, _ := geoDecode(geoLongRange, geoLatRange, geoBits{bits: geoScoreToBits(score), step: geoStepMax})
	return a.center()
}

// geoEncodeScore returns the score of a valid position.
func geoEncodeScore(lon, lat float64) uint64 {
	h, _ := geoEncode(geoLongRange, geoLatRange, lon, lat, geoStepMax)
	return geoAlign52(h)
}

// geoAlign52 shifts a hash to the 52-bit score scale.
func geoAlign52(h geoBits) uint64 { return h.bits << (52 - uint(h.step)*2) }

// geoHashString is GEOHASH's 11-character standard geohash of a score:
// the position re-encoded over latitudes -90..90, base32, the 11th
// character always '0'.
func geoHashString(score float64, dst []byte) []byte {
	const alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
	lon, lat := geoDecodeScore(score)
	h, _ := geoEncode(geoLongRange, geoStdLat, lon, lat, geoStepMax)
	for i := 0; i < 10; i++ {
		dst = append(dst, alphabet[(h.bits>>(52-(i+1)*5))&0x1f])
	}
	return append(dst, '0')
}

// geoMoveX moves a hash one cell east (d > 0) or west.
func geoMoveX(h *geoBits, d int) { geoMove(h, d, 0xaaaaaaaaaaaaaaaa) }

// geoMoveY moves a hash one cell north (d > 0) or south.
func geoMoveY(h *geoBits, d int) { geoMove(h, d, 0x5555555555555555) }

// geoMove steps the interleaved coordinate whose bits are in mask (the
// odd bits hold longitude, the even ones latitude) by one cell, leaving
// the other coordinate as it is.
func geoMove(h *geoBits, d int, mask uint64) {
	if d == 0 {
		return
	}
	v := h.bits & mask
	rest := h.bits &^ mask
	zz := ^mask >> (64 - uint(h.step)*2)
	if d > 0 {
		v += zz + 1
	} else {
		v |= zz
		v -= zz + 1
	}
	v &= mask >> (64 - uint(h.step)*2)
	h.bits = v | rest
}

// Neighbour indexes, in the order Redis searches them.
const (
	geoN = 1 + iota
	geoS
	geoE
	geoW
	geoNE
	geoNW
	geoSE
	geoSW
)

// geoNeighbours returns the cell and its 8 neighbours, in search order.
func geoNeighbours(h geoBits) [9]geoBits {
	var n [9]geoBits
	for i := range n {
		n[i] = h
	}
	moves := [9][2]int{{0, 0}, {0, 1}, {0, -1}, {1, 0}, {-1, 0}, {1, 1}, {-1, 1}, {1, -1}, {-1, -1}}
	for i := 1; i < 9; i++ {
		geoMoveX(&n[i], moves[i][0])
		geoMoveY(&n[i], moves[i][1])
	}
	return n
}

// geoStepsForRadius estimates the hash precision whose cells cover a
// search of the given radius at a latitude.
func geoStepsForRadius(meters, lat float64) int {
	if meters == 0 {
		return 26
	}
	step := 1
	for meters < geoMercatorMax {
		meters *= 2
		step++
	}
	step -= 2
	if lat > 66 || lat < -66 {
		step--
		if lat > 80 || lat < -80 {
			step--
		}
	}
	return min(max(step, 1), 26)
}

// geoShape is a search area: a circle (radius) or a box (width, height),
// in the unit whose size in meters is conv, centred at lon, lat.
type geoShape struct {
	box                   bool
	lon, lat              float64
	radius, width, height float64
	conv                  float64
}

// bounds returns the shape's bounding box: min lon, min lat, max lon,
// max lat.
func (s *geoShape) bounds() [4]float64 {
	var hh, hw float64
	if s.box {
		hh, hw = s.conv*(s.height/2), s.conv*(s.width/2)
	} else {
		hh, hw = s.conv*s.radius, s.conv*s.radius
	}
	latDelta := geoRadDeg(hh / geoEarthRadius)
	top := geoRadDeg(hw / geoEarthRadius / geoCos(geoDegRad(s.lat+latDelta)))
	bottom := geoRadDeg(hw / geoEarthRadius / geoCos(geoDegRad(s.lat-latDelta)))
	var b [4]float64
	if s.lat < 0 {
		b[0], b[2] = s.lon-bottom, s.lon+bottom
	} else {
		b[0], b[2] = s.lon-top, s.lon+top
	}
	b[1], b[3] = s.lat-latDelta, s.lat+latDelta
	return b
}

// geoSearchCells returns the cells to scan for a shape: the centre cell
// and its neighbours, with those that cannot hold a match zeroed.
func geoSearchCells(s *geoShape) [9]geoBits {
	b := s.bounds()
	minLon, minLat, maxLon, maxLat := b[0], b[1], b[2], b[3]
	var meters float64
	if s.box {
		meters = math.Sqrt(float64(s.width/2*(s.width/2)) + float64(s.height/2*(s.height/2)))
	} else {
		meters = s.radius
	}
	meters *= s.conv
	steps := geoStepsForRadius(meters, s.lat)
	h, _ := geoEncode(geoLongRange, geoLatRange, s.lon, s.lat, uint8(steps))
	n := geoNeighbours(h)
	area, _ := geoDecode(geoLongRange, geoLatRange, h)

	// A step can be too coarse near the edge of its cell: one neighbour
	// on the far side may not reach the edge of the search area.
	north, _ := geoDecode(geoLongRange, geoLatRange, n[geoN])
	south, _ := geoDecode(geoLongRange, geoLatRange, n[geoS])
	east, _ := geoDecode(geoLongRange, geoLatRange, n[geoE])
	west, _ := geoDecode(geoLongRange, geoLatRange, n[geoW])
	decrease := north.lat.max < maxLat || south.lat.min > minLat ||
		east.lon.max < maxLon || west.lon.min > minLon
	if steps > 1 && decrease {
		steps--
		h, _ = geoEncode(geoLongRange, geoLatRange, s.lon, s.lat, uint8(steps))
		n = geoNeighbours(h)
		area, _ = geoDecode(geoLongRange, geoLatRange, h)
	}
	if steps >= 2 {
		if area.lat.min < minLat {
			n[geoS], n[geoSW], n[geoSE] = geoBits{}, geoBits{}, geoBits{}
		}
		if area.lat.max > maxLat {
			n[geoN], n[geoNE], n[geoNW] = geoBits{}, geoBits{}, geoBits{}
		}
		if area.lon.min < minLon {
			n[geoW], n[geoSW], n[geoNW] = geoBits{}, geoBits{}, geoBits{}
		}
		if area.lon.max > maxLon {
			n[geoE], n[geoSE], n[geoNE] = geoBits{}, geoBits{}, geoBits{}
		}
	}
	return n
}

// geoLatDistance is the distance between two latitudes on a meridian.
func geoLatDistance(lat1, lat2 float64) float64 {
	return geoEarthRadius * math.Abs(geoDegRad(lat2)-geoDegRad(lat1))
}

// geoDistance is the haversine distance in meters between two points.
func geoDistance(lon1, lat1, lon2, lat2 float64) float64 {
	return geoDistanceRad(geoDegRad(lon1), geoDegRad(lat1), geoDegRad(lon2), geoDegRad(lat2), math.NaN(), math.NaN())
}

// geoDistanceRad is geoDistance of points in radians; cos1 and cos2 are
// the cosines of their latitudes when known (else NaN).
func geoDistanceRad(lon1r, lat1r, lon2r, lat2r, cos1, cos2 float64) float64 {
	v := geoSin((lon2r - lon1r) / 2)
	if v == 0 {
		return geoEarthRadius * math.Abs(lat2r-lat1r)
	}
	u := geoSin((lat2r - lat1r) / 2)
	if cos1 != cos1 {
		cos1 = geoCos(lat1r)
	}
	if cos2 != cos2 {
		cos2 = geoCos(lat2r)
	}
	a := float64(u*u) + float64(cos1*cos2*v*v)
	return 2.0 * geoEarthRadius * geoAsin(math.Sqrt(a))
}

// The exact distance costs about a microsecond, so a search first
// rejects the points that are clearly outside its shape by comparing the
// haversine term a = sin²(Δlat/2) + cos lat1 cos lat2 sin²(Δlon/2),
// computed with Go's math functions, to the a of the limit. A margin of
// 1e-8 (relative) is far above the few ulps of error on either side.
type geoFilter struct {
	lon1r, lat1r, cos1 float64
	cos1Exact          float64 // correctly rounded
	// Haversine terms of the radius (circle) or half width (box), with
	// the margin above (hi) and below (lo); hi is +Inf and lo -Inf when
	// there is no such limit or it is too large to decide fast.
	radiusHi, radiusLo float64
	widthHi, widthLo   float64
}

// geoHaversineLimits returns the haversine a of a distance, with the
// margin above and below.
func geoHaversineLimits(meters float64) (hi, lo float64) {
	theta := meters / (2 * geoEarthRadius)
	if !(theta < 1.5) { // near π/2 and beyond a stops growing
		return math.Inf(1), math.Inf(-1)
	}
	sn := math.Sin(theta)
	return sn*sn*(1+1e-8) + 1e-300, sn*sn*(1-1e-8) - 1e-300
}

// filter prepares the fast classification of points.
func (s *geoShape) filter() geoFilter {
	f := geoFilter{lon1r: geoDegRad(s.lon), lat1r: geoDegRad(s.lat)}
	f.cos1 = math.Cos(f.lat1r)
	f.cos1Exact = geoCos(f.lat1r)
	f.radiusHi, f.radiusLo = math.Inf(1), math.Inf(1)
	f.widthHi, f.widthLo = math.Inf(1), math.Inf(1)
	if s.box {
		f.widthHi, f.widthLo = geoHaversineLimits(s.width * s.conv / 2)
	} else {
		f.radiusHi, f.radiusLo = geoHaversineLimits(s.radius * s.conv)
	}
	return f
}

// classify tells a point certainly outside the shape (-1) from one
// certainly within its radius or east-west extent (1, which for a box
// still leaves the latitude to check) and an undecided one (0).
func (f *geoFilter) classify(lon, lat float64) int {
	v := math.Sin((geoDegRad(lon) - f.lon1r) / 2)
	lat2r := geoDegRad(lat)
	c2 := math.Cos(lat2r)
	w := c2 * c2 * v * v // the box's east-west extent at lat
	if w > f.widthHi {
		return -1
	}
	u := math.Sin((lat2r - f.lat1r) / 2)
	a := u*u + f.cos1*c2*v*v
	if a > f.radiusHi {
		return -1
	}
	if w < f.widthLo && a < f.radiusLo {
		return 1
	}
	return 0
}

// latInside is the exact latitude test of a box (true for a circle).
func (s *geoShape) latInside(lat float64) bool {
	return !s.box || geoLatDistance(lat, s.lat) <= s.height*s.conv/2
}

// within reports whether a point is inside the shape, and its distance
// in meters from the centre, computed exactly as Redis does. f holds the
// exact cosine of the centre's latitude.
func (s *geoShape) within(f *geoFilter, lon, lat float64) (float64, bool) {
	lon1r, lat1r := geoDegRad(s.lon), f.lat1r
	lon2r, lat2r := geoDegRad(lon), geoDegRad(lat)
	if !s.box {
		d := geoDistanceRad(lon1r, lat1r, lon2r, lat2r, f.cos1Exact, math.NaN())
		return d, d <= s.radius*s.conv
	}
	w, h := s.width*s.conv, s.height*s.conv
	if geoLatDistance(lat, s.lat) > h/2 {
		return 0, false
	}
	cos2 := geoCos(lat2r)
	if geoDistanceRad(lon2r, lat2r, lon1r, lat2r, cos2, cos2) > w/2 {
		return 0, false
	}
	return geoDistanceRad(lon1r, lat1r, lon2r, lat2r, f.cos1Exact, cos2), true
}

// Correctly rounded sin, cos and asin. Go's math package is accurate to
// about one ulp; glibc, which Redis links, rounds these correctly in all
// but vanishingly rare cases, and a one-ulp difference shows in the
// 17-digit scores GEOSEARCHSTORE STOREDIST writes. So the geo math
// evaluates them in double-double arithmetic (about 106 bits) and rounds
// once.

// dd is an unevaluated sum hi+lo with |lo| <= ulp(hi)/2.
type dd struct{ hi, lo float64 }

func ddTwoSum(a, b float64) dd {
	s := a + b
	bb := s - a
	return dd{s, (a - (s - bb)) + (b - bb)}
}

func ddFast(a, b float64) dd {
	s := a + b
	return dd{s, b - (s - a)}
}

func ddAdd(a, b dd) dd {
	s := ddTwoSum(a.hi, b.hi)
	t := ddTwoSum(a.lo, b.lo)
	s.lo += t.hi
	s = ddFast(s.hi, s.lo)
	s.lo += t.lo
	return ddFast(s.hi, s.lo)
}

// ddAddQuick adds two values whose sum does not cancel much (the terms
// of a Horner step): one error-free sum fewer than ddAdd.
func ddAddQuick(a, b dd) dd {
	s := ddTwoSum(a.hi, b.hi)
	s.lo += a.lo + b.lo
	return ddFast(s.hi, s.lo)
}

func ddMul(a, b dd) dd {
	p := a.hi * b.hi
	e := math.FMA(a.hi, b.hi, -p)
	e += a.hi*b.lo + a.lo*b.hi
	return ddFast(p, e)
}

func ddMulF(a dd, b float64) dd {
	p := a.hi * b
	e := math.FMA(a.hi, b, -p)
	e += a.lo * b
	return ddFast(p, e)
}

func ddDivF(a dd, b float64) dd {
	q := a.hi / b
	p := q * b
	e := math.FMA(q, b, -p)
	r := (a.hi - p - e + a.lo) / b
	return ddFast(q, r)
}

// ddTerms Taylor terms reach 1e-24 of the result for |r| <= π/4; the
// first ddHead are summed in double-double, the smaller rest in float64
// (their rounding errors stay below 1e-22 of the result).
const (
	ddTerms = 12
	ddHead  = 4
)

// ddSinCoef[k] is (-1)^k/(2k+1)!, ddCosCoef[k] is (-1)^k/(2k)!.
var ddSinCoef, ddCosCoef = func() (s, c [ddTerms]dd) {
	f := dd{1, 0} // 1/n!
	for n := 0; n < 2*ddTerms; n++ {
		k := n / 2
		v := f
		if k%2 == 1 {
			v = dd{-f.hi, -f.lo}
		}
		if n%2 == 0 {
			c[k] = v
		} else {
			s[k] = v
		}
		f = ddDivF(f, float64(n+1))
	}
	return s, c
}()

// ddSeries sums coef[k]*r2^k.
func ddSeries(coef *[ddTerms]dd, r2 dd) dd {
	t := coef[ddTerms-1].hi
	for k := ddTerms - 2; k >= ddHead; k-- {
		t = t*r2.hi + coef[k].hi
	}
	p := ddAddQuick(ddMulF(r2, t), coef[ddHead-1])
	for k := ddHead - 2; k >= 0; k-- {
		p = ddAddQuick(ddMul(p, r2), coef[k])
	}
	return p
}

// π/2 in three 33-bit pieces, so that k times each is exact for small k.
const (
	ddPio2a = 1.57079632673412561417e+00
	ddPio2b = 6.07710050630396597660e-11
	ddPio2c = 2.02226624871116645580e-21
	ddPio2d = 8.47842766036889956997e-32
)

// ddReduce returns x - k*π/2 in double-double, and k mod 4.
func ddReduce(x float64) (dd, int) {
	k := math.RoundToEven(x / (math.Pi / 2))
	if k == 0 {
		return dd{x, 0}, 0
	}
	r := ddTwoSum(x-k*ddPio2a, -k*ddPio2b) // x - k*a is exact for |k| small
	r = ddAdd(r, dd{-k * ddPio2c, 0})
	r = ddAdd(r, dd{-k * ddPio2d, 0})
	return r, int(k) & 3
}

// ddSin returns sin x (cos x when cos is set) in double-double.
func ddSin(x float64, cos bool) dd {
	r, q := ddReduce(x)
	if cos {
		q++ // cos x = sin(x + π/2)
	}
	r2 := ddMul(r, r)
	var v dd
	if q&1 == 0 {
		v = ddMul(ddSeries(&ddSinCoef, r2), r)
	} else {
		v = ddSeries(&ddCosCoef, r2)
	}
	if q&2 != 0 {
		v = dd{-v.hi, -v.lo}
	}
	return v
}

// geoSin is sin x, correctly rounded for |x| up to a few π.
func geoSin(x float64) float64 {
	if x == 0 || math.Abs(x) > 8 || x != x {
		return math.Sin(x)
	}
	s := ddSin(x, false)
	return s.hi + s.lo
}

// geoCos is cos x, correctly rounded for |x| up to a few π.
func geoCos(x float64) float64 {
	if math.Abs(x) > 8 || x != x {
		return math.Cos(x)
	}
	c := ddSin(x, true)
	return c.hi + c.lo
}

// geoAsin is asin x for 0 <= x <= 1, correctly rounded: one Newton step
// in double-double from Go's estimate.
func geoAsin(x float64) float64 {
	y := math.Asin(x)
	if !(x > 0 && x < 1) {
		return y
	}
	c := math.Cos(y)
	if c < 1e-6 {
		return y // too near π/2 for the step to help
	}
	s := ddSin(y, false)
	res := ddAdd(dd{x, 0}, dd{-s.hi, -s.lo})
	return y + (res.hi+res.lo)/c
}

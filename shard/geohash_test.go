package shard

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// Values recorded from redis-server 7.0.15 (GEOADD, then ZSCORE, GEOHASH,
// GEOPOS and GEODIST).
var geoRecorded = []struct {
	name     string
	lon, lat float64
	score    uint64
	hash     string
	pos      [2]string
}{
	{"Palermo", 13.361389, 38.115556, 3479099956230698, "sqc8b49rny0", [2]string{"13.36138933897018433", "38.11555639549629859"}},
	{"Catania", 15.087269, 37.502669, 3479447370796909, "sqdtr74hyu0", [2]string{"15.08726745843887329", "37.50266842333162032"}},
	{"SF", -122.4194, 37.7749, 1367859919124626, "9q8yyk8ytp0", [2]string{"-122.41940170526504517", "37.77490001056577995"}},
	{"Tokyo", 139.6917, 35.6895, 4171231230197045, "xn774c06kt0", [2]string{"139.69170123338699341", "35.68950126697937009"}},
	{"SW", -180, -85.05112878, 0, "00bh0hbj200", [2]string{"-179.99999731779098511", "-85.05112751263942528"}},
	// The north-east corner quantises one past the last cell: a 54-bit
	// score whose position is clamped back to the corner.
	{"NE", 180, 85.05112878, 13510798882111488, "bp05b5048p0", [2]string{"180", "85.0511287799999991"}},
	{"Zero", 0, 0, 3377699720527872, "s0000000000", [2]string{"0.00000268220901489", "0.00000126736058093"}},
	{"Neg", -0.0001, -0.0001, 1125899906841058, "7zzzzzzzmt0", [2]string{"-0.00009924173355103", "-0.00010012148579364"}},
}

func TestGeoEncodeDecodeRecorded(t *testing.T) {
	for _, r := range geoRecorded {
		score := geoEncodeScore(r.lon, r.lat)
		if score != r.score {
			t.Errorf("%s: score %d, want %d", r.name, score, r.score)
		}
		if got := string(geoHashString(float64(score), nil)); got != r.hash {
			t.Errorf("%s: geohash %s, want %s", r.name, got, r.hash)
		}
		lon, lat := geoDecodeScore(float64(score))
		if got := string(geoAppendCoord(nil, lon)); got != r.pos[0] {
			t.Errorf("%s: longitude %s, want %s", r.name, got, r.pos[0])
		}
		if got := string(geoAppendCoord(nil, lat)); got != r.pos[1] {
			t.Errorf("%s: latitude %s, want %s", r.name, got, r.pos[1])
		}
	}
}

func TestGeoDistanceRecorded(t *testing.T) {
	byName := map[string]float64{}
	for _, r := range geoRecorded {
		byName[r.name] = float64(r.score)
	}
	cases := []struct {
		a, b string
		conv float64
		want string
	}{
		{"Palermo", "Catania", 1000, "166.2742"},
		{"Palermo", "Catania", 1, "166274.1516"},
		{"SF", "Tokyo", 1609.34, "5140.6461"},
		{"SW", "NE", 0.3048, "62072980.9353"},
		{"Zero", "Neg", 1, "15.9904"},
		{"Zero", "Zero", 1, "0.0000"},
	}
	for _, tc := range cases {
		lon1, lat1 := geoDecodeScore(byName[tc.a])
		lon2, lat2 := geoDecodeScore(byName[tc.b])
		d := geoDistance(lon1, lat1, lon2, lat2) / tc.conv
		if got := string(geoAppendDistance(nil, d)); got != tc.want {
			t.Errorf("%s-%s: %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestGeoInterleaveRoundTrip(t *testing.T) {
	for _, v := range [][2]uint32{{0, 0}, {1, 0}, {0, 1}, {0xffffffff, 0}, {0x12345678, 0x9abcdef0}, {1 << 26, 1 << 26}} {
		b := geoInterleave(v[0], v[1])
		if x, y := geoSqueeze(b), geoSqueeze(b>>1); x != v[0] || y != v[1] {
			t.Errorf("%x,%x: interleaved %x, back %x,%x", v[0], v[1], b, x, y)
		}
	}
	if got := geoInterleave(1, 0); got != 1 {
		t.Errorf("latitude bit 0 lands at %x, want 1", got)
	}
	if got := geoInterleave(0, 1); got != 2 {
		t.Errorf("longitude bit 0 lands at %x, want 2", got)
	}
}

func TestGeoNeighbours(t *testing.T) {
	// At step 1 there are 2x2 cells: lat bit 0, lon bit 1. From the
	// south-west cell (0) east is lon+1, north lat+1, and west wraps.
	n := geoNeighbours(geoBits{bits: 0, step: 1})
	want := map[int]uint64{0: 0, geoN: 1, geoS: 1, geoE: 2, geoW: 2, geoNE: 3, geoNW: 3, geoSE: 3, geoSW: 3}
	for i, w := range want {
		if n[i].bits != w || n[i].step != 1 {
			t.Errorf("neighbour %d = %+v, want bits %d", i, n[i], w)
		}
	}
	// Moving east then west comes back.
	h := geoBits{bits: geoEncodeScore(13.361389, 38.115556) >> 20, step: 16}
	e := h
	geoMoveX(&e, 1)
	geoMoveX(&e, -1)
	if e != h {
		t.Errorf("east then west: %+v, want %+v", e, h)
	}
	ne := h
	geoMoveY(&ne, 1)
	geoMoveY(&ne, -1)
	if ne != h {
		t.Errorf("north then south: %+v, want %+v", ne, h)
	}
}

func TestGeoStepsForRadius(t *testing.T) {
	cases := []struct {
		meters, lat float64
		want        int
	}{
		{0, 0, 26},
		{1, 0, 24}, // 1m doubles 25 times to pass 20037726.37m: 26, less 2
		{1000, 0, 14},
		{1000, 70, 13}, // one less above 66 degrees
		{1000, -81, 12},
		{5e7, 0, 1},
	}
	for _, tc := range cases {
		if got := geoStepsForRadius(tc.meters, tc.lat); got != tc.want {
			t.Errorf("%v m at %v: step %d, want %d", tc.meters, tc.lat, got, tc.want)
		}
	}
}

func TestGeoScoreToBits(t *testing.T) {
	cases := []struct {
		f    float64
		want uint64
	}{
		{0, 0},
		{3479099956230698, 3479099956230698},
		{1.9, 1},
		{-1, math.MaxUint64},
		{math.Inf(-1), 1 << 63},
		{math.Inf(1), 0},
		{1 << 63, 1 << 63},
		{1 << 64, 0},
	}
	for _, tc := range cases {
		if got := geoScoreToBits(tc.f); got != tc.want {
			t.Errorf("%v: %x, want %x", tc.f, got, tc.want)
		}
	}
}

func TestGeoAppendDistance(t *testing.T) {
	cases := []struct {
		d    float64
		want string
	}{
		{0, "0.0000"},
		{0.00005, "0.0000"}, // llrint rounds half to even (and 0.5 is not exact)
		{0.00015, "0.0001"}, // 0.00015*10000 is 1.4999999999999998
		{1.23456, "1.2346"},
		{12345678.9, "12345678.9000"},
	}
	for _, tc := range cases {
		if got := string(geoAppendDistance(nil, tc.d)); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.d, got, tc.want)
		}
	}
}

// TestGeoDistanceLastBit pins a distance where Go's math.Asin is one ulp
// off glibc's: Redis stores 264.04994826808638 km for Paris-Brussels
// (GEOSEARCHSTORE ... STOREDIST).
func TestGeoDistanceLastBit(t *testing.T) {
	lon1, lat1 := geoDecodeScore(float64(geoEncodeScore(2.3522, 48.8566)))
	lon2, lat2 := geoDecodeScore(float64(geoEncodeScore(4.3517, 50.8503)))
	got := geoDistance(lon1, lat1, lon2, lat2) / 1000
	if want := 264.04994826808638; got != want {
		t.Errorf("Paris-Brussels %.17g km, want %.17g", got, want)
	}
}

// TestGeoTrigRounding checks the double-double sin, cos and asin against
// a 300-bit Taylor series: they must be the correctly rounded values.
func TestGeoTrigRounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		x := (rng.Float64()*2 - 1) * 3.2
		if got, want := geoSin(x), bigSinCos(x, true); got != want {
			t.Fatalf("sin(%x) = %x, want %x", x, got, want)
		}
		if got, want := geoCos(x), bigSinCos(x, false); got != want {
			t.Fatalf("cos(%x) = %x, want %x", x, got, want)
		}
		y := rng.Float64() * 0.99
		a := geoAsin(y)
		// asin is right when y lies between the sines of the midpoints
		// to its neighbours.
		mid := func(p, q float64) *big.Float {
			m := new(big.Float).SetPrec(300).SetFloat64(p)
			m.Add(m, new(big.Float).SetPrec(300).SetFloat64(q))
			return m.Quo(m, big.NewFloat(2))
		}
		yb := new(big.Float).SetPrec(300).SetFloat64(y)
		below := bigSin(mid(math.Nextafter(a, 0), a))
		above := bigSin(mid(a, math.Nextafter(a, 2)))
		if below.Cmp(yb) > 0 || above.Cmp(yb) < 0 {
			t.Fatalf("asin(%x) = %x is not the nearest", y, a)
		}
	}
}

// bigSin is sin x by a 300-bit Taylor series.
func bigSin(x *big.Float) *big.Float {
	const prec = 300
	X2 := new(big.Float).SetPrec(prec).Mul(x, x)
	term := new(big.Float).SetPrec(prec).Set(x)
	sum := new(big.Float).SetPrec(prec).Set(term)
	for n := 1; n < 120; n += 2 {
		term.Mul(term, X2)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(int64((n+1)*(n+2))))
		term.Neg(term)
		sum.Add(sum, term)
	}
	return sum
}

// bigSinCos is sin x (or cos x) by a 300-bit Taylor series, rounded.
func bigSinCos(x float64, sin bool) float64 {
	const prec = 300
	X := new(big.Float).SetPrec(prec).SetFloat64(x)
	X2 := new(big.Float).SetPrec(prec).Mul(X, X)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	n := 0
	if sin {
		term.Set(X)
		n = 1
	}
	sum := new(big.Float).SetPrec(prec).Set(term)
	for k := 0; k < 60; k++ {
		term.Mul(term, X2)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(int64((n+1)*(n+2))))
		term.Neg(term)
		sum.Add(sum, term)
		n += 2
	}
	f, _ := sum.Float64()
	return f
}

package shard

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkGeoSearch runs a 50 km radius search over 100,000 points spread
// over Europe (about 90 matches among the candidates of 9 cells).
func BenchmarkGeoSearch(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 5))
	z := newZSet(false)
	for i := 0; i < 100000; i++ {
		z.Insert("p"+strconv.Itoa(i), float64(geoEncodeScore(rng.Float64()*40-10, rng.Float64()*25+35)))
	}
	shape := geoShape{lon: 10, lat: 48, radius: 50, conv: 1000}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(geoCollect(z, &shape, true, 0)) == 0 {
			b.Fatal("nothing found")
		}
	}
}

func BenchmarkGeoSearchNoDist(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 5))
	z := newZSet(false)
	for i := 0; i < 100000; i++ {
		z.Insert("p"+strconv.Itoa(i), float64(geoEncodeScore(rng.Float64()*40-10, rng.Float64()*25+35)))
	}
	shape := geoShape{box: true, lon: 10, lat: 48, width: 100, height: 100, conv: 1000}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(geoCollect(z, &shape, false, 0)) == 0 {
			b.Fatal("nothing found")
		}
	}
}

func BenchmarkGeoDistance(b *testing.B) {
	for i := 0; i < b.N; i++ {
		geoDistance(2.35, 48.85, 13.4+float64(i&7)*0.01, 52.5)
	}
}

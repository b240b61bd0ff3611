package shard

import (
	"math"
	"slices"
	"strconv"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Geo commands: a geo index is a sorted set whose scores are 52-bit
// geohashes (geohash.go). GEOADD is ZADD with computed scores; the
// searches scan the score ranges of the cells around the search area and
// filter by exact distance, as Redis 7.0 does, so that results, their
// order and every digit of the replies agree with Redis.

func init() {
	g := func(name string, arity int, flags Flag, since, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "geo", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax},
			Run: run}
	}
	const (
		radiusCx = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."
		searchCx = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape"
		units    = "<M|KM|FT|MI>"
		options  = "[WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]"
		from     = "<FROMMEMBER member|FROMLONLAT longitude latitude>"
		by       = "<<BYRADIUS radius " + units + ">|<BYBOX width height " + units + ">>"
	)
	georadius := g("georadius", -6, Write|DenyOOM, "3.2.0",
		"Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
		radiusCx, "key longitude latitude radius "+units+" "+options+" [STORE key] [STOREDIST key]",
		func(c *Ctx) { geoSearchGeneric(c, 1, geoFromCoords) })
	georadius.Keys = func(args [][]byte, dst []int) []int { return geoRadiusKeys(args, dst, 6) }
	byMember := g("georadiusbymember", -5, Write|DenyOOM, "3.2.0",
		"Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
		radiusCx, "key member radius "+units+" "+options+" [STORE key] [STOREDIST key]",
		func(c *Ctx) { geoSearchGeneric(c, 1, geoFromMember) })
	byMember.Keys = func(args [][]byte, dst []int) []int { return geoRadiusKeys(args, dst, 5) }
	store := g("geosearchstore", -8, Write|DenyOOM, "6.2.0",
		"Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
		searchCx, "destination source "+from+" "+by+" [ASC|DESC] [COUNT count [ANY]] [STOREDIST]",
		func(c *Ctx) { geoSearchGeneric(c, 2, geoSearchFlag|geoSearchStore) })
	store.LastKey = 2
	register(
		g("geoadd", -5, Write|DenyOOM, "3.2.0",
			"Add one or more geospatial items in the geospatial index represented using a sorted set",
			"O(log(N)) for each item added, where N is the number of elements in the sorted set.",
			"key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]", cmdGeoAdd),
		g("geodist", -4, ReadOnly, "3.2.0", "Returns the distance between two members of a geospatial index",
			"O(log(N))", "key member1 member2 [M|KM|FT|MI]", cmdGeoDist),
		g("geohash", -2, ReadOnly, "3.2.0", "Returns members of a geospatial index as standard geohash strings",
			"O(log(N)) for each member requested, where N is the number of elements in the sorted set.",
			"key member [member ...]", cmdGeoHash),
		g("geopos", -2, ReadOnly, "3.2.0", "Returns longitude and latitude of members of a geospatial index",
			"O(N) where N is the number of members requested.", "key member [member ...]", cmdGeoPos),
		georadius,
		g("georadius_ro", -6, ReadOnly, "3.2.10", "A read-only variant for GEORADIUS", radiusCx,
			"key longitude latitude radius "+units+" "+options,
			func(c *Ctx) { geoSearchGeneric(c, 1, geoFromCoords|geoNoStore) }),
		byMember,
		g("georadiusbymember_ro", -5, ReadOnly, "3.2.10", "A read-only variant for GEORADIUSBYMEMBER", radiusCx,
			"key member radius "+units+" "+options,
			func(c *Ctx) { geoSearchGeneric(c, 1, geoFromMember|geoNoStore) }),
		g("geosearch", -7, ReadOnly, "6.2.0",
			"Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
			searchCx, "key "+from+" "+by+" [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
			func(c *Ctx) { geoSearchGeneric(c, 1, geoSearchFlag) }),
		store,
	)
}

// Error replies of the geo commands.
const (
	errGeoUnit      = "ERR unsupported unit provided. please use M, KM, FT, MI"
	errGeoRadius    = "ERR need numeric radius"
	errGeoNegRadius = "ERR radius cannot be negative"
	errGeoWidth     = "ERR need numeric width"
	errGeoHeight    = "ERR need numeric height"
	errGeoNegBox    = "ERR height or width cannot be negative"
	errGeoMember    = "ERR could not decode requested zset member"
	errGeoCount     = "ERR COUNT must be > 0"
	errGeoAny       = "ERR the ANY argument requires COUNT argument"
	errGeoStore     = " is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
)

// geoRadiusKeys finds the keys of GEORADIUS and GEORADIUSBYMEMBER. Redis's
// COMMAND GETKEYS follows their key specs: the source, the key after the
// first STORE and the key after the first STORE DIST (searching from the
// option after the unit). The command itself stores to the key after the
// last of them, which is added when it is not among those.
func geoRadiusKeys(args [][]byte, dst []int, from int) []int {
	dst = append(dst, 1)
	n := len(dst)
	for _, kw := range []string{"store", "storedist"} {
		for i := from; i < len(args)-1; i++ {
			if equalFold(args[i], kw) {
				dst = append(dst, i+1)
				break
			}
		}
	}
	if last := geoStoreIndex(args); last > 0 && !slices.Contains(dst[n:], last) {
		dst = append(dst, last)
	}
	return dst
}

// geoStoreIndex is the position of the key GEORADIUS or GEORADIUSBYMEMBER
// stores to (the one after the last STORE or STOREDIST), or 0.
func geoStoreIndex(args [][]byte) int {
	stored := 0
	for i := 5; i < len(args); i++ {
		if (equalFold(args[i], "store") || equalFold(args[i], "storedist")) && i+1 < len(args) {
			stored = i + 1
			i++
		}
	}
	return stored
}

// geoLonLat parses a longitude and a latitude, replying an error when
// either is not a number or the pair is outside the indexable area.
func (c *Ctx) geoLonLat(args [][]byte) (lon, lat float64, ok bool) {
	lon, ok1 := zParseScore(args[0])
	if !ok1 {
		c.Error(ErrNotFloat)
		return 0, 0, false
	}
	lat, ok2 := zParseScore(args[1])
	if !ok2 {
		c.Error(ErrNotFloat)
		return 0, 0, false
	}
	if lon < geoLongMin || lon > geoLongMax || lat < geoLatMin || lat > geoLatMax {
		b := make([]byte, 0, 80)
		b = append(b, "ERR invalid longitude,latitude pair "...)
		b = geoAppendCFloat(b, lon)
		b = append(b, ',')
		b = geoAppendCFloat(b, lat)
		c.Error(string(b))
		return 0, 0, false
	}
	return lon, lat, true
}

// geoAppendCFloat appends f as C's printf("%f").
func geoAppendCFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	return strconv.AppendFloat(dst, f, 'f', 6, 64)
}

// geoUnit returns the size in meters of a unit, or replies an error.
func (c *Ctx) geoUnit(u []byte) (float64, bool) {
	switch {
	case equalFold(u, "m"):
		return 1, true
	case equalFold(u, "km"):
		return 1000, true
	case equalFold(u, "ft"):
		return 0.3048, true
	case equalFold(u, "mi"):
		return 1609.34, true
	}
	c.Error(errGeoUnit)
	return 0, false
}

// geoAppendDistance appends d with four decimals, rounded as Redis's
// fixedpoint_d2string does (llrint of d*10000).
func geoAppendDistance(dst []byte, d float64) []byte {
	if d == 0 {
		return append(dst, "0.0000"...)
	}
	v := int64(math.RoundToEven(d * 10000.0))
	var u uint64
	if v < 0 {
		dst = append(dst, '-')
		u = uint64(-v)
	} else {
		u = uint64(v)
	}
	dst = strconv.AppendUint(dst, u/10000, 10)
	frac := u % 10000
	return append(dst, '.', byte('0'+frac/1000), byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10))
}

// geoAppendCoord appends f as Redis's "human" long double: %.17Lf without
// trailing zeros (or point), "-0" as "0".
func geoAppendCoord(dst []byte, f float64) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', 17, 64)
	for dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}

// geoCoord replies a coordinate: a bulk string in RESP2, a double in RESP3.
func (c *Ctx) geoCoord(f float64) {
	var buf [48]byte
	b := geoAppendCoord(buf[:0], f)
	if c.Proto == wire.RESP3 {
		c.Out = append(c.Out, ',')
		c.Out = append(c.Out, b...)
		c.Out = append(c.Out, '\r', '\n')
		return
	}
	c.Bulk(b)
}

// geoDistanceReply replies a distance as a bulk string with 4 decimals.
func (c *Ctx) geoDistanceReply(d float64) {
	var buf [48]byte
	c.Bulk(geoAppendDistance(buf[:0], d))
}

// GEOADD key [NX|XX] [CH] lon lat member ...: ZADD with the geohashes as
// scores, so it behaves (and notifies) as ZADD.
func cmdGeoAdd(c *Ctx) {
	nx, xx := false, false
	i := 2
	for ; i < len(c.Args); i++ {
		a := c.Args[i]
		if equalFold(a, "nx") {
			nx = true
		} else if equalFold(a, "xx") {
			xx = true
		} else if !equalFold(a, "ch") {
			break
		}
	}
	if (len(c.Args)-i)%3 != 0 || nx && xx {
		c.Error(ErrSyntax)
		return
	}
	elements := (len(c.Args) - i) / 3
	args := make([][]byte, 0, i+2*elements)
	scores := make([]byte, 0, 20*elements) // a score has at most 17 digits
	args = append(args, []byte("zadd"))
	args = append(args, c.Args[1:i]...)
	for j := 0; j < elements; j++ {
		at := i + 3*j
		lon, lat, ok := c.geoLonLat(c.Args[at : at+2])
		if !ok {
			return
		}
		start := len(scores)
		scores = strconv.AppendUint(scores, geoEncodeScore(lon, lat), 10)
		args = append(args, scores[start:len(scores):len(scores)], c.Args[at+2])
	}
	saved := c.Args
	c.Args = args
	start := len(c.Out)
	zaddGeneric(c, false)
	c.Args = saved
	if !c.noChange && len(c.Out) > start && c.Out[start] != '-' {
		c.propagate(args...) // the ZADD it ran, with the scores, as Redis
	}
}

// GEODIST key member1 member2 [unit]
func cmdGeoDist(c *Ctx) {
	conv := 1.0
	if len(c.Args) == 5 {
		var ok bool
		if conv, ok = c.geoUnit(c.Args[4]); !ok {
			return
		}
	} else if len(c.Args) > 5 {
		c.Error(ErrSyntax)
		return
	}
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	if z == nil {
		c.Null()
		return
	}
	s1, ok1 := z.Score(zview(c.Args[2]))
	s2, ok2 := z.Score(zview(c.Args[3]))
	if !ok1 || !ok2 {
		c.Null()
		return
	}
	lon1, lat1 := geoDecodeScore(s1)
	lon2, lat2 := geoDecodeScore(s2)
	c.geoDistanceReply(geoDistance(lon1, lat1, lon2, lat2) / conv)
}

// GEOHASH key member ...
func cmdGeoHash(c *Ctx) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	c.Array(len(c.Args) - 2)
	var buf [16]byte
	for _, m := range c.Args[2:] {
		if score, found := memberScore(z, m); found {
			c.Bulk(geoHashString(score, buf[:0]))
		} else {
			c.Null()
		}
	}
}

// memberScore returns member m's score in z (nil: a missing key).
func memberScore(z *ZSet, m []byte) (float64, bool) {
	if z == nil {
		return 0, false
	}
	return z.Score(zview(m))
}

// GEOPOS key member ...
func cmdGeoPos(c *Ctx) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	c.Array(len(c.Args) - 2)
	for _, m := range c.Args[2:] {
		score, found := memberScore(z, m)
		if !found {
			c.NullArray()
			continue
		}
		lon, lat := geoDecodeScore(score)
		c.Array(2)
		c.geoCoord(lon)
		c.geoCoord(lat)
	}
}

// Variants of the search commands.
const (
	geoFromCoords  = 1 << iota // GEORADIUS: centre given as lon lat
	geoFromMember              // GEORADIUSBYMEMBER: centre given as a member
	geoNoStore                 // the _RO forms: no STORE or STOREDIST
	geoSearchFlag              // GEOSEARCH syntax
	geoSearchStore             // GEOSEARCHSTORE: destination first, STOREDIST alone
)

// geoPoint is one search result.
type geoPoint struct {
	member   string
	lon, lat float64
	dist     float64 // meters, then in the unit asked for
	score    float64
}

// geoSearchGeneric runs GEORADIUS, GEORADIUSBYMEMBER, their _RO forms,
// GEOSEARCH and GEOSEARCHSTORE; src is the source key's position.
func geoSearchGeneric(c *Ctx, src int, flags int) {
	args := c.Args
	z, ok := c.zsetAt(args[src])
	if !ok {
		return
	}
	var shape geoShape
	var storeKey []byte
	storeDist := false
	base := 0
	switch {
	case flags&geoFromCoords != 0:
		base = 6
		if shape.lon, shape.lat, ok = c.geoLonLat(args[2:4]); !ok {
			return
		}
		if !c.geoRadiusArg(args[4:6], &shape) {
			return
		}
	case flags&geoFromMember != 0 && z == nil:
		base = 5 // nothing to search: just parse the options
	case flags&geoFromMember != 0:
		base = 5
		s, found := z.Score(zview(args[2]))
		if !found {
			c.Error(errGeoMember)
			return
		}
		shape.lon, shape.lat = geoDecodeScore(s)
		if !c.geoRadiusArg(args[3:5], &shape) {
			return
		}
	default:
		base = 2
		if flags&geoSearchStore != 0 {
			base = 3
			storeKey = args[1]
		}
	}

	withDist, withHash, withCoord := false, false, false
	fromMember, fromLoc, byRadius, byBox := false, false, false, false
	sortDir := 0 // 1 ascending, -1 descending
	anyOpt := false
	var count int64
	search := flags&geoSearchFlag != 0
	rest := args[base:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		left := len(rest) - i - 1 // arguments after a
		switch {
		case equalFold(a, "withdist"):
			withDist = true
		case equalFold(a, "withhash"):
			withHash = true
		case equalFold(a, "withcoord"):
			withCoord = true
		case equalFold(a, "any"):
			anyOpt = true
		case equalFold(a, "asc"):
			sortDir = 1
		case equalFold(a, "desc"):
			sortDir = -1
		case equalFold(a, "count") && left >= 1:
			n, ok := wire.ParseInt(rest[i+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			if n <= 0 {
				c.Error(errGeoCount)
				return
			}
			count = n
			i++
		case (equalFold(a, "store") || equalFold(a, "storedist")) && left >= 1 && flags&(geoNoStore|geoSearchFlag) == 0:
			storeKey = rest[i+1]
			storeDist = len(a) == 9
			i++
		case equalFold(a, "storedist") && flags&geoSearchStore != 0:
			storeDist = true
		case equalFold(a, "frommember") && left >= 1 && search && !fromLoc:
			if z != nil {
				s, found := z.Score(zview(rest[i+1]))
				if !found {
					c.Error(errGeoMember)
					return
				}
				shape.lon, shape.lat = geoDecodeScore(s)
			}
			fromMember = true
			i++
		case equalFold(a, "fromlonlat") && left >= 2 && search && !fromMember:
			if shape.lon, shape.lat, ok = c.geoLonLat(rest[i+1 : i+3]); !ok {
				return
			}
			fromLoc = true
			i += 2
		case equalFold(a, "byradius") && left >= 2 && search && !byBox:
			if !c.geoRadiusArg(rest[i+1:i+3], &shape) {
				return
			}
			shape.box = false
			byRadius = true
			i += 2
		case equalFold(a, "bybox") && left >= 3 && search && !byRadius:
			if !c.geoBoxArg(rest[i+1:i+4], &shape) {
				return
			}
			shape.box = true
			byBox = true
			i += 3
		default:
			c.Error(ErrSyntax)
			return
		}
	}

	if storeKey != nil && (withDist || withHash || withCoord) {
		if flags&geoSearchStore != 0 {
			c.Error("ERR GEOSEARCHSTORE" + errGeoStore)
		} else {
			c.Error("ERR STORE option in GEORADIUS" + errGeoStore)
		}
		return
	}
	if search && !fromMember && !fromLoc {
		c.Error("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for " + string(args[0]))
		return
	}
	if search && !byRadius && !byBox {
		c.Error("ERR exactly one of BYRADIUS and BYBOX can be specified for " + string(args[0]))
		return
	}
	if anyOpt && count == 0 {
		c.Error(errGeoAny)
		return
	}
	if z == nil {
		if storeKey != nil {
			c.remove(storeKey)
			c.Int(0)
		} else {
			c.Array(0)
		}
		return
	}
	if count != 0 && sortDir == 0 && !anyOpt {
		sortDir = 1
	}

	limit := 0
	if anyOpt {
		limit = int(min(count, math.MaxInt32))
	}
	points := geoCollect(z, &shape, withDist || sortDir != 0 || storeDist, limit)
	if len(points) == 0 && storeKey == nil {
		c.Array(0)
		return
	}
	returned := len(points)
	if count != 0 && int64(returned) > count {
		returned = int(count)
	}
	if sortDir != 0 {
		cmp := func(a, b *geoPoint) int {
			r := 0
			if a.dist > b.dist {
				r = 1
			} else if a.dist < b.dist {
				r = -1
			}
			return r * sortDir
		}
		if returned == len(points) {
			// Redis calls glibc's qsort, a merge sort: stable.
			slices.SortStableFunc(points, func(a, b geoPoint) int { return cmp(&a, &b) })
		} else {
			// and its own partial quicksort for the first COUNT, which
			// orders ties its own way.
			geoPartialSort(points, 0, len(points), cmp, 0, returned-1)
		}
	}
	points = points[:returned]
	for i := range points {
		points[i].dist /= shape.conv
	}

	if storeKey == nil {
		opts := 0
		for _, w := range []bool{withDist, withCoord, withHash} {
			if w {
				opts++
			}
		}
		c.Array(len(points))
		for i := range points {
			p := &points[i]
			if opts > 0 {
				c.Array(opts + 1)
			}
			c.BulkString(p.member)
			if withDist {
				c.geoDistanceReply(p.dist)
			}
			if withHash {
				c.Int(int64(p.score))
			}
			if withCoord {
				c.Array(2)
				c.geoCoord(p.lon)
				c.geoCoord(p.lat)
			}
		}
		return
	}
	items := make([]zitem, len(points))
	for i := range points {
		items[i].member = points[i].member
		if storeDist {
			items[i].score = points[i].dist
		} else {
			items[i].score = points[i].score
		}
	}
	slices.SortFunc(items, zcompare)
	c.zstore(storeKey, items)
}

// geoRadiusArg parses "radius unit" into shape.
func (c *Ctx) geoRadiusArg(args [][]byte, shape *geoShape) bool {
	r, ok := zParseScore(args[0])
	if !ok {
		c.Error(errGeoRadius)
		return false
	}
	if r < 0 {
		c.Error(errGeoNegRadius)
		return false
	}
	shape.radius = r
	conv, ok := c.geoUnit(args[1])
	if !ok {
		return false
	}
	shape.conv = conv
	return true
}

// geoBoxArg parses "width height unit" into shape.
func (c *Ctx) geoBoxArg(args [][]byte, shape *geoShape) bool {
	w, ok := zParseScore(args[0])
	if !ok {
		c.Error(errGeoWidth)
		return false
	}
	h, ok := zParseScore(args[1])
	if !ok {
		c.Error(errGeoHeight)
		return false
	}
	if h < 0 || w < 0 {
		c.Error(errGeoNegBox)
		return false
	}
	shape.width, shape.height = w, h
	conv, ok := c.geoUnit(args[2])
	if !ok {
		return false
	}
	shape.conv = conv
	return true
}

// geoCollect returns the members inside the shape, scanning the cells
// around it in Redis's order; with a limit (COUNT ANY) it stops as soon as
// it has that many. Without needDist, the distances of points certainly
// inside are left at 0.
func geoCollect(z *ZSet, shape *geoShape, needDist bool, limit int) []geoPoint {
	cells := geoSearchCells(shape)
	f := shape.filter()
	var out []geoPoint
	last := 0
	for i := range cells {
		if cells[i].isZero() {
			continue
		}
		// Huge areas can make neighbours coincide; Redis skips a cell
		// equal to the one it scanned last (never comparing with the
		// centre cell, index 0).
		if last != 0 && cells[i] == cells[last] {
			continue
		}
		if len(out) > 0 && limit > 0 && len(out) >= limit {
			break
		}
		h := cells[i]
		lo := geoAlign52(h)
		h.bits++
		hi := geoAlign52(h)
		out = geoCollectRange(z, float64(lo), float64(hi), shape, &f, needDist, limit, out)
		last = i
	}
	return out
}

// geoCollectRange appends the members with scores in [lo, hi) that are
// inside the shape.
func geoCollectRange(z *ZSet, lo, hi float64, shape *geoShape, f *geoFilter, needDist bool, limit int, out []geoPoint) []geoPoint {
	leaf, idx, _ := z.seek(&zbound{kind: zbScore, score: lo})
	for leaf != nil {
		if idx >= len(leaf.items) {
			leaf, idx = leaf.next, 0
			continue
		}
		it := &leaf.items[idx]
		if !(it.score < hi) {
			break
		}
		lon, lat := geoDecodeScore(it.score)
		switch f.classify(lon, lat) {
		case -1:
		case 1:
			if !needDist {
				if shape.latInside(lat) {
					out = append(out, geoPoint{member: it.member, lon: lon, lat: lat, score: it.score})
				}
				break
			}
			fallthrough
		default:
			if d, in := shape.within(f, lon, lat); in {
				out = append(out, geoPoint{member: it.member, lon: lon, lat: lat, dist: d, score: it.score})
			}
		}
		if len(out) > 0 && limit > 0 && len(out) >= limit {
			break
		}
		idx++
	}
	return out
}

// geoPartialSort sorts x[base:base+n] enough that positions lo..hi hold
// what a full sort would put there: Bentley and McIlroy's three-way
// quicksort that skips the parts outside lo..hi, as Redis's pqsort does,
// so that equal distances come out in the same order as in Redis.
func geoPartialSort(x []geoPoint, base, n int, cmp func(a, b *geoPoint) int, lo, hi int) {
	swap := func(i, j int) { x[i], x[j] = x[j], x[i] }
	c := func(i, j int) int { return cmp(&x[i], &x[j]) }
	med3 := func(a, b, d int) int {
		if c(a, b) < 0 {
			if c(b, d) < 0 {
				return b
			}
			if c(a, d) < 0 {
				return d
			}
			return a
		}
		if c(b, d) > 0 {
			return b
		}
		if c(a, d) < 0 {
			return a
		}
		return d
	}
	blockSwap := func(i, j, k int) {
		for t := 0; t < k; t++ {
			swap(i+t, j+t)
		}
	}
	// wanted reports whether x[start:start+k] overlaps lo..hi.
	wanted := func(start, k int) bool {
		return !(lo < start && hi < start || lo >= start+k && hi >= start+k)
	}
	for {
		if n < 7 {
			for m := base + 1; m < base+n; m++ {
				for l := m; l > base && c(l-1, l) > 0; l-- {
					swap(l, l-1)
				}
			}
			return
		}
		m := base + n/2
		if n > 7 {
			l, r := base, base+n-1
			if n > 40 {
				d := n / 8
				l = med3(l, l+d, l+2*d)
				m = med3(m-d, m, m+d)
				r = med3(r-2*d, r-d, r)
			}
			m = med3(l, m, r)
		}
		swap(base, m)
		pa, pb := base+1, base+1
		pc, pd := base+n-1, base+n-1
		for {
			for pb <= pc {
				r := c(pb, base)
				if r > 0 {
					break
				}
				if r == 0 {
					swap(pa, pb)
					pa++
				}
				pb++
			}
			for pb <= pc {
				r := c(pc, base)
				if r < 0 {
					break
				}
				if r == 0 {
					swap(pc, pd)
					pd--
				}
				pc--
			}
			if pb > pc {
				break
			}
			swap(pb, pc)
			pb++
			pc--
		}
		pn := base + n
		k := min(pa-base, pb-pa)
		blockSwap(base, pb-k, k)
		k = min(pd-pc, pn-pd-1)
		blockSwap(pb, pn-k, k)
		if k = pb - pa; k > 1 && wanted(base, k) {
			geoPartialSort(x, base, k, cmp, lo, hi)
		}
		if k = pd - pc; k > 1 && wanted(pn-k, k) {
			base, n = pn-k, k
			continue
		}
		return
	}
}

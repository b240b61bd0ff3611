package shard

import (
	"math"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// MEMORY and its subcommands. MEMORY USAGE reads a key, so the whole
// family is a data command: USAGE runs on the key's shard (also from
// scripts and in transactions), STATS across every shard to count their
// keys, and the others on any shard since they read only the Go runtime.

func init() {
	register(&Command{Spec: Spec{Name: "memory", Arity: -2,
		Group: "server", Since: "4.0.0", Summary: "A container for memory diagnostics commands",
		Complexity: "Depends on subcommand.", Subcommands: memorySpecs()},
		Run: cmdMemory, Keys: memoryKeys, NeedsAllShards: memoryNeedsAllShards})
}

func memorySpecs() []*Spec {
	plain := func(name, summary, complexity string) *Spec {
		return &Spec{Name: "memory|" + name, Arity: 2, Group: "server", Since: "4.0.0",
			Summary: summary, Complexity: complexity}
	}
	const slow = "Depends on how much memory is allocated, could be slow"
	help := plain("help", "Show helpful text about the different subcommands", "O(1)")
	help.Flags = Loading | Stale
	return []*Spec{
		plain("doctor", "Outputs memory problems report", "O(1)"),
		help,
		plain("malloc-stats", "Show allocator internal stats", slow),
		plain("purge", "Ask the allocator to release memory", slow),
		plain("stats", "Show memory usage details", "O(1)"),
		{Name: "memory|usage", Arity: -3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1,
			Group: "server", Since: "4.0.0", Summary: "Estimate the memory usage of a key",
			Complexity: "O(N) where N is the number of samples.", Syntax: "key [SAMPLES count]"},
	}
}

// memoryKeys finds the key of MEMORY USAGE, so it runs on the shard that
// owns it; the other subcommands have none.
func memoryKeys(args [][]byte, dst []int) []int {
	if len(args) >= 3 && equalFold(args[1], "usage") {
		dst = append(dst, 2)
	}
	return dst
}

// memoryNeedsAllShards: MEMORY STATS counts the keys of every shard.
func memoryNeedsAllShards(args [][]byte) bool {
	return len(args) == 2 && equalFold(args[1], "stats")
}

var memoryHelp = []string{
	"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"DOCTOR",
	"    Return memory problems reports.",
	"MALLOC-STATS",
	"    Return internal statistics report from the memory allocator.",
	"PURGE",
	"    Attempt to purge dirty pages for reclamation by the allocator.",
	"STATS",
	"    Return information about the memory usage of the server.",
	"USAGE <key> [SAMPLES <count>]",
	"    Return memory in bytes used by <key> and its value. Nested values are",
	"    sampled up to <count> times (default: 5, 0 means sample all).",
	"HELP",
	"    Prints this help.",
}

// memoryDefaultSamples is how many elements of a collection MEMORY USAGE
// measures when not told, as in Redis.
const memoryDefaultSamples = 5

func cmdMemory(c *Ctx) {
	sub := c.Args[1]
	var name string
	for _, n := range [...]string{"usage", "stats", "doctor", "malloc-stats", "purge", "help"} {
		if equalFold(sub, n) {
			name = n
		}
	}
	if name == "" {
		c.Error("ERR unknown subcommand '" + truncate(argText(sub), 128) + "'. Try MEMORY HELP.")
		return
	}
	if name == "usage" {
		if len(c.Args) < 3 {
			c.Error(ErrArity("memory|usage"))
			return
		}
		memoryUsage(c)
		return
	}
	if len(c.Args) != 2 {
		c.Error(ErrArity("memory|" + name))
		return
	}
	switch name {
	case "help":
		c.Array(len(memoryHelp))
		for _, l := range memoryHelp {
			c.Simple(l)
		}
	case "stats":
		memoryStats(c)
	case "doctor":
		c.Out = wire.AppendVerbatim(c.Out, "txt", memoryDoctor(readMemFigures()), c.Proto)
	case "malloc-stats":
		// Redis says this for every allocator but jemalloc; Go's has no
		// report of its own beyond what STATS shows.
		c.BulkString("Stats not supported for the current allocator")
	case "purge":
		osmem.Purge()
		c.OK()
	}
}

// memoryUsage is MEMORY USAGE key [SAMPLES count]. As in Redis the options
// are checked before the key is looked up, the last SAMPLES wins, and the
// type of the value does not matter.
func memoryUsage(c *Ctx) {
	samples := int64(memoryDefaultSamples)
	for i := 3; i < len(c.Args); i++ {
		if !equalFold(c.Args[i], "samples") || i+1 >= len(c.Args) {
			c.Error(ErrSyntax)
			return
		}
		n, ok := wire.ParseInt(c.Args[i+1])
		if !ok {
			c.Error(ErrNotInt)
			return
		}
		if n < 0 {
			c.Error(ErrSyntax)
			return
		}
		if n == 0 {
			n = math.MaxInt64
		}
		samples = n
		i++
	}
	key := c.Args[2]
	db := c.db(key)
	v, found := db.peek(key, c.Now) // Redis's MEMORY USAGE does not touch the key
	if !found {
		c.Null()
		return
	}
	_, hasTTL := db.ttl(key)
	c.Int(keyUsage(len(key), v, hasTTL, samples))
}

// How MEMORY USAGE estimates a key's memory.
//
// The figure is the bytes the Go heap holds for the key and its value as
// Valkyrie stores them (see value.go): the key's slot in its database's
// map, the key's bytes, the value's bytes, and for a collection its
// container (map tables, list ring buffer, sorted-set leaves) plus each
// element's bytes. Like Redis it is an estimate:
//
//   - Every allocation is counted at the allocator's size class for it
//     (allocBytes); maps at the size inserting their entries reaches
//     (mapBytes).
//   - The container's structure is computed from its size, which is exact;
//     the elements' own bytes are measured on up to `samples` of them and
//     scaled to the whole collection (the mean times the count), as Redis
//     does. Hashes and sets are sampled from Go's map iteration, which
//     starts at a random place, so for a collection of unequal elements two
//     calls may differ slightly; SAMPLES 0 measures every element.
//   - A Go map never shrinks, so one that was larger before holds more
//     than its current size accounts for.
//   - A key's share of its database's map is a fixed per-entry figure
//     (mapShare), so that other keys never change a key's figure.
//
// A larger value always gives a larger figure: each part only grows with
// the number of elements and with their lengths.

const (
	// ptrBytes is the size of a pointer (and of int, uintptr).
	ptrBytes = int64(unsafe.Sizeof(uintptr(0)))
	// strHeader is a Go string header: data pointer and length. Map keys,
	// list slots and sorted-set items hold one per element; the bytes are
	// a separate allocation.
	strHeader = int64(unsafe.Sizeof(""))

	// Go's maps (internal/runtime/maps, Go 1.24 and later) keep entries in
	// groups of mapGroupSlots slots, each group led by one control byte per
	// slot. A map of up to one group's worth is that group alone; a larger
	// one has tables of up to mapTableSlots slots, each doubled (or, at
	// that size, split in two) once more than mapMaxLoad/mapGroupSlots of
	// its slots are used. The map itself is a header of mapHeader bytes
	// (maps.Map on 64-bit: count, seed, directory pointer and length,
	// depth, shift, flags and clear sequence), a table mapTableHeader bytes
	// (counts, depth, index and a reference to its groups), and the
	// directory one pointer per table.
	mapGroupSlots  = 8
	mapMaxLoad     = 7
	mapTableSlots  = 1024
	mapHeader      = 48
	mapTableHeader = 32
)

// The slot of each map type Valkyrie stores: key and element, padded as
// the runtime lays them out (a trailing struct{} takes a word).
var (
	slotStrStr = int64(unsafe.Sizeof(struct{ k, v string }{})) // DB strings, hashes
	slotStrAny = int64(unsafe.Sizeof(struct {
		k string
		v objEntry
	}{})) // DB objects (strEntry is the size of a string)
	slotStrInt = int64(unsafe.Sizeof(struct {
		k string
		v int64
	}{})) // TTLs
	slotStrFloat = int64(unsafe.Sizeof(struct {
		k string
		v float64
	}{})) // sorted-set members
	slotStrNone = int64(unsafe.Sizeof(struct {
		k string
		v struct{}
	}{})) // set members
)

// sizeClasses are the Go allocator's object sizes up to maxSmallAlloc
// (internal/runtime/gc/sizeclasses.go, unchanged since Go 1.12 but for
// the 24-byte class added in 1.14); larger objects take whole pages of
// allocPage bytes.
var sizeClasses = [...]int32{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
	240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
	1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784,
	6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760,
	24576, 27264, 28672, 32768}

const (
	maxSmallAlloc = 32 << 10
	allocPage     = 8 << 10
)

// allocBytes is what the allocator hands out for an n-byte object: its
// size class, or whole pages. (Objects under 16 bytes without pointers
// may share a 16-byte block; they are counted at their class.)
func allocBytes(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if n <= smallClassMax {
		return int64(smallClasses[(n+7)>>3])
	}
	if n > maxSmallAlloc {
		return (n + allocPage - 1) &^ (allocPage - 1)
	}
	return int64(largeClasses[(n+127)>>7])
}

// sameClass reports whether an allocation of a bytes, made by the Go
// allocator, also holds b bytes: both in the same size class, and not over
// maxSmallAlloc. Under 16 bytes the tiny allocator may have packed a's
// bytes in one block with other objects, so there b may not exceed a. It
// is false for all if the runtime's classes are not sizeClasses
// (classesMatch).
func sameClass(a, b int) bool {
	if a <= 0 || b <= 0 || a > maxSmallAlloc || b > maxSmallAlloc || !classesMatch {
		return false
	}
	if (a < 16 || b < 16) && b > a {
		return false
	}
	return allocBytes(int64(a)) == allocBytes(int64(b))
}

// classesMatch reports whether sizeClasses are the running allocator's: a
// slice grown by append gets the capacity of its size class, at each
// class and just above it.
var classesMatch = func() bool {
	for _, c := range sizeClasses {
		if c < 16 {
			continue
		}
		if cap(append([]byte(nil), make([]byte, c)...)) != int(c) {
			return false
		}
		if c < maxSmallAlloc && int64(cap(append([]byte(nil), make([]byte, c+1)...))) != allocBytes(int64(c)+1) {
			return false
		}
	}
	return true
}()

// smallClasses is allocBytes for sizes up to smallClassMax, by 8-byte
// step (every class up to there is a multiple of 8), and largeClasses the
// same up to maxSmallAlloc by 128-byte step (every class above
// smallClassMax is a multiple of 128), so that the accounting of each
// write (accounting.go) costs a load, not a search.
const smallClassMax = 1024

var (
	smallClasses = classTable(8, smallClassMax)
	largeClasses = classTable(128, maxSmallAlloc)
)

// classTable maps n/step, rounded up, to the class of an n-byte object,
// for n up to limit.
func classTable(step, limit int) []int32 {
	t := make([]int32, limit/step+1)
	c := 0
	for i := 1; i < len(t); i++ {
		for int(sizeClasses[c]) < i*step {
			c++
		}
		t[i] = sizeClasses[c]
	}
	return t
}

// mapBytes estimates a Go map of n entries with slot-byte slots: header,
// directory, tables and groups, at the size that inserting n entries
// reaches (the smallest power of two of slots at most 7/8 full; with
// well-spread hashes the tables fill and split together). Measured against
// the runtime for maps of 100 to 100,000 entries this is exact but for
// allocations rounding in the collector's own ways.
func mapBytes(n int, slot int64) int64 {
	group := mapGroupSlots + mapGroupSlots*slot // control word and slots
	if n <= mapGroupSlots {
		return mapHeader + allocBytes(group)
	}
	slots := int64(2 * mapGroupSlots)
	for slots*mapMaxLoad/mapGroupSlots < int64(n) {
		slots *= 2
	}
	tables := max(1, slots/mapTableSlots)
	perTable := allocBytes(mapTableHeader) + allocBytes(slots/tables/mapGroupSlots*group)
	return mapHeader + allocBytes(tables*ptrBytes) + tables*perTable
}

// mapShare is one entry's share of a large map: its slot and control byte
// over the 7/8 most a table is filled to. A key's share of its database's
// map is counted so, not from the map's current size, so that other keys
// do not change a key's figure; for a map that just grew it is up to half
// the real share.
func mapShare(slot int64) int64 { return (slot + 1) * mapGroupSlots / mapMaxLoad }

// keyUsage estimates the memory of a key of keyLen bytes holding v.
func keyUsage(keyLen int, v any, hasTTL bool, samples int64) int64 {
	slot := slotStrAny
	if _, ok := v.(string); ok {
		slot = slotStrStr
	}
	n := mapShare(slot) + allocBytes(int64(keyLen)) + valueUsage(v, samples)
	if hasTTL {
		// setExpire stores its own copy of the key.
		n += mapShare(slotStrInt) + allocBytes(int64(keyLen))
	}
	return n
}

// sampled scales the bytes measured on k of n elements to all n.
func sampled(bytes int64, k, n int) int64 {
	if k == 0 || k >= n {
		return bytes
	}
	return int64(float64(bytes) / float64(k) * float64(n))
}

// valueUsage estimates the memory of a stored value, the key aside.
func valueUsage(v any, samples int64) int64 {
	switch v := v.(type) {
	case string:
		return allocBytes(int64(len(v)))
	case *Hash:
		return hashUsage(v, samples)
	case Set:
		var elems int64
		k := 0
		for m := range v {
			if int64(k) >= samples {
				break
			}
			elems += allocBytes(int64(len(m)))
			k++
		}
		return mapBytes(len(v), slotStrNone) + sampled(elems, k, len(v))
	case *List:
		return listUsage(v, samples)
	case *ZSet:
		return zsetUsage(v, samples)
	case *Stream:
		return v.usage(samples)
	}
	return 0
}

// hashUsage: the Hash, then its listpack buffer at its capacity (compact:
// exact, nothing to sample), or its map and the pairs' bytes (each field
// and value one allocation, see hash.go) sampled from map iteration.
func hashUsage(h *Hash, samples int64) int64 {
	n := allocBytes(int64(unsafe.Sizeof(*h)))
	if h.compact() {
		return n + allocBytes(int64(cap(h.lp)))
	}
	n += mapBytes(len(h.m), slotStrStr)
	var elems int64
	k := 0
	for f, v := range h.m {
		if int64(k) >= samples {
			break
		}
		elems += allocBytes(int64(len(f) + len(v)))
		k++
	}
	return n + sampled(elems, k, len(h.m))
}

// listUsage: the List, its ring buffer of string headers (whose length is
// its capacity), and the elements' bytes sampled from the head, as Redis
// samples a quicklist's first nodes.
func listUsage(l *List, samples int64) int64 {
	n := allocBytes(int64(unsafe.Sizeof(*l))) + allocBytes(int64(len(l.buf))*strHeader)
	var elems int64
	k := 0
	for ; k < l.n && int64(k) < samples; k++ {
		elems += allocBytes(int64(len(l.At(k))))
	}
	return n + sampled(elems, k, l.n)
}

// zsetUsage: the ZSet, its member map once it has one (at the largest size
// it reached since it was built, which is what its table was sized for),
// its B+tree, and the members' bytes, which the map and the leaves share.
// The leaves are walked from the first until samples elements are seen;
// their bytes per element (node, item array at its capacity, and once the
// tree has inner nodes the leaf's entry in its parent: child pointer,
// count and separator item) are scaled to the whole set, as are the
// members' bytes. The inner nodes' own headers and spare capacity, and the
// levels above the leaves' parents, are left out: with at least zInnerMin
// children each they are a small fraction of the parents' entries.
func zsetUsage(z *ZSet, samples int64) int64 {
	n := allocBytes(int64(unsafe.Sizeof(*z)))
	if z.dict != nil {
		n += mapBytes(max(z.peak, len(z.dict)), slotStrFloat)
	}
	const itemBytes = int64(unsafe.Sizeof(zitem{}))
	perLeaf := allocBytes(int64(unsafe.Sizeof(znode{})))
	if z.root != nil && !z.root.leaf() {
		perLeaf += ptrBytes + ptrBytes + itemBytes // kids, counts, seps
	}
	var leaves, members int64
	inLeaves, k := 0, 0
	for leaf := z.firstLeaf(); leaf != nil && int64(k) < samples; leaf = leaf.next {
		leaves += perLeaf + allocBytes(int64(cap(leaf.items))*itemBytes)
		inLeaves += len(leaf.items)
		for i := 0; i < len(leaf.items) && int64(k) < samples; i++ {
			members += allocBytes(int64(len(leaf.items[i].member)))
			k++
		}
	}
	return n + sampled(leaves, inLeaves, z.n) + sampled(members, k, z.n)
}

// memFigures are the Go runtime's memory figures, named as Redis names its
// allocator's (see memoryStats).
type memFigures struct {
	allocated int64 // bytes in live and not yet swept heap objects
	active    int64 // bytes in heap spans in use
	resident  int64 // heap bytes obtained from the OS and not returned
	rss       int64 // the process's resident set size
}

func readMemFigures() memFigures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f := memFigures{
		allocated: int64(ms.HeapAlloc),
		active:    int64(ms.HeapInuse),
		resident:  int64(ms.HeapSys - ms.HeapReleased),
		rss:       osmem.RSS(),
	}
	if f.rss <= 0 { // no /proc: what the runtime holds, as INFO does
		f.rss = int64(ms.Sys - ms.HeapReleased)
	}
	return f
}

func ratio(a, b int64) float64 { return float64(a) / float64(max(b, 1)) }

// memoryStats is MEMORY STATS: Redis's fields where Valkyrie has the
// figure, in Redis's order. Left out, because nothing measures them here:
// peak.allocated and startup.allocated (the Go runtime keeps no peak and
// the start-up heap is not recorded), clients.normal, lua.caches and
// functions.caches (the connections own those, not the shards), and the
// figures derived from them: overhead.total, keys.bytes-per-key,
// dataset.bytes, dataset.percentage and peak.percentage. The replication,
// cluster and AOF fields are 0 because Valkyrie has none of them.
//
// total.allocated is INFO's used_memory (accounting.go). The allocator
// figures map onto Go's heap: allocated is the live objects, active the
// spans holding them, resident the heap memory taken from the OS and not
// given back. Each database with keys reports the estimated size of its
// key and TTL maps, summed over the shards (see mapBytes).
func memoryStats(c *Ctx) {
	f := readMemFigures()
	var keys [NumDBs]int
	var main, expires [NumDBs]int64
	var total int
	used := f.allocated
	c.eachShard(func(s *Shard) {
		if s.mem != nil {
			used = s.mem.Used() // INFO's used_memory
		}
		for i := range s.dbs {
			d := &s.dbs[i]
			keys[i] += d.Len()
			total += d.Len()
			if len(d.strs) > 0 {
				main[i] += mapBytes(len(d.strs), slotStrStr)
			}
			if len(d.objs) > 0 {
				main[i] += mapBytes(len(d.objs), slotStrAny)
			}
			if len(d.expires) > 0 {
				expires[i] += mapBytes(len(d.expires), slotStrInt)
			}
		}
	})
	dbs := 0
	for _, n := range keys {
		if n > 0 {
			dbs++
		}
	}
	c.Map(17 + dbs) // the fields below, one per database with keys
	field := func(name string, n int64) {
		c.BulkString(name)
		c.Int(n)
	}
	double := func(name string, x float64) {
		c.BulkString(name)
		c.Double(x)
	}
	field("total.allocated", used)
	field("replication.backlog", 0)
	field("clients.slaves", 0)
	field("cluster.links", 0)
	field("aof.buffer", 0)
	for i, n := range keys {
		if n == 0 {
			continue
		}
		c.BulkString("db." + strconv.Itoa(i))
		c.Map(3)
		field("overhead.hashtable.main", main[i])
		field("overhead.hashtable.expires", expires[i])
		field("overhead.hashtable.slot-to-keys", 0) // no cluster slots
	}
	field("keys.count", int64(total))
	field("allocator.allocated", f.allocated)
	field("allocator.active", f.active)
	field("allocator.resident", f.resident)
	double("allocator-fragmentation.ratio", ratio(f.active, f.allocated))
	field("allocator-fragmentation.bytes", f.active-f.allocated)
	double("allocator-rss.ratio", ratio(f.resident, f.active))
	field("allocator-rss.bytes", f.resident-f.active)
	double("rss-overhead.ratio", ratio(f.rss, f.resident))
	field("rss-overhead.bytes", f.rss-f.resident)
	double("fragmentation", ratio(f.rss, f.allocated))
	field("fragmentation.bytes", f.rss-f.allocated)
}

// Thresholds of MEMORY DOCTOR, Redis's: below doctorSmallHeap there is too
// little data to judge, and a ratio is only worth reporting when the bytes
// it wastes pass doctorWasted.
const (
	doctorSmallHeap = 5 << 20
	doctorWasted    = 10 << 20
)

// memoryDoctor is MEMORY DOCTOR's report on the figures in f, in the same
// spirit as Redis's but from what Go's runtime can tell.
func memoryDoctor(f memFigures) []byte {
	if f.allocated < doctorSmallHeap {
		return []byte("The heap holds less than 5 MB, too little to judge how memory is used. " +
			"Store some data and ask again.\n")
	}
	var out []byte
	issue := func(on bool, text string) {
		if on {
			out = append(out, " * "...)
			out = append(out, text...)
			out = append(out, "\n\n"...)
		}
	}
	issue(ratio(f.rss, f.allocated) > 1.4 && f.rss-f.allocated > doctorWasted,
		"Resident memory: the process's resident set is more than 1.4 times its live heap. "+
			"Usually the heap was once much larger and the pages it no longer uses have not "+
			"been given back yet; MEMORY PURGE returns them now.")
	issue(ratio(f.active, f.allocated) > 1.1 && f.active-f.allocated > doctorWasted,
		"Heap fragmentation: the heap spans in use hold more than 1.1 times the bytes of the "+
			"live objects in them. Spans fill up again as new values are stored; it is only "+
			"a concern if it keeps growing.")
	issue(ratio(f.resident, f.active) > 1.1 && f.resident-f.active > doctorWasted,
		"Idle heap: the runtime keeps more than 1.1 times the heap in use in free spans that "+
			"are still resident. MEMORY PURGE gives them back to the operating system.")
	issue(ratio(f.rss, f.resident) > 1.1 && f.rss-f.resident > doctorWasted,
		"Memory outside the heap: the resident set is more than 1.1 times the heap the runtime "+
			"holds. Goroutine stacks (one per connection) and Lua states live outside the heap.")
	if out == nil {
		return []byte("No memory issue found: the live heap, the spans holding it and the resident " +
			"set are in proportion.\n")
	}
	return append([]byte("A few things about this instance's memory:\n\n"), out...)
}

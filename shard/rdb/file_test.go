package rdb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sEntry is a stream entry of a test: its ID and its fields and values.
type sEntry struct {
	ms, seq uint64
	fv      []string
}

func (e sEntry) id() string { return fmt.Sprintf("%d-%d", e.ms, e.seq) }

func streamID(ms, seq uint64) [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], ms)
	binary.BigEndian.PutUint64(b[8:], seq)
	return b
}

// streamNode builds the listpack of a stream node holding entries, as
// Redis's streamAppendItem lays one out: the master entry (count, deleted,
// the first entry's field names, a 0), then each entry as flags, the ID's
// difference from the master ID, its fields (or only values when the
// fields are the master's), and its element count.
func streamNode(entries []sEntry) StreamNode {
	var lp Listpack
	m := entries[0]
	lp.AddInt(int64(len(entries)))
	lp.AddInt(0)
	lp.AddInt(int64(len(m.fv) / 2))
	for i := 0; i < len(m.fv); i += 2 {
		lp.Add([]byte(m.fv[i]))
	}
	lp.AddInt(0)
	for _, e := range entries {
		same := len(e.fv) == len(m.fv)
		for i := 0; same && i < len(e.fv); i += 2 {
			same = e.fv[i] == m.fv[i]
		}
		n := len(e.fv) / 2
		flags := 0
		if same {
			flags = 2
		}
		lp.AddInt(int64(flags))
		lp.AddInt(int64(e.ms - m.ms))
		lp.AddInt(int64(e.seq - m.seq))
		if !same {
			lp.AddInt(int64(n))
		}
		for i := 0; i < len(e.fv); i += 2 {
			if !same {
				lp.Add([]byte(e.fv[i]))
			}
			lp.Add([]byte(e.fv[i+1]))
		}
		if same {
			lp.AddInt(int64(n + 3))
		} else {
			lp.AddInt(int64(2*n + 4))
		}
	}
	return StreamNode{Key: streamID(m.ms, m.seq), LP: lp.Bytes()}
}

// streamEntries reads back the live entries of a decoded stream.
func streamEntries(v *Value) ([]sEntry, error) {
	var out []sEntry
	for _, nd := range v.Nodes {
		var items []string
		err := EachListpackEntry(nd.LP, func(s []byte, n int64, isInt bool) error {
			if isInt {
				items = append(items, strconv.FormatInt(n, 10))
			} else {
				items = append(items, string(s))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		num := func(i int) int {
			if i >= len(items) {
				return -1
			}
			n, _ := strconv.Atoi(items[i])
			return n
		}
		masterMs := binary.BigEndian.Uint64(nd.Key[:])
		masterSeq := binary.BigEndian.Uint64(nd.Key[8:])
		nf := num(2)
		if nf < 0 || 3+nf >= len(items) {
			return nil, errors.New("bad master entry")
		}
		fields := items[3 : 3+nf]
		p := 3 + nf + 1
		for p < len(items) {
			flags := num(p)
			e := sEntry{ms: masterMs + uint64(num(p+1)), seq: masterSeq + uint64(num(p+2))}
			p += 3
			if flags&2 != 0 {
				for i := range fields {
					e.fv = append(e.fv, fields[i], items[p+i])
				}
				p += len(fields)
			} else {
				n := num(p)
				e.fv = append(e.fv, items[p+1:p+1+2*n]...)
				p += 1 + 2*n
			}
			p++ // lp-count
			if flags&1 == 0 {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// tkey is a key of a test data set: what is written and what Redis
// should report for it.
type tkey struct {
	db      int
	key     string
	exp     int64 // Unix ms or -1
	v       Value // Elems as written (hash: fields and values alternating)
	entries []sEntry
	enc     string // OBJECT ENCODING in Redis 7.0 after loading
	obj     []byte
}

const libCode = "#!lua name=vlib\nredis.register_function('vecho', function(keys, args) return args[1] end)"

func pairsOf(elems []string) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for i := 0; i+1 < len(elems); i += 2 {
			if !yield(elems[i], elems[i+1]) {
				return
			}
		}
	}
}

// sortZ sorts members by score then member, as a sorted set orders them.
func sortZ(m []string, s []float64) {
	idx := make([]int, len(m))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if s[a] != s[b] {
			if s[a] < s[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(m[a], m[b])
	})
	m2, s2 := make([]string, len(m)), make([]float64, len(m))
	for i, j := range idx {
		m2[i], s2[i] = m[j], s[j]
	}
	copy(m, m2)
	copy(s, s2)
}

// plainList is a list in a quicklist with a PLAIN node, as Redis makes
// for elements of 1 GB and more (AppendList cannot make one without such
// an element).
func plainList() tkey {
	k := tkey{key: "list:plain", exp: -1, enc: "quicklist",
		v: Value{Kind: List, Elems: []string{"before", strings.Repeat("P", 100), "after", "7"}}}
	var lp1, lp2 lpWriter
	lp1.add("before")
	lp2.add("after")
	lp2.add("7")
	k.obj = appendStr(appendLen(appendLen([]byte{typeListQuicklist2}, 3), containerPacked), lp1.finish())
	k.obj = appendStr(appendLen(k.obj, containerPlain), k.v.Elems[1])
	k.obj = appendStr(appendLen(k.obj, containerPacked), lp2.finish())
	return k
}

// dataset returns keys of every type, in their small and (with big)
// large forms, some with TTLs, in databases 0 and 1.
func dataset(big bool, now int64) []tkey {
	r := rand.New(rand.NewPCG(7, 8))
	var ks []tkey
	add := func(k tkey) {
		if k.exp == 0 {
			k.exp = -1
		}
		switch k.v.Kind {
		case String:
			k.obj = AppendString(nil, k.v.Str)
		case List:
			k.obj = AppendList(nil, slices.Values(k.v.Elems))
		case Set:
			k.obj = AppendSet(nil, len(k.v.Elems), slices.Values(k.v.Elems), k.enc == "intset")
		case Hash:
			k.obj = AppendHash(nil, len(k.v.Elems)/2, pairsOf(k.v.Elems), k.enc == "listpack")
		case ZSet:
			sortZ(k.v.Elems, k.v.Scores)
			k.obj = AppendZSet(nil, len(k.v.Elems), zip(k.v.Elems, k.v.Scores), k.enc == "listpack")
		}
		ks = append(ks, k)
	}
	rnd := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return string(b)
	}
	words := func(prefix string, n, size int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = prefix + strconv.Itoa(i) + strings.Repeat("x", size)
		}
		return out
	}
	ints := func(n, mul, off int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = strconv.Itoa(i*mul + off)
		}
		return out
	}
	hash := func(n, vsize int) []string {
		var out []string
		for i := range n {
			out = append(out, "f"+strconv.Itoa(i), strconv.Itoa(i*i)+strings.Repeat("v", vsize))
		}
		return out
	}
	zset := func(n int) ([]string, []float64) {
		m := make([]string, n)
		s := make([]float64, n)
		special := []float64{math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1.5, -2.25, 1e300, 0.1}
		for i := range m {
			m[i] = "m" + strconv.Itoa(i)
			if i < len(special) {
				s[i] = special[i]
			} else {
				s[i] = math.Round(r.NormFloat64()*1000) / 8
			}
		}
		return m, s
	}

	// Strings.
	add(tkey{key: "str:int", v: Value{Kind: String, Str: "12345"}, enc: "int"})
	add(tkey{key: "str:neg", v: Value{Kind: String, Str: "-7"}, enc: "int"})
	add(tkey{key: "str:int64", v: Value{Kind: String, Str: "-9223372036854775808"}, enc: "int"})
	add(tkey{key: "str:lead0", v: Value{Kind: String, Str: "007"}, enc: "embstr"})
	add(tkey{key: "str:empty", v: Value{Kind: String, Str: ""}, enc: "embstr"})
	add(tkey{key: "str:short", v: Value{Kind: String, Str: "hello world"}, enc: "embstr", exp: now + 3600_000})
	add(tkey{key: "str:long", v: Value{Kind: String, Str: strings.Repeat("compressible ", 40)}, enc: "raw"})
	add(tkey{key: "str:random", v: Value{Kind: String, Str: rnd(300)}, enc: "raw"})
	add(tkey{key: "123", v: Value{Kind: String, Str: "an integer key"}, enc: "embstr"})
	add(tkey{key: strings.Repeat("long key ", 10), v: Value{Kind: String, Str: "v"}, enc: "embstr"})
	add(tkey{key: "str:expired", v: Value{Kind: String, Str: "gone"}, enc: "embstr", exp: 1000})

	// Lists.
	add(tkey{key: "list:small", v: Value{Kind: List, Elems: []string{"a", "1", "b", "-300", "", "a"}}, enc: "quicklist", exp: now + 7200_123})
	ks = append(ks, plainList())
	// Sets.
	add(tkey{key: "set:intset", v: Value{Kind: Set, Elems: ints(20, 1000, -3)}, enc: "intset"})
	add(tkey{key: "set:intset64", v: Value{Kind: Set, Elems: []string{"1", "5000000000", "-5000000000"}}, enc: "intset"})
	add(tkey{key: "set:strs", v: Value{Kind: Set, Elems: []string{"x", "y", "zz"}}, enc: "hashtable"})
	// Hashes.
	add(tkey{key: "hash:small", v: Value{Kind: Hash, Elems: hash(5, 3)}, enc: "listpack", exp: now + 60_000})
	// Sorted sets.
	m, s := zset(10)
	add(tkey{key: "zset:small", v: Value{Kind: ZSet, Elems: m, Scores: s}, enc: "listpack"})

	// A stream with two nodes, a deleted-free history and two groups.
	var entries []sEntry
	for i := range 6 {
		fv := []string{"name", "n" + strconv.Itoa(i), "count", strconv.Itoa(i * 10)}
		if i == 4 {
			fv = []string{"other", "field"}
		}
		entries = append(entries, sEntry{ms: 1700000000000 + uint64(i/2), seq: uint64(i % 2), fv: fv})
	}
	nodes := []StreamNode{streamNode(entries[:3]), streamNode(entries[3:])}
	last := entries[len(entries)-1]
	meta := StreamMeta{Length: uint64(len(entries)), LastMs: last.ms, LastSeq: last.seq,
		FirstMs: entries[0].ms, FirstSeq: entries[0].seq, EntriesAdded: uint64(len(entries))}
	id1, id2 := streamID(entries[1].ms, entries[1].seq), streamID(entries[2].ms, entries[2].seq)
	groups := []StreamGroup{
		{Name: []byte("g1"), LastMs: entries[2].ms, LastSeq: entries[2].seq, EntriesRead: 3, HasEntriesRead: true,
			PEL: []StreamNACK{{ID: id1, DeliveryTime: 1700000001000, DeliveryCount: 2}, {ID: id2, DeliveryTime: 1700000002000, DeliveryCount: 1}},
			Consumers: []StreamConsumer{
				{Name: []byte("alice"), SeenTime: 1700000002000, PEL: [][16]byte{id1, id2}},
				{Name: []byte("bob"), SeenTime: 1700000000500, PEL: [][16]byte{}},
			}},
		{Name: []byte("g2"), EntriesRead: -1, HasEntriesRead: true, PEL: []StreamNACK{}, Consumers: []StreamConsumer{}},
	}
	st := tkey{db: 1, key: "stream", v: Value{Kind: Stream, Nodes: nodes, Meta: meta, Groups: groups}, entries: entries, enc: "stream"}
	st.obj = AppendStream(nil, nodes, meta, groups)
	st.exp = -1
	ks = append(ks, st)

	// Database 1.
	add(tkey{db: 1, key: "str:int", v: Value{Kind: String, Str: "54321"}, enc: "int", exp: now + 1000_000})
	add(tkey{db: 1, key: "list:small", v: Value{Kind: List, Elems: []string{"only"}}, enc: "quicklist"})

	if !big {
		return ks
	}
	add(tkey{key: "str:huge", v: Value{Kind: String, Str: strings.Repeat("0123456789abcdef", 10000)}, enc: "raw"})
	add(tkey{key: "list:big", v: Value{Kind: List, Elems: words("element-", 5000, 20)}, enc: "quicklist", exp: now + 86400_000})
	add(tkey{key: "list:bigelem", v: Value{Kind: List, Elems: []string{"a", strings.Repeat("b", 20000), "c"}}, enc: "quicklist"})
	add(tkey{key: "set:bigints", v: Value{Kind: Set, Elems: ints(600, 7, 0)}, enc: "hashtable"})
	add(tkey{key: "set:big", v: Value{Kind: Set, Elems: words("member", 1000, 5)}, enc: "hashtable"})
	add(tkey{key: "hash:big", v: Value{Kind: Hash, Elems: hash(600, 2)}, enc: "hashtable"})
	add(tkey{key: "hash:longval", v: Value{Kind: Hash, Elems: []string{"f", strings.Repeat("long", 30)}}, enc: "hashtable"})
	m, s = zset(500)
	add(tkey{key: "zset:big", v: Value{Kind: ZSet, Elems: m, Scores: s}, enc: "skiplist", exp: now + 5000_000})
	add(tkey{db: 1, key: "hash:small", v: Value{Kind: Hash, Elems: hash(100, 10)}, enc: "listpack"})
	return ks
}

// writeFile writes ks as an RDB file, in chunks whose CRC is carried from
// one to the next as the shards will.
func writeFile(ks []tkey, checksum bool) []byte {
	var chunks [][]byte
	h := AppendHeader(nil)
	h = AppendInfoAux(h, 1700000000, 1<<20, false, nil)
	h = AppendFunction(h, libCode)
	chunks = append(chunks, h)
	for db := range 2 {
		var n, nexp uint64
		for _, k := range ks {
			if k.db == db {
				n++
				if k.exp >= 0 {
					nexp++
				}
			}
		}
		c := AppendSelectDB(nil, db)
		c = AppendResizeDB(c, n, nexp)
		chunks = append(chunks, c)
		for _, k := range ks {
			if k.db == db {
				chunks = append(chunks, AppendKeyValue(nil, k.key, k.exp, k.obj))
			}
		}
	}
	var file []byte
	var crc uint64
	for _, c := range chunks {
		crc = CRC64(crc, c)
		file = append(file, c...)
	}
	return AppendEOF(file, crc, checksum)
}

// loaded is what Load reported.
type loaded struct {
	aux     [][2]string
	funcs   []string
	resize  [][3]uint64
	entries []*Entry
}

func loadAll(b []byte) (*loaded, error) {
	var out loaded
	err := Load(bytes.NewReader(b), Handler{
		Aux:      func(k, v string) error { out.aux = append(out.aux, [2]string{k, v}); return nil },
		Function: func(code string) error { out.funcs = append(out.funcs, code); return nil },
		Key:      func(e *Entry) error { out.entries = append(out.entries, e); return nil },
		ResizeDB: func(db int, keys, expires uint64) {
			out.resize = append(out.resize, [3]uint64{uint64(db), keys, expires})
		},
	})
	return &out, err
}

// listpackZeros returns the value k should load as: in a listpack, Redis
// stores a score of -0 as the integer 0.
func listpackZeros(k tkey) *Value {
	w := k.v
	if w.Kind == ZSet && k.enc == "listpack" {
		w.Scores = slices.Clone(w.Scores)
		for i := range w.Scores {
			if w.Scores[i] == 0 {
				w.Scores[i] = 0
			}
		}
	}
	return &w
}

// sameValue compares a loaded value with the expected one, ignoring the
// order of set members and hash fields.
func sameValue(got *Value, want *Value) error {
	if got.Kind != want.Kind {
		return fmt.Errorf("kind %d, want %d", got.Kind, want.Kind)
	}
	switch got.Kind {
	case String:
		if got.Str != want.Str {
			return fmt.Errorf("string %.40q, want %.40q", got.Str, want.Str)
		}
	case List:
		if !slices.Equal(got.Elems, want.Elems) {
			return fmt.Errorf("list of %d, want %d elements", len(got.Elems), len(want.Elems))
		}
	case Set:
		if !slices.Equal(slices.Sorted(slices.Values(got.Elems)), slices.Sorted(slices.Values(want.Elems))) {
			return fmt.Errorf("set differs")
		}
	case Hash:
		g, w := maps.Collect(pairsOf(got.Elems)), maps.Collect(pairsOf(want.Elems))
		if !maps.Equal(g, w) || len(g)*2 != len(got.Elems) {
			return fmt.Errorf("hash differs")
		}
	case ZSet:
		g := map[string]uint64{}
		for i, m := range got.Elems {
			g[m] = math.Float64bits(got.Scores[i])
		}
		w := map[string]uint64{}
		for i, m := range want.Elems {
			w[m] = math.Float64bits(want.Scores[i])
		}
		for m, b := range w {
			if g[m] != b {
				return fmt.Errorf("zset member %q: score %v, want %v", m, math.Float64frombits(g[m]), math.Float64frombits(b))
			}
		}
		if !maps.Equal(g, w) || len(g) != len(got.Elems) {
			return fmt.Errorf("zset differs: %v %v, want %v %v", got.Elems[:min(10, len(got.Elems))], got.Scores[:min(10, len(got.Elems))], want.Elems[:min(10, len(want.Elems))], want.Scores[:min(10, len(want.Elems))])
		}
	case Stream:
		if !reflect.DeepEqual(got.Nodes, want.Nodes) || got.Meta != want.Meta || !reflect.DeepEqual(got.Groups, want.Groups) {
			return fmt.Errorf("stream differs:\n got %+v %+v\nwant %+v %+v", got.Meta, got.Groups, want.Meta, want.Groups)
		}
	}
	return nil
}

func TestCRC64Incremental(t *testing.T) {
	b := writeFile(dataset(false, 1e12), true)
	whole := CRC64(0, b)
	for i := 0; i <= len(b); i += 1 + i/7 {
		if got := CRC64(CRC64(0, b[:i]), b[i:]); got != whole {
			t.Fatalf("split at %d: %#x, want %#x", i, got, whole)
		}
	}
}

func TestFileHeader(t *testing.T) {
	b := AppendHeader(nil)
	if string(b) != "REDIS0010" {
		t.Fatalf("header %q", b)
	}
	// The aux fields as Redis 7.0.15 writes them (bytes taken from a
	// file it saved): integers int-encoded, the rest raw.
	b = AppendAux(nil, "redis-bits", "64")
	if want := "\xfa\x0aredis-bits\xc0\x40"; string(b) != want {
		t.Fatalf("aux %q, want %q", b, want)
	}
	b = AppendAux(nil, "ctime", "1700000000")
	if want := "\xfa\x05ctime\xc2\x00\xf1\x53\x65"; string(b) != want {
		t.Fatalf("aux %q, want %q", b, want)
	}
	if b = AppendKeyValue(nil, "k", 0x0102030405, AppendString(nil, "v")); string(b) != "\xfc\x05\x04\x03\x02\x01\x00\x00\x00\x00\x01k\x01v" {
		t.Fatalf("key record %q", b)
	}
	if b = AppendKeyValue(nil, "k", -1, AppendString(nil, "v")); string(b) != "\x00\x01k\x01v" {
		t.Fatalf("key record %q", b)
	}
	if b = AppendEOF([]byte("x"), 123, false); string(b) != "x\xff\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("EOF without checksum %q", b)
	}
	if b = AppendEOF(nil, CRC64(0, []byte("REDIS0010")), true); binary.LittleEndian.Uint64(b[1:]) != CRC64(0, []byte("REDIS0010\xff")) {
		t.Fatalf("EOF checksum %x", b)
	}
}

func TestFileRoundTrip(t *testing.T) {
	now := int64(1800000000000)
	ks := dataset(true, now)
	b := writeFile(ks, true)
	got, err := loadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	wantAux := [][2]string{{"redis-ver", RedisVersion}, {"redis-bits", strconv.Itoa(strconv.IntSize)},
		{"ctime", "1700000000"}, {"used-mem", "1048576"}, {"aof-base", "0"}}
	if !reflect.DeepEqual(got.aux, wantAux) {
		t.Errorf("aux %q, want %q", got.aux, wantAux)
	}
	if !slices.Equal(got.funcs, []string{libCode}) {
		t.Errorf("functions %q", got.funcs)
	}
	if len(got.resize) != 2 || got.resize[0][0] != 0 || got.resize[1][0] != 1 {
		t.Errorf("resizedb %v", got.resize)
	}
	var want []tkey
	for db := range 2 {
		for _, k := range ks {
			if k.db == db {
				want = append(want, k)
			}
		}
	}
	if len(got.entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(got.entries), len(want))
	}
	for i, e := range got.entries {
		w := want[i]
		if e.DB != w.db || e.Key != w.key || e.ExpireAt != w.exp || e.Idle != -1 || e.Freq != -1 {
			t.Errorf("entry %d: db %d key %.30q expire %d idle %d freq %d, want db %d key %.30q expire %d",
				i, e.DB, e.Key, e.ExpireAt, e.Idle, e.Freq, w.db, w.key, w.exp)
		}
		if err := sameValue(e.Value, listpackZeros(w)); err != nil {
			t.Errorf("key %.30q: %v", w.key, err)
		}
		if w.v.Kind == Stream {
			se, err := streamEntries(e.Value)
			if err != nil || !reflect.DeepEqual(se, w.entries) {
				t.Errorf("stream entries %v (%v), want %v", se, err, w.entries)
			}
		}
	}
	// From a bufio.Reader, nothing after the CRC is consumed.
	br := bufio.NewReaderSize(bytes.NewReader(append(slices.Clip(b), "*1\r\n$4\r\nPING\r\n"...)), 16)
	if err := Load(br, Handler{}); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "*1\r\n$4\r\nPING\r\n" {
		t.Fatalf("after the RDB: %q", rest)
	}
	// The same file from a reader that returns a byte at a time.
	if err := Load(io.LimitReader(&oneByteReader{b}, int64(len(b))), Handler{}); err != nil {
		t.Fatal(err)
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestLoadOpcodes(t *testing.T) {
	build := func(version string, body ...[]byte) []byte {
		b := []byte("REDIS" + version)
		for _, p := range body {
			b = append(b, p...)
		}
		return AppendEOF(b, CRC64(0, b), true)
	}
	str := AppendString(nil, "v")
	// Seconds expiry, idle and freq apply to the next key only.
	b := build("0010",
		[]byte{OpExpireSec}, binary.LittleEndian.AppendUint32(nil, 1700000000),
		[]byte{OpIdle}, appendLen(nil, 1000),
		[]byte{OpFreq, 7},
		AppendKeyValue(nil, "a", -1, str),
		AppendKeyValue(nil, "b", -1, str),
		AppendSelectDB(nil, 5),
		[]byte{OpExpireMs}, binary.LittleEndian.AppendUint64(nil, 42),
		AppendKeyValue(nil, "c", -1, str),
		// An empty list is skipped, as Redis does.
		[]byte{typeListQuicklist2, 1, 'e', 0},
		AppendKeyValue(nil, "d", -1, str),
	)
	got, err := loadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	type k struct {
		db            int
		key           string
		exp, idle     int64
		freq          int
		kind          Kind
		str           string
		numericalSkip bool
	}
	var res []k
	for _, e := range got.entries {
		res = append(res, k{db: e.DB, key: e.Key, exp: e.ExpireAt, idle: e.Idle, freq: e.Freq, kind: e.Value.Kind, str: e.Value.Str})
	}
	want := []k{
		{0, "a", 1700000000000, 1000, 7, String, "v", false},
		{0, "b", -1, -1, -1, String, "v", false},
		{5, "c", 42, -1, -1, String, "v", false},
		{5, "d", -1, -1, -1, String, "v", false},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got %+v\nwant %+v", res, want)
	}

	// Version 4 files have no CRC.
	b = []byte("REDIS0004")
	b = append(AppendKeyValue(b, "a", -1, str), OpEOF)
	if got, err := loadAll(b); err != nil || len(got.entries) != 1 {
		t.Fatalf("version 4: %v", err)
	}

	// Files of older versions, with the encodings of their time.
	b = build("0006",
		[]byte{OpSelectDB, 3},
		[]byte{typeListZiplist}, appendStr(nil, "zl"), appendStr(nil, ziplist("a", "12", "-70000")),
		[]byte{typeHashZipmap}, appendStr(nil, "zm"), appendStr(nil, zipmap("f", "v", "g", "w")),
		[]byte{typeZSetZiplist}, appendStr(nil, "zz"), appendStr(nil, ziplist("m", "1.5", "n", "2")),
		[]byte{typeHashZiplist}, appendStr(nil, "hz"), appendStr(nil, ziplist("f", "1")),
		[]byte{typeListQuicklist}, appendStr(nil, "ql"), appendLen(nil, 2), appendStr(nil, ziplist("x")), appendStr(nil, ziplist("y", "z")),
		[]byte{typeZSet}, appendStr(nil, "oz"), appendLen(nil, 2), appendStr(nil, "a"), []byte{3}, []byte("2.5"), appendStr(nil, "b"), []byte{254},
	)
	got, err = loadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	wantOld := map[string]Value{
		"zl": {Kind: List, Elems: []string{"a", "12", "-70000"}},
		"zm": {Kind: Hash, Elems: []string{"f", "v", "g", "w"}},
		"zz": {Kind: ZSet, Elems: []string{"m", "n"}, Scores: []float64{1.5, 2}},
		"hz": {Kind: Hash, Elems: []string{"f", "1"}},
		"ql": {Kind: List, Elems: []string{"x", "y", "z"}},
		"oz": {Kind: ZSet, Elems: []string{"a", "b"}, Scores: []float64{2.5, math.Inf(1)}},
	}
	if len(got.entries) != len(wantOld) {
		t.Fatalf("old encodings: %d keys", len(got.entries))
	}
	for _, e := range got.entries {
		w := wantOld[e.Key]
		if err := sameValue(e.Value, &w); err != nil || e.DB != 3 {
			t.Errorf("old encodings: %s: db %d %v", e.Key, e.DB, err)
		}
	}

	// What is refused, and how.
	bad := []struct {
		file []byte
		msg  string
	}{
		{build("0011"), "rdb: cannot load RDB version 11 at offset 5"},
		{build("0000"), "rdb: cannot load RDB version 0 at offset 5"},
		{build("00x1"), `rdb: bad RDB version "00x1" at offset 5`},
		{append([]byte("REDIX0010"), make([]byte, 9)...), "rdb: not an RDB file at offset 0"},
		{build("0010", []byte{OpFunction, 1, 'x'}), "rdb: FUNCTION opcode 246 of Redis 7.0 release candidates is not supported at offset 9"},
		{build("0010", []byte{OpModuleAux, 1, 2, 0}), "rdb: module aux data (opcode 247) is not supported at offset 9"},
		{build("0010", []byte{typeModule2, 1, 'k', 0}), "rdb: module value (type 7) is not supported at offset 9"},
		{build("0010", []byte{typeModule, 1, 'k', 0}), "rdb: module value (type 6) is not supported at offset 9"},
		{build("0010", []byte{8, 1, 'k', 0}), "rdb: unknown object type 8 at offset 9"},
		{build("0010", []byte{20, 1, 'k', 0}), "rdb: unknown opcode 20 at offset 9"},
		{build("0010", []byte{typeString, 0xc4}), "rdb: bad string encoding 4 at offset 10"},
		{build("0010", []byte{typeString, 0x82}), "rdb: bad length byte 0x82 at offset 10"},
		{build("0010", []byte{typeSetIntset, 1, 'k', 3, 1, 2, 3}), `rdb: bad value of type 11 for key "k": Intset integrity check failed. at offset 9`},
		{build("0010", []byte{OpSelectDB, 0x81, 0, 0, 0, 1, 0, 0, 0, 0}), "rdb: bad database number 4294967296 at offset 9"},
		{[]byte("REDIS0010\xff"), "rdb: unexpected EOF at offset 10"},
		{[]byte("REDIS00"), "rdb: unexpected EOF at offset 7"},
		{[]byte("REDIS0010\xff12345678"), "rdb: RDB CRC error (file 0x3837363534333231, computed 0x" + fmt.Sprintf("%016x", CRC64(0, []byte("REDIS0010\xff"))) + ") at offset 10"},
	}
	for _, tc := range bad {
		_, err := loadAll(tc.file)
		if err == nil || err.Error() != tc.msg {
			t.Errorf("%q:\n got %v\nwant %s", tc.file, err, tc.msg)
		}
	}
	var le *LoadError
	if _, err := loadAll([]byte("REDIS0010\xff12345678")); !errors.As(err, &le) || !errors.Is(err, ErrChecksum) {
		t.Errorf("bad CRC: %v is not a LoadError wrapping ErrChecksum", err)
	}
	if _, err := loadAll([]byte("REDIS0010")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v does not wrap io.ErrUnexpectedEOF", err)
	}

	// Handler errors stop the load and come back as they are.
	stop := errors.New("stop")
	file := writeFile(dataset(false, 1e12), true)
	for _, h := range []Handler{
		{Aux: func(k, v string) error { return stop }},
		{Function: func(string) error { return stop }},
		{Key: func(*Entry) error { return stop }},
	} {
		if err := Load(bytes.NewReader(file), h); err != stop {
			t.Errorf("handler error: got %v", err)
		}
	}
}

// TestLoadHugeLengths checks that lengths claiming far more than the input
// holds fail without allocating them.
func TestLoadHugeLengths(t *testing.T) {
	huge := appendLen(nil, 1<<40)
	cases := [][]byte{
		append([]byte{typeString, 1, 'k'}, huge...),
		append([]byte{typeList, 1, 'k'}, huge...),
		append([]byte{typeListQuicklist2, 1, 'k'}, huge...),
		append([]byte{typeStreamListpacks2, 1, 'k'}, huge...),
		append(append([]byte{typeString, 1, 'k', 0xc3}, huge...), huge...),       // LZF
		append(append([]byte{typeString, 1, 'k', 0xc3, 4}, huge...), 1, 2, 3, 4), // LZF expanding too much
		append([]byte{OpAux}, huge...),
	}
	for i, c := range cases {
		file := append([]byte("REDIS0010"), c...)
		file = append(file, bytes.Repeat([]byte{1}, 1000)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := Load(bytes.NewReader(file), Handler{})
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("case %d: no error", i)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
			t.Errorf("case %d: allocated %d bytes", i, n)
		}
	}
}

// TestLoadTruncatedAndCorrupt: every prefix of a file fails with an error,
// and so does every flipped byte.
func TestLoadTruncatedAndCorrupt(t *testing.T) {
	file := writeFile(dataset(false, 1e12), true)
	if _, err := loadAll(file); err != nil {
		t.Fatal(err)
	}
	for n := range len(file) {
		_, err := loadAll(file[:n])
		if err == nil {
			t.Fatalf("prefix of %d bytes loads", n)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && n > 9 {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	for i := range file {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(file)
			bad[i] ^= mask
			if _, err := loadAll(bad); err == nil {
				t.Fatalf("byte %d ^ %#x: loads", i, mask)
			}
		}
	}
	// A flip inside a raw string's bytes is only seen by the CRC.
	at := bytes.Index(file, []byte("hello world"))
	bad := bytes.Clone(file)
	bad[at] ^= 0x20
	if _, err := loadAll(bad); !errors.Is(err, ErrChecksum) {
		t.Fatalf("flipped string byte: %v", err)
	}
	// With the CRC written as 0 nothing is checked.
	nocrc := writeFile(dataset(false, 1e12), false)
	if !bytes.HasSuffix(nocrc, make([]byte, 8)) {
		t.Fatal("checksum=false wrote a CRC")
	}
	nocrc[bytes.Index(nocrc, []byte("hello world"))] ^= 0x20
	got, err := loadAll(nocrc)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got.entries {
		if e.Key == "str:short" && e.Value.Str != "Hello world" {
			t.Fatalf("str:short = %q", e.Value.Str)
		}
	}
	// A big file: a sample of prefixes.
	big := writeFile(dataset(true, 1e12), true)
	for n := 0; n < len(big); n += 1 + n/50 {
		if _, err := loadAll(big[:n]); err == nil {
			t.Fatalf("prefix of %d bytes loads", n)
		}
	}
}

func TestCompressionSetting(t *testing.T) {
	t.Cleanup(func() { SetCompression(true) })
	long := strings.Repeat("abcdefgh", 20)
	if !Compression() {
		t.Fatal("compression is off by default")
	}
	obj := AppendString(nil, long)
	if bytes.Contains(obj, []byte(long)) || obj[1] != 0xc0|encLZF {
		t.Fatalf("compression on: written raw: %q", obj)
	}
	SetCompression(false)
	obj = AppendString(nil, long)
	if want := append([]byte{typeString, 0x40, byte(len(long))}, long...); !bytes.Equal(obj, want) {
		t.Fatalf("compression off: %q", obj)
	}
	// Listpacks and keys are strings too.
	if b := AppendKeyValue(nil, long, -1, AppendHash(nil, 1, pairsOf([]string{long, long}), true)); bytes.Count(b, []byte(long)) != 3 {
		t.Fatalf("compression off: listpack or key compressed: %q", b)
	}
	v, err := Decode(Seal(obj))
	if err != nil || v.Str != long {
		t.Fatalf("decode: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(writeFile(dataset(false, 1e12), true))
	f.Add(writeFile(dataset(false, 1e12), false))
	f.Add(unhex(f, redisFileHex))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		err := Load(bytes.NewReader(b), Handler{
			Aux:      func(k, v string) error { return nil },
			Function: func(string) error { return nil },
			Key: func(e *Entry) error {
				if e.Value == nil {
					t.Fatal("nil value")
				}
				n++
				return nil
			},
		})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), "rdb: ") {
				t.Fatalf("error %v is not a LoadError", err)
			}
		}
	})
}

// redisFileHex is a file saved by redis-server 7.0.15 (SAVE) after:
//
//	FUNCTION LOAD "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return 1 end)"
//	SET s1 hello; SET n1 42; SET big abc...abc (30 times); PEXPIREAT s1 4102444800000
//	RPUSH l1 a b 3; SADD i1 1 2 3; SADD s2 x y; HSET h1 f v; ZADD z1 1.5 a 2 b
//	XADD x1 1-1 f v; XADD x1 2-1 f w; XGROUP CREATE x1 g 0
//	XREADGROUP GROUP g c COUNT 1 STREAMS x1 >
//	SELECT 2; SET d2 v2; SADD e ""
const redisFileHex = "" +
	"524544495330303130fa0972656469732d76657206372e302e3135fa0a72656469732d62697473c040fa056374696d65c2b6" +
	"ac136bfa08757365642d6d656dc218331200fa08616f662d62617365c000f5405023216c7561206e616d653d6c6962310a72" +
	"656469732e72656769737465725f66756e6374696f6e28276631272c2066756e6374696f6e286b6579732c20617267732920" +
	"72657475726e203120656e6429fe00fb09010003626967c30b405a0361626361e04b02016263100268310d0d000000020081" +
	"6602817602ff1302783101100000000000000001000000000000000128280000000f00020100010101816602000102010001" +
	"000181760204010201010100018177020401ff02020101010000020101670101010100000000000000010000000000000001" +
	"d6a7da44a201000001010163d6a7da44a20100000100000000000000010000000000000001fc00d8c32cbb03000000027331" +
	"0568656c6c6f12026c3101020f0f00000003008161028162020301ff00026e31c02a0202733202017901780b0269310e0200" +
	"00000300000001000200030011027a311414000000040081610283312e35048162020201fffe02fb02000201650100000264" +
	"32027632ff769809d77e59c0e0"

func TestLoadRedisFile(t *testing.T) {
	file := unhex(t, redisFileHex)
	got, err := loadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	var auxKeys []string
	for _, kv := range got.aux {
		auxKeys = append(auxKeys, kv[0])
	}
	if want := []string{"redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"}; !slices.Equal(auxKeys, want) {
		t.Errorf("aux %q, want %q", auxKeys, want)
	}
	if got.aux[0][1] != "7.0.15" || got.aux[1][1] != "64" || got.aux[4][1] != "0" {
		t.Errorf("aux %q", got.aux)
	}
	if len(got.funcs) != 1 || !strings.HasPrefix(got.funcs[0], "#!lua name=lib1\n") {
		t.Errorf("functions %q", got.funcs)
	}
	if want := [][3]uint64{{0, 9, 1}, {2, 2, 0}}; !reflect.DeepEqual(got.resize, want) {
		t.Errorf("resizedb %v, want %v", got.resize, want)
	}
	want := map[string]Value{
		"big": {Kind: String, Str: strings.Repeat("abc", 30)},
		"h1":  {Kind: Hash, Elems: []string{"f", "v"}},
		"s1":  {Kind: String, Str: "hello"},
		"l1":  {Kind: List, Elems: []string{"a", "b", "3"}},
		"n1":  {Kind: String, Str: "42"},
		"s2":  {Kind: Set, Elems: []string{"x", "y"}},
		"i1":  {Kind: Set, Elems: []string{"1", "2", "3"}},
		"z1":  {Kind: ZSet, Elems: []string{"a", "b"}, Scores: []float64{1.5, 2}},
		"d2":  {Kind: String, Str: "v2"},
		"e":   {Kind: Set, Elems: []string{""}},
	}
	seen := 0
	for _, e := range got.entries {
		wantDB, wantExp := 0, int64(-1)
		if e.Key == "d2" || e.Key == "e" {
			wantDB = 2
		}
		if e.Key == "s1" {
			wantExp = 4102444800000
		}
		if e.DB != wantDB || e.ExpireAt != wantExp {
			t.Errorf("%s: db %d expire %d", e.Key, e.DB, e.ExpireAt)
		}
		if e.Key == "x1" {
			se, err := streamEntries(e.Value)
			wantSE := []sEntry{{1, 1, []string{"f", "v"}}, {2, 1, []string{"f", "w"}}}
			if err != nil || !reflect.DeepEqual(se, wantSE) {
				t.Errorf("stream entries %v (%v)", se, err)
			}
			g := e.Value.Groups
			if len(g) != 1 || string(g[0].Name) != "g" || g[0].LastMs != 1 || g[0].LastSeq != 1 || g[0].EntriesRead != 1 ||
				len(g[0].PEL) != 1 || g[0].PEL[0].ID != streamID(1, 1) || len(g[0].Consumers) != 1 ||
				string(g[0].Consumers[0].Name) != "c" || len(g[0].Consumers[0].PEL) != 1 {
				t.Errorf("stream groups %+v", g)
			}
			seen++
			continue
		}
		w, ok := want[e.Key]
		if !ok {
			t.Errorf("unexpected key %q", e.Key)
			continue
		}
		if err := sameValue(e.Value, &w); err != nil {
			t.Errorf("%s: %v", e.Key, err)
		}
		seen++
	}
	if seen != len(want)+1 {
		t.Errorf("%d keys, want %d", seen, len(want)+1)
	}
	// Every prefix fails, and so does every flipped byte.
	for n := range len(file) {
		if _, err := loadAll(file[:n]); err == nil {
			t.Fatalf("prefix of %d bytes loads", n)
		}
	}
	for i := range file {
		bad := bytes.Clone(file)
		bad[i] ^= 0x10
		if _, err := loadAll(bad); err == nil {
			t.Fatalf("byte %d flipped: loads", i)
		}
	}
}

// Differential tests against redis-server 7.0.15, on ports 7700-7709.

func redisBinaries(t *testing.T) (server, check string) {
	t.Helper()
	server, err1 := exec.LookPath("redis-server")
	check, err2 := exec.LookPath("redis-check-rdb")
	if err1 != nil || err2 != nil {
		t.Skip("redis-server or redis-check-rdb not installed")
	}
	return server, check
}

// startRedis runs redis-server on port with dir/dump.rdb, waits until it
// has loaded the file, and stops it when the test ends.
func startRedis(t *testing.T, server, dir string, port int, extra ...string) string {
	t.Helper()
	logfile := filepath.Join(dir, "redis.log")
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", "--logfile", logfile}, extra...)
	cmd := exec.Command(server, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() // ends when the server exits
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return addr
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logfile)
			t.Fatalf("redis-server exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var typeNames = map[Kind]string{String: "string", List: "list", Set: "set", Hash: "hash", ZSet: "zset", Stream: "stream"}

// checkInRedis checks that the server at addr holds exactly the keys of ks
// that are not expired at now.
func checkInRedis(t *testing.T, addr string, ks []tkey, now int64) {
	t.Helper()
	ctx := context.Background()
	clients := map[int]*redis.Client{}
	client := func(db int) *redis.Client {
		if clients[db] == nil {
			clients[db] = redis.NewClient(&redis.Options{Addr: addr, DB: db})
			t.Cleanup(func() { clients[db].Close() })
		}
		return clients[db]
	}
	sizes := map[int]int64{0: 0, 1: 0}
	for _, k := range ks {
		c := client(k.db)
		if k.exp >= 0 && k.exp < now {
			if n := c.Exists(ctx, k.key).Val(); n != 0 {
				t.Errorf("db %d %.30q: expired key loaded", k.db, k.key)
			}
			continue
		}
		sizes[k.db]++
		if typ := c.Type(ctx, k.key).Val(); typ != typeNames[k.v.Kind] {
			t.Errorf("db %d %.30q: type %q", k.db, k.key, typ)
			continue
		}
		if enc := c.ObjectEncoding(ctx, k.key).Val(); enc != k.enc {
			t.Errorf("db %d %.30q: encoding %q, want %q", k.db, k.key, enc, k.enc)
		}
		if exp, err := c.Do(ctx, "PEXPIRETIME", k.key).Int64(); err != nil || exp != k.exp {
			t.Errorf("db %d %.30q: PEXPIRETIME %d (%v), want %d", k.db, k.key, exp, err, k.exp)
		}
		got := Value{Kind: k.v.Kind}
		switch k.v.Kind {
		case String:
			got.Str = c.Get(ctx, k.key).Val()
		case List:
			got.Elems = c.LRange(ctx, k.key, 0, -1).Val()
		case Set:
			got.Elems = c.SMembers(ctx, k.key).Val()
		case Hash:
			for f, v := range c.HGetAll(ctx, k.key).Val() {
				got.Elems = append(got.Elems, f, v)
			}
		case ZSet:
			for _, z := range c.ZRangeWithScores(ctx, k.key, 0, -1).Val() {
				got.Elems = append(got.Elems, z.Member.(string))
				got.Scores = append(got.Scores, z.Score)
			}
			// Order: both sorted by score then member; -0 and 0 read back
			// as 0 from a reply, so compare scores by value.
			for i := range got.Elems {
				if i < len(k.v.Elems) && (got.Elems[i] != k.v.Elems[i] || got.Scores[i] != k.v.Scores[i]) {
					t.Errorf("db %d %.30q: member %d is %q %v, want %q %v", k.db, k.key, i, got.Elems[i], got.Scores[i], k.v.Elems[i], k.v.Scores[i])
					break
				}
			}
			if len(got.Elems) != len(k.v.Elems) {
				t.Errorf("db %d %.30q: %d members, want %d", k.db, k.key, len(got.Elems), len(k.v.Elems))
			}
			continue
		case Stream:
			checkStreamInRedis(t, c, k)
			continue
		}
		if err := sameValue(&got, &k.v); err != nil {
			t.Errorf("db %d %.30q: %v", k.db, k.key, err)
		}
	}
	for db, n := range sizes {
		if got := client(db).DBSize(ctx).Val(); got != n {
			t.Errorf("db %d: DBSIZE %d, want %d", db, got, n)
		}
	}
	if s, err := client(0).Do(ctx, "FCALL", "vecho", 0, "hi").Text(); err != nil || s != "hi" {
		t.Errorf("FCALL vecho: %q %v", s, err)
	}
}

func checkStreamInRedis(t *testing.T, c *redis.Client, k tkey) {
	ctx := context.Background()
	msgs := c.XRange(ctx, k.key, "-", "+").Val()
	if len(msgs) != len(k.entries) {
		t.Errorf("stream: %d entries, want %d", len(msgs), len(k.entries))
		return
	}
	for i, m := range msgs {
		e := k.entries[i]
		want := map[string]any{}
		for j := 0; j < len(e.fv); j += 2 {
			want[e.fv[j]] = e.fv[j+1]
		}
		if m.ID != e.id() || !reflect.DeepEqual(m.Values, want) {
			t.Errorf("stream entry %d: %s %v, want %s %v", i, m.ID, m.Values, e.id(), want)
		}
	}
	info, err := c.XInfoStream(ctx, k.key).Result()
	if err != nil || info.Length != int64(len(k.entries)) || info.LastGeneratedID != k.entries[len(k.entries)-1].id() ||
		info.EntriesAdded != int64(len(k.entries)) || info.MaxDeletedEntryID != "0-0" || info.RecordedFirstEntryID != k.entries[0].id() {
		t.Errorf("XINFO STREAM %+v %v", info, err)
	}
	groups, err := c.XInfoGroups(ctx, k.key).Result()
	if err != nil || len(groups) != len(k.v.Groups) {
		t.Fatalf("XINFO GROUPS %+v %v", groups, err)
	}
	for i, g := range groups {
		w := k.v.Groups[i]
		lastID := fmt.Sprintf("%d-%d", w.LastMs, w.LastSeq)
		if g.Name != string(w.Name) || g.Consumers != int64(len(w.Consumers)) || g.Pending != int64(len(w.PEL)) ||
			g.LastDeliveredID != lastID || (w.EntriesRead >= 0 && g.EntriesRead != w.EntriesRead) {
			t.Errorf("group %d: %+v, want %s", i, g, w.Name)
		}
		if len(w.PEL) == 0 {
			continue
		}
		pend := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: k.key, Group: g.Name, Start: "-", End: "+", Count: 100}).Val()
		if len(pend) != len(w.PEL) {
			t.Errorf("group %s: %d pending, want %d", g.Name, len(pend), len(w.PEL))
			continue
		}
		for j, p := range pend {
			n := w.PEL[j]
			id := fmt.Sprintf("%d-%d", binary.BigEndian.Uint64(n.ID[:]), binary.BigEndian.Uint64(n.ID[8:]))
			if p.ID != id || p.RetryCount != int64(n.DeliveryCount) || p.Consumer != "alice" {
				t.Errorf("group %s pending %d: %+v, want %s", g.Name, j, p, id)
			}
		}
	}
}

// TestFileLoadsInRedis writes a file with the package and has
// redis-check-rdb and redis-server read it, with compression on and off.
func TestFileLoadsInRedis(t *testing.T) {
	server, check := redisBinaries(t)
	t.Cleanup(func() { SetCompression(true) })
	now := time.Now().UnixMilli()
	ks := dataset(true, now)
	for i, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compression=%v", compress), func(t *testing.T) {
			SetCompression(compress)
			for j := range ks {
				if ks[j].key == "list:plain" {
					ks[j] = plainList()
				} else if ks[j].v.Kind == Stream {
					ks[j].obj = AppendStream(nil, ks[j].v.Nodes, ks[j].v.Meta, ks[j].v.Groups)
				} else {
					ks[j].obj = appendObject(ks[j])
				}
			}
			file := writeFile(ks, true)
			long := strings.Repeat("compressible ", 40)
			if raw := bytes.Contains(file, []byte(long)); raw == compress {
				t.Fatalf("compression %v: long string written raw: %v", compress, raw)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "dump.rdb")
			if err := os.WriteFile(path, file, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(check, path).CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("RDB looks OK")) {
				t.Fatalf("redis-check-rdb: %v\n%s", err, out)
			}
			addr := startRedis(t, server, dir, 7701+i)
			checkInRedis(t, addr, ks, now)
		})
	}
}

// appendObject encodes k's value as dataset does.
func appendObject(k tkey) []byte {
	switch k.v.Kind {
	case String:
		return AppendString(nil, k.v.Str)
	case List:
		return AppendList(nil, slices.Values(k.v.Elems))
	case Set:
		return AppendSet(nil, len(k.v.Elems), slices.Values(k.v.Elems), k.enc == "intset")
	case Hash:
		return AppendHash(nil, len(k.v.Elems)/2, pairsOf(k.v.Elems), k.enc == "listpack")
	}
	return AppendZSet(nil, len(k.v.Elems), zip(k.v.Elems, k.v.Scores), k.enc == "listpack")
}

// TestLoadRedisSave fills a redis-server with the data set, has it SAVE,
// and loads its file.
func TestLoadRedisSave(t *testing.T) {
	server, _ := redisBinaries(t)
	dir := t.TempDir()
	addr := startRedis(t, server, dir, 7705, "--enable-debug-command", "yes")
	ctx := context.Background()
	now := time.Now().UnixMilli()
	ks := dataset(true, now)
	clients := map[int]*redis.Client{}
	for db := range 2 {
		clients[db] = redis.NewClient(&redis.Options{Addr: addr, DB: db})
		defer clients[db].Close()
	}
	do := func(c *redis.Client, args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args[:min(len(args), 3)], err)
		}
	}
	do(clients[0], "FUNCTION", "LOAD", libCode)
	// Elements of 1000 bytes and more get quicklist nodes of their own
	// (PLAIN containers), as elements of 1 GB do by default.
	do(clients[0], "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1000")
	var want []tkey
	for _, k := range ks {
		c := clients[k.db]
		args := func(cmd string, elems []string) []any {
			a := []any{cmd, k.key}
			for _, e := range elems {
				a = append(a, e)
			}
			return a
		}
		switch k.v.Kind {
		case String:
			do(c, "SET", k.key, k.v.Str)
		case List:
			do(c, args("RPUSH", k.v.Elems)...)
		case Set:
			do(c, args("SADD", k.v.Elems)...)
		case Hash:
			do(c, args("HSET", k.v.Elems)...)
		case ZSet:
			a := []any{"ZADD", k.key}
			for i, m := range k.v.Elems {
				a = append(a, strconv.FormatFloat(k.v.Scores[i], 'g', -1, 64), m)
			}
			do(c, a...)
		case Stream:
			for _, e := range k.entries {
				a := []any{"XADD", k.key, e.id()}
				for _, f := range e.fv {
					a = append(a, f)
				}
				do(c, a...)
			}
			do(c, "XGROUP", "CREATE", k.key, "g1", k.entries[0].id(), "ENTRIESREAD", 1)
			do(c, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", 2, "STREAMS", k.key, ">")
			do(c, "XGROUP", "CREATECONSUMER", k.key, "g1", "bob")
			do(c, "XGROUP", "CREATE", k.key, "g2", "0")
		}
		if k.exp >= 0 {
			do(c, "PEXPIREAT", k.key, k.exp)
		}
		if k.exp < 0 || k.exp >= now {
			want = append(want, k)
		}
	}
	do(clients[0], "SAVE")
	file, err := os.ReadFile(filepath.Join(dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := loadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	// Redis compressed the long strings (rdbcompression yes).
	if bytes.Contains(file, []byte(strings.Repeat("compressible ", 40))) {
		t.Error("Redis wrote str:long uncompressed")
	}
	// list:bigelem is three quicklist nodes: packed, PLAIN, packed.
	rec := append([]byte{typeListQuicklist2}, appendStr(nil, "list:bigelem")...)
	if i := bytes.Index(file, rec); i < 0 {
		t.Error("list:bigelem not found")
	} else if p := i + len(rec); file[p] != 3 || file[p+1] != containerPacked || file[p+3+int(file[p+2])] != containerPlain {
		t.Errorf("list:bigelem has no PLAIN node: % x", file[p:p+16])
	}
	// Redis writes its aux fields in the order AppendInfoAux does.
	var auxKeys, ours []string
	for _, kv := range got.aux {
		auxKeys = append(auxKeys, kv[0])
	}
	mine, _ := loadAll(AppendEOF(AppendInfoAux(AppendHeader(nil), 1, 2, false, nil), 0, false))
	for _, kv := range mine.aux {
		ours = append(ours, kv[0])
	}
	if !slices.Equal(auxKeys, ours) || got.aux[0][1] != RedisVersion {
		t.Errorf("Redis's aux fields %q, ours %q", got.aux, mine.aux)
	}
	if !slices.Equal(got.funcs, []string{libCode}) {
		t.Errorf("functions %q", got.funcs)
	}
	byKey := map[[2]string]*Entry{}
	for _, e := range got.entries {
		byKey[[2]string{strconv.Itoa(e.DB), e.Key}] = e
	}
	if len(got.entries) != len(want) {
		t.Errorf("%d keys, want %d", len(got.entries), len(want))
	}
	resize := map[int]uint64{}
	for _, r := range got.resize {
		resize[int(r[0])] = r[1]
	}
	for _, k := range want {
		resize[k.db]--
		e := byKey[[2]string{strconv.Itoa(k.db), k.key}]
		if e == nil {
			t.Errorf("db %d %.30q: missing", k.db, k.key)
			continue
		}
		if e.ExpireAt != k.exp || e.Idle != -1 || e.Freq != -1 {
			t.Errorf("db %d %.30q: expire %d idle %d freq %d, want expire %d", k.db, k.key, e.ExpireAt, e.Idle, e.Freq, k.exp)
		}
		compact := k.enc == "listpack" || k.enc == "intset"
		if e.Value.Kind != Stream && e.Value.Compact != compact {
			t.Errorf("db %d %.30q: Redis wrote compact=%v, we would write %s", k.db, k.key, e.Value.Compact, k.enc)
		}
		if k.v.Kind != Stream {
			if err := sameValue(e.Value, listpackZeros(k)); err != nil {
				t.Errorf("db %d %.30q: %v", k.db, k.key, err)
			}
			continue
		}
		se, err := streamEntries(e.Value)
		if err != nil || !reflect.DeepEqual(se, k.entries) {
			t.Errorf("stream entries %v (%v), want %v", se, err, k.entries)
		}
		g := e.Value.Groups
		if len(g) != 2 || string(g[0].Name) != "g1" || len(g[0].PEL) != 2 || len(g[0].Consumers) != 2 ||
			string(g[0].Consumers[0].Name) != "alice" || len(g[0].Consumers[0].PEL) != 2 ||
			string(g[0].Consumers[1].Name) != "bob" || len(g[0].Consumers[1].PEL) != 0 ||
			g[0].PEL[0].ID != k.v.Groups[0].PEL[0].ID || g[0].PEL[1].ID != k.v.Groups[0].PEL[1].ID ||
			g[0].LastMs != k.v.Groups[0].LastMs || g[0].LastSeq != k.v.Groups[0].LastSeq || g[0].EntriesRead != 3 ||
			string(g[1].Name) != "g2" || g[1].LastMs != 0 || len(g[1].PEL) != 0 {
			t.Errorf("stream groups %+v", g)
		}
		if e.Value.Meta != k.v.Meta {
			t.Errorf("stream meta %+v, want %+v", e.Value.Meta, k.v.Meta)
		}
	}
	for db, n := range resize {
		if n != 0 {
			t.Errorf("db %d: RESIZEDB off by %d", db, n)
		}
	}
	// With an LRU or LFU maxmemory-policy Redis writes IDLE or FREQ
	// before every key.
	for _, policy := range []string{"allkeys-lru", "allkeys-lfu"} {
		do(clients[0], "CONFIG", "SET", "maxmemory-policy", policy)
		do(clients[0], "SAVE")
		file, err := os.ReadFile(filepath.Join(dir, "dump.rdb"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := loadAll(file)
		if err != nil || len(got.entries) != len(want) {
			t.Fatalf("%s: %v", policy, err)
		}
		for _, e := range got.entries {
			if (policy == "allkeys-lru") != (e.Idle >= 0 && e.Freq == -1) || (policy == "allkeys-lfu") != (e.Freq >= 0 && e.Idle == -1) {
				t.Fatalf("%s: %s idle %d freq %d", policy, e.Key, e.Idle, e.Freq)
			}
		}
	}
	// And the file Valkyrie would write for the same data loads the same.
	mineFile := writeFile(want, true)
	again, err := loadAll(mineFile)
	if err != nil || len(again.entries) != len(got.entries) {
		t.Fatalf("reloading: %v", err)
	}
}

// TestZSetListpackScoresLikeRedis: Redis 7.0.15 stores a listpack score
// that converts to a long long without loss (|score| <= 2^62, -0
// included) as an integer entry, and only others as %.17g text. The
// payload is DUMP of
//
//	ZADD z -0 a 1e17 b 4e18 c 5e18 d 9007199254740994 e 0.5 f -4611686018427387904 g
//
// with rdbcompression no.
func TestZSetListpackScoresLikeRedis(t *testing.T) {
	t.Cleanup(func() { SetCompression(true) })
	SetCompression(false)
	const want = "114052520000000e00816702f400000000000000c009816102000181660283302e3504816502f4020000000000200009816202f400008a5d7845630109816302f40000909dceda8237098164028535652b313806ff0a00f874ea7196e56d9e"
	m := []string{"g", "a", "f", "e", "b", "c", "d"}
	s := []float64{-4611686018427387904, math.Copysign(0, -1), 0.5, 9007199254740994, 1e17, 4e18, 5e18}
	if got := hex.EncodeToString(Seal(AppendZSet(nil, len(m), zip(m, s), true))); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

// quicklistNodeCounts returns the number of elements in each node of a
// QUICKLIST_2 object (-1 for a PLAIN node).
func quicklistNodeCounts(t *testing.T, obj []byte) []int {
	t.Helper()
	d := decoder{b: obj[1:]}
	n, _, _ := d.length()
	var out []int
	for range n {
		c, _, _ := d.length()
		s, err := d.str()
		if err != nil {
			t.Fatal(err)
		}
		if c == containerPlain {
			out = append(out, -1)
			continue
		}
		k, err := lpEach(s, func([]byte, int64, bool) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// TestListNodesLikeRedis: a list is cut into quicklist nodes where Redis
// 7.0.15 cuts one built by RPUSH: an element joins the last node while
// the node's listpack bytes, the element's length and 8 stay within 8 KB.
// The counts are those of DUMP from redis-server after
// RPUSH x 0<size e's> 1<size e's> ... (size -1: the integers i*i-5000).
func TestListNodesLikeRedis(t *testing.T) {
	for _, tc := range []struct {
		size, n int
		want    []int
	}{
		{1, 3000, []int{1327, 1168, 505}},
		{10, 1000, []int{552, 448}},
		{25, 1000, []int{276, 272, 272, 180}},
		{-1, 3000, []int{1687, 1313}},
	} {
		var elems []string
		for i := range tc.n {
			if tc.size < 0 {
				elems = append(elems, strconv.Itoa(i*i-5000))
			} else {
				elems = append(elems, strconv.Itoa(i)+strings.Repeat("e", tc.size))
			}
		}
		if got := quicklistNodeCounts(t, AppendList(nil, slices.Values(elems))); !slices.Equal(got, tc.want) {
			t.Errorf("size %d n %d: nodes %v, want %v", tc.size, tc.n, got, tc.want)
		}
	}
}

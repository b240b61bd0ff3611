package aof

import (
	"bytes"
	"encoding/binary"
	"errors"
	"iter"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// rdbFile builds an RDB file from parts appended after the header and aux
// fields, and seals it with EOF and the CRC.
func rdbFile(parts ...[]byte) []byte {
	b := rdb.AppendHeader(nil)
	b = rdb.AppendInfoAux(b, 1700000000, 1000, false, nil)
	for _, p := range parts {
		b = append(b, p...)
	}
	return rdb.AppendEOF(b, rdb.CRC64(0, b), true)
}

func seqOf(s []string) iter.Seq[string] { return slices.Values(s) }

func pairsOf(kv ...string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if !yield(kv[i], kv[i+1]) {
				return
			}
		}
	}
}

type zItem struct {
	m string
	s float64
}

func zitems(items []zItem) iter.Seq2[string, float64] {
	return func(yield func(string, float64) bool) {
		for _, it := range items {
			if !yield(it.m, it.s) {
				return
			}
		}
	}
}

func kv(key string, expireAt int64, obj []byte) []byte {
	return rdb.AppendKeyValue(nil, key, expireAt, obj)
}

// convert runs FromRDB and splits its output into commands (a "#TS:"
// line is kept as a one-element command).
func convert(t *testing.T, file []byte, opts FromRDBOptions) [][]string {
	t.Helper()
	var out bytes.Buffer
	if err := FromRDB(bytes.NewReader(file), &out, opts); err != nil {
		t.Fatal(err)
	}
	return parseCommands(t, out.Bytes())
}

func parseCommands(t *testing.T, b []byte) [][]string {
	t.Helper()
	var cmds [][]string
	if bytes.HasPrefix(b, []byte("#TS:")) {
		i := bytes.Index(b, []byte("\r\n"))
		cmds = append(cmds, []string{string(b[:i])})
		b = b[i+2:]
	}
	r := NewReader(bytes.NewReader(b), 0)
	for {
		args, err := r.Next()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("output does not parse: %v", err)
			}
			return cmds
		}
		var s []string
		for _, a := range args {
			s = append(s, string(a))
		}
		cmds = append(cmds, s)
	}
}

func c(args ...string) []string { return args }

func nums(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return s
}

func TestFromRDBTypes(t *testing.T) {
	list := nums(0, 130)
	set := []string{"a", "b", "c"}
	zs := []zItem{{"m1", 1.5}, {"m2", math.Inf(1)}, {"m3", math.Inf(-1)}, {"m4", 0.1}, {"m5", 3}}
	file := rdbFile(
		rdb.AppendFunction(nil, "#!lua name=lib\nredis.register_function('f', function() return 1 end)"),
		rdb.AppendSelectDB(nil, 0),
		rdb.AppendResizeDB(nil, 7, 1),
		kv("s", -1, rdb.AppendString(nil, "hello")),
		kv("i", 1800000000123, rdb.AppendString(nil, "-12345")),
		kv("l", -1, rdb.AppendList(nil, seqOf(list))),
		kv("si", -1, rdb.AppendSet(nil, 3, seqOf([]string{"1", "2", "3"}), true)),
		kv("ss", -1, rdb.AppendSet(nil, len(set), seqOf(set), false)),
		kv("h", -1, rdb.AppendHash(nil, 2, pairsOf("f1", "v1", "f2", "7"), true)),
		kv("z", -1, rdb.AppendZSet(nil, len(zs), zitems(zs), false)),
		rdb.AppendSelectDB(nil, 5),
		rdb.AppendResizeDB(nil, 1, 0),
		kv("x", -1, rdb.AppendString(nil, "y")),
	)
	got := convert(t, file, FromRDBOptions{Timestamp: 1700000001})
	want := [][]string{
		c("#TS:1700000001"),
		c("FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)"),
		c("SELECT", "0"),
		c("SET", "s", "hello"),
		c("SET", "i", "-12345"),
		c("PEXPIREAT", "i", "1800000000123"),
		append(c("RPUSH", "l"), list[:64]...),
		append(c("RPUSH", "l"), list[64:128]...),
		append(c("RPUSH", "l"), list[128:]...),
		c("SADD", "si", "1", "2", "3"),
		c("SADD", "ss", "a", "b", "c"),
		c("HMSET", "h", "f1", "v1", "f2", "7"),
	}
	// A ZSET_2 is saved from the highest score down; the order of the
	// members is the file's.
	v, err := rdb.DecodeObject(rdb.AppendZSet(nil, len(zs), zitems(zs), false))
	if err != nil {
		t.Fatal(err)
	}
	z := c("ZADD", "z")
	for i, m := range v.Elems {
		z = append(z, strconv.FormatFloat(v.Scores[i], 'g', 17, 64), m)
	}
	z = slices.Clone(z)
	for i := range z {
		z[i] = strings.NewReplacer("+Inf", "inf", "-Inf", "-inf").Replace(z[i])
	}
	want = append(want, z, c("SELECT", "5"), c("SET", "x", "y"))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if !slices.Contains(z, "0.10000000000000001") || !slices.Contains(z, "inf") || !slices.Contains(z, "-inf") {
		t.Fatalf("scores not written as %%.17g: %q", z)
	}

	// Without a timestamp there is no annotation; Now drops keys that
	// expired before it, as a master's RDB load does.
	got = convert(t, file, FromRDBOptions{Now: 1800000000124})
	if got[0][0] != "FUNCTION" {
		t.Fatalf("first command %q", got[0])
	}
	for _, cmd := range got {
		if len(cmd) > 1 && cmd[1] == "i" {
			t.Fatalf("expired key written: %q", cmd)
		}
	}
}

func TestFromRDBBatches(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 128, 129} {
		var kvs []string
		var zs []zItem
		for i := range n {
			kvs = append(kvs, "f"+strconv.Itoa(i), "v")
			zs = append(zs, zItem{"m" + strconv.Itoa(i), float64(i)})
		}
		file := rdbFile(rdb.AppendSelectDB(nil, 0),
			kv("h", -1, rdb.AppendHash(nil, n, pairsOf(kvs...), n <= 128)),
			kv("z", -1, rdb.AppendZSet(nil, n, zitems(zs), n <= 128)),
			kv("s", -1, rdb.AppendSet(nil, n, seqOf(nums(0, n)), true)))
		got := convert(t, file, FromRDBOptions{})
		var sizes []string
		for _, cmd := range got[1:] {
			sizes = append(sizes, cmd[0]+":"+strconv.Itoa(len(cmd)))
		}
		var want []string
		for _, name := range []string{"HMSET", "ZADD", "SADD"} {
			per := 2
			if name == "SADD" {
				per = 1
			}
			for left := n; left > 0; left -= 64 {
				want = append(want, name+":"+strconv.Itoa(2+per*min(left, 64)))
			}
		}
		if !reflect.DeepEqual(sizes, want) {
			t.Fatalf("n=%d: batches %v, want %v", n, sizes, want)
		}
	}
}

// sEntry is a stream entry for the tests.
type sEntry struct {
	ms, seq uint64
	fv      []string
	deleted bool
}

func sid(ms, seq uint64) [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], ms)
	binary.BigEndian.PutUint64(b[8:], seq)
	return b
}

// streamNode lays out a node's listpack as Redis's streamAppendItem does,
// with deleted entries flagged.
func streamNode(entries []sEntry) rdb.StreamNode {
	var lp rdb.Listpack
	m := entries[0]
	live, dead := 0, 0
	for _, e := range entries {
		if e.deleted {
			dead++
		} else {
			live++
		}
	}
	lp.AddInt(int64(live))
	lp.AddInt(int64(dead))
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
			flags |= streamItemSameFields
		}
		if e.deleted {
			flags |= streamItemDeleted
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
	return rdb.StreamNode{Key: sid(m.ms, m.seq), LP: lp.Bytes()}
}

func TestFromRDBStream(t *testing.T) {
	n1 := streamNode([]sEntry{
		{ms: 100, seq: 0, fv: []string{"a", "1", "b", "x"}},
		{ms: 100, seq: 1, fv: []string{"a", "2", "b", "y"}, deleted: true},
		{ms: 105, seq: 0, fv: []string{"c", "z"}},
	})
	n2 := streamNode([]sEntry{
		{ms: 200, seq: 3, fv: []string{"k", "-5"}},
		{ms: 201, seq: 0, fv: []string{"k", "v"}},
	})
	meta := rdb.StreamMeta{Length: 4, LastMs: 300, LastSeq: 0, FirstMs: 100,
		MaxDeletedMs: 100, MaxDelSeq: 1, EntriesAdded: 6}
	groups := []rdb.StreamGroup{
		{Name: []byte("zg"), LastMs: 201, EntriesRead: -1,
			Consumers: []rdb.StreamConsumer{{Name: []byte("idle"), SeenTime: 5}}},
		{Name: []byte("g"), LastMs: 200, LastSeq: 3, EntriesRead: 4,
			PEL: []rdb.StreamNACK{
				{ID: sid(100, 0), DeliveryTime: 1111, DeliveryCount: 2},
				{ID: sid(105, 0), DeliveryTime: 2222, DeliveryCount: 1},
				{ID: sid(200, 3), DeliveryTime: 3333, DeliveryCount: 7},
			},
			Consumers: []rdb.StreamConsumer{
				{Name: []byte("c2"), SeenTime: 9, PEL: [][16]byte{sid(105, 0)}},
				{Name: []byte("c1"), SeenTime: 9, PEL: [][16]byte{sid(200, 3), sid(100, 0)}},
			}},
	}
	empty := rdb.StreamMeta{LastMs: 7, LastSeq: 2, EntriesAdded: 3, MaxDeletedMs: 7, MaxDelSeq: 2}
	file := rdbFile(rdb.AppendSelectDB(nil, 0),
		kv("st", 1900000000000, rdb.AppendStream(nil, []rdb.StreamNode{n1, n2}, meta, groups)),
		kv("e", -1, rdb.AppendStream(nil, nil, empty, nil)))
	got := convert(t, file, FromRDBOptions{})
	want := [][]string{
		c("SELECT", "0"),
		c("XADD", "st", "100-0", "a", "1", "b", "x"),
		c("XADD", "st", "105-0", "c", "z"),
		c("XADD", "st", "200-3", "k", "-5"),
		c("XADD", "st", "201-0", "k", "v"),
		c("XSETID", "st", "300-0", "ENTRIESADDED", "6", "MAXDELETEDID", "100-1"),
		c("XGROUP", "CREATE", "st", "g", "200-3", "ENTRIESREAD", "4"),
		c("XCLAIM", "st", "g", "c1", "0", "100-0", "TIME", "1111", "RETRYCOUNT", "2", "JUSTID", "FORCE"),
		c("XCLAIM", "st", "g", "c1", "0", "200-3", "TIME", "3333", "RETRYCOUNT", "7", "JUSTID", "FORCE"),
		c("XCLAIM", "st", "g", "c2", "0", "105-0", "TIME", "2222", "RETRYCOUNT", "1", "JUSTID", "FORCE"),
		c("XGROUP", "CREATE", "st", "zg", "201-0", "ENTRIESREAD", "-1"),
		c("XGROUP", "CREATECONSUMER", "st", "zg", "idle"),
		c("PEXPIREAT", "st", "1900000000000"),
		c("XADD", "e", "MAXLEN", "0", "0-1", "x", "y"),
		c("XSETID", "e", "7-2", "ENTRIESADDED", "3", "MAXDELETEDID", "7-2"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}

	// A consumer's pending entry missing from its group's PEL.
	groups[1].Consumers[0].PEL = [][16]byte{sid(999, 0)}
	bad := rdbFile(rdb.AppendSelectDB(nil, 0),
		kv("st", -1, rdb.AppendStream(nil, []rdb.StreamNode{n1, n2}, meta, groups)))
	if err := FromRDB(bytes.NewReader(bad), &bytes.Buffer{}, FromRDBOptions{}); !errors.Is(err, ErrStream) {
		t.Fatalf("err %v, want ErrStream", err)
	}
}

func TestEstimateEntriesRead(t *testing.T) {
	m := rdb.StreamMeta{Length: 3, LastMs: 30, EntriesAdded: 3}
	for _, tc := range []struct {
		ms   uint64
		want int64
	}{{0, 0}, {10, 1}, {20, -1}, {30, 3}, {40, -1}} {
		if got := estimateEntriesRead(&m, 10, 0, tc.ms, 0); got != tc.want {
			t.Errorf("id %d-0: %d, want %d", tc.ms, got, tc.want)
		}
	}
	if got := estimateEntriesRead(&rdb.StreamMeta{}, 0, 0, 5, 0); got != 0 {
		t.Errorf("never-used stream: %d", got)
	}
}

// TestFromRDBErrors checks that a bad file and a failing writer are
// reported.
func TestFromRDBErrors(t *testing.T) {
	file := rdbFile(rdb.AppendSelectDB(nil, 0), kv("k", -1, rdb.AppendString(nil, "v")))
	if err := FromRDB(bytes.NewReader(file[:len(file)-3]), &bytes.Buffer{}, FromRDBOptions{}); err == nil {
		t.Fatal("no error for a cut-off file")
	}
	werr := errors.New("disk full")
	if err := FromRDB(bytes.NewReader(file), failWriter{werr}, FromRDBOptions{}); !errors.Is(err, werr) {
		t.Fatalf("err %v, want %v", err, werr)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// TestFromRDBBigKeyFlushes checks that a big key is written out in pieces
// rather than buffered whole.
func TestFromRDBBigKeyFlushes(t *testing.T) {
	elems := make([]string, 20000)
	for i := range elems {
		elems[i] = strings.Repeat("x", 20) + strconv.Itoa(i)
	}
	file := rdbFile(rdb.AppendSelectDB(nil, 0), kv("l", -1, rdb.AppendList(nil, seqOf(elems))))
	var w countWriter
	if err := FromRDB(bytes.NewReader(file), &w, FromRDBOptions{}); err != nil {
		t.Fatal(err)
	}
	if w.writes < 5 || w.max > 2*flushAt {
		t.Fatalf("%d writes, largest %d bytes", w.writes, w.max)
	}
}

type countWriter struct{ writes, max int }

func (w *countWriter) Write(b []byte) (int, error) {
	w.writes++
	w.max = max(w.max, len(b))
	return len(b), nil
}

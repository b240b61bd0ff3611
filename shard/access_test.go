package shard

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// t0 is a Unix time in ms on a whole minute, far from the clocks' wraps.
const t0 = int64(1_700_000_040_000)

func sec(n int64) int64 { return n * 1000 }

// idle runs OBJECT IDLETIME key at now and returns the reply.
func idle(t *testing.T, s *Shard, now int64, key string) string {
	t.Helper()
	return run(t, s, now, "OBJECT", "IDLETIME", key)
}

func TestIdleTimeGrowsAndResetsOnAccess(t *testing.T) {
	s := New(0)
	run(t, s, t0, "SET", "k", "v")
	if got := idle(t, s, t0+sec(5)+999, "k"); got != ":5\r\n" {
		t.Fatalf("IDLETIME 5.999 s after SET = %q, want :5", got)
	}
	// Looks that Redis makes without touching the key.
	for _, args := range [][]string{
		{"TYPE", "k"}, {"TTL", "k"}, {"PTTL", "k"}, {"EXPIRETIME", "k"}, {"PEXPIRETIME", "k"},
		{"EXISTS", "k"}, {"OBJECT", "ENCODING", "k"}, {"OBJECT", "REFCOUNT", "k"},
		{"OBJECT", "IDLETIME", "k"}, {"OBJECT", "FREQ", "k"}, {"MEMORY", "USAGE", "k"},
		{"RANDOMKEY"}, {"KEYS", "*"}, {"SCAN", "0", "TYPE", "string"}, {"DBSIZE"},
	} {
		run(t, s, t0+sec(7), args...)
	}
	if got := idle(t, s, t0+sec(10), "k"); got != ":10\r\n" {
		t.Fatalf("IDLETIME after TYPE, TTL, EXISTS, OBJECT... = %q, want :10", got)
	}

	// Accesses: each resets the clock of the key it names.
	now := t0 + sec(10)
	for _, c := range []struct {
		key  string
		args []string
	}{
		{"k", []string{"GET", "k"}},
		{"k", []string{"SET", "k", "w"}},
		{"k", []string{"TOUCH", "k"}},
		{"k", []string{"EXPIRE", "k", "1000"}},
		{"k", []string{"PERSIST", "k"}},
		{"k", []string{"STRLEN", "k"}},
		{"k", []string{"APPEND", "k", "x"}},
		{"k", []string{"DUMP", "k"}},
		{"k", []string{"MSETNX", "k", "1", "other", "2"}},
		{"h", []string{"HSET", "h", "f", "v"}},
		{"h", []string{"HGET", "h", "f"}},
		{"l", []string{"RPUSH", "l", "a"}},
		{"l", []string{"LRANGE", "l", "0", "-1"}},
		{"n", []string{"INCR", "n"}},
	} {
		run(t, s, now, c.args...)
		if got := idle(t, s, now+sec(30), c.key); got != ":30\r\n" {
			t.Fatalf("after %v: IDLETIME %s 30 s later = %q, want :30", c.args, c.key, got)
		}
		now += sec(60)
		if got := idle(t, s, now, c.key); got == ":0\r\n" {
			t.Fatalf("IDLETIME %s = 0 a minute after %v", c.key, c.args)
		}
		run(t, s, now, c.args...)
		if got := idle(t, s, now, c.key); got != ":0\r\n" {
			t.Fatalf("%v did not reset IDLETIME of %s: %q", c.args, c.key, got)
		}
	}
}

// The clock wraps every 2^24 s (194 days): an idle time across the wrap is
// counted as Redis's estimateObjectIdleTime counts it, a second short.
func TestIdleTimeAcrossTheClockWrap(t *testing.T) {
	s := New(0)
	before := sec(1<<24 - 2) // clock 2^24-2
	run(t, s, before, "SET", "k", "v")
	if got := idle(t, s, before+sec(5), "k"); got != ":4\r\n" {
		t.Fatalf("IDLETIME 5 s later, across the wrap = %q, want :4 (as Redis)", got)
	}
}

func TestFreqCountsAccesses(t *testing.T) {
	s := New(0)
	run(t, s, t0, "SET", "k", "v")
	if got := run(t, s, t0, "OBJECT", "FREQ", "k"); got != kvErr(ErrNoLFU) {
		t.Fatalf("OBJECT FREQ without an LFU policy = %q", got)
	}
	// lfu-log-factor 0 makes every access count.
	s.SetAccessPolicy(true, 0, 1)
	if got := idle(t, s, t0, "k"); got != kvErr(ErrLFU) {
		t.Fatalf("OBJECT IDLETIME with an LFU policy = %q", got)
	}
	run(t, s, t0, "SET", "n", "v")
	freq := func(now int64, key string) string {
		t.Helper()
		return run(t, s, now, "OBJECT", "FREQ", key)
	}
	if got := freq(t0, "n"); got != ":5\r\n" {
		t.Fatalf("FREQ of a new key = %q, want :5 (LFU_INIT_VAL)", got)
	}
	for range 3 {
		run(t, s, t0, "GET", "n")
		run(t, s, t0, "TYPE", "n") // does not count
	}
	if got := freq(t0, "n"); got != ":8\r\n" {
		t.Fatalf("FREQ after 3 GETs = %q, want :8", got)
	}
	run(t, s, t0, "SET", "n", "w") // its lookup counts, and the new value keeps the counter
	if got := freq(t0, "n"); got != ":9\r\n" {
		t.Fatalf("FREQ after SET of the existing key = %q, want :9", got)
	}
	// One less per lfu-decay-time minutes without access.
	if got := freq(t0+sec(3*60), "n"); got != ":6\r\n" {
		t.Fatalf("FREQ 3 minutes later = %q, want :6", got)
	}
	run(t, s, t0+sec(3*60), "GET", "n") // decays to 6, then counts
	if got := freq(t0+sec(3*60), "n"); got != ":7\r\n" {
		t.Fatalf("FREQ after a GET 3 minutes later = %q, want :7", got)
	}
	if got := freq(t0+sec(60*60), "n"); got != ":0\r\n" {
		t.Fatalf("FREQ an hour later = %q, want :0", got)
	}
	s.SetAccessPolicy(true, 0, 0) // lfu-decay-time 0: no decay
	if got := freq(t0+sec(60*60), "n"); got != ":7\r\n" {
		t.Fatalf("FREQ an hour later with lfu-decay-time 0 = %q, want :7", got)
	}

	// With the default lfu-log-factor 10 the counter grows slowly.
	s.SetAccessPolicy(true, 10, 1)
	run(t, s, t0, "SET", "slow", "v")
	for range 1000 {
		run(t, s, t0, "GET", "slow")
	}
	got, _ := strconv.Atoi(strings.TrimSpace(freq(t0, "slow")[1:]))
	if got <= 6 || got > 40 {
		t.Fatalf("FREQ after 1000 GETs with lfu-log-factor 10 = %d, want a logarithmic count (~18)", got)
	}
}

// A command that writes a key without reading it counts one access of the
// value it replaces, as Redis's setKey looks the key up; one that reads it
// first counts that read only. Figures from Redis 7.0.15 with
// lfu-log-factor 0.
func TestFreqOfWrites(t *testing.T) {
	s := New(0)
	s.SetAccessPolicy(true, 0, 1)
	for _, st := range []struct {
		args []string
		key  string
		want string
	}{
		{[]string{"SET", "d", "v"}, "d", ":5\r\n"},
		{[]string{"MSET", "d", "x"}, "d", ":6\r\n"},
		{[]string{"SETEX", "d", "100", "y"}, "d", ":7\r\n"},
		{[]string{"SADD", "s1", "a"}, "s1", ":5\r\n"},
		{[]string{"SINTERSTORE", "d", "s1"}, "d", ":8\r\n"},
		{[]string{"OBJECT", "FREQ", "s1"}, "s1", ":6\r\n"},
		{[]string{"SET", "b1", "x"}, "b1", ":5\r\n"},
		{[]string{"BITOP", "OR", "d", "b1"}, "d", ":9\r\n"},
		{[]string{"OBJECT", "FREQ", "b1"}, "b1", ":6\r\n"},
		{[]string{"ZADD", "z", "1", "a"}, "z", ":5\r\n"},
		{[]string{"ZRANGESTORE", "d", "z", "0", "-1"}, "d", ":10\r\n"},
		{[]string{"MSETNX", "d", "1"}, "d", ":11\r\n"},
		{[]string{"SET", "d", "v"}, "d", ":12\r\n"},
		{[]string{"APPEND", "d", "v"}, "d", ":13\r\n"},
		{[]string{"INCRBY", "n", "100000"}, "n", ":5\r\n"}, // above Redis's shared integers
		{[]string{"INCR", "n"}, "n", ":6\r\n"},
	} {
		run(t, s, t0, st.args...)
		if got := run(t, s, t0, "OBJECT", "FREQ", st.key); got != st.want {
			t.Fatalf("after %v: FREQ %s = %q, want %q", st.args, st.key, got, st.want)
		}
	}
}

func TestRestoreSetsIdleTimeAndFreq(t *testing.T) {
	s := New(0)
	run(t, s, t0, "SET", "src", "bar")
	payload := run(t, s, t0, "DUMP", "src")
	payload = payload[strings.Index(payload, "\r\n")+2 : len(payload)-2] // the bulk string's body
	if got := run(t, s, t0, "RESTORE", "a", "0", payload, "IDLETIME", "1000"); got != kvOK {
		t.Fatalf("RESTORE IDLETIME = %q", got)
	}
	if got := idle(t, s, t0, "a"); got != ":1000\r\n" {
		t.Fatalf("IDLETIME after RESTORE IDLETIME 1000 = %q", got)
	}
	run(t, s, t0, "RESTORE", "b", "0", payload, "FREQ", "100") // FREQ is dropped without LFU
	if got := idle(t, s, t0+sec(2), "b"); got != ":2\r\n" {
		t.Fatalf("IDLETIME after RESTORE FREQ under LRU = %q, want :2", got)
	}
	// The clock is 2^24 s: a longer idle time wraps as Redis's field does.
	run(t, s, t0, "RESTORE", "c", "0", payload, "IDLETIME", strconv.Itoa(1<<24+10))
	if got := idle(t, s, t0, "c"); got != ":11\r\n" {
		t.Fatalf("IDLETIME after RESTORE IDLETIME 2^24+10 = %q, want :11 (as Redis)", got)
	}

	s.SetAccessPolicy(true, 0, 1)
	run(t, s, t0, "RESTORE", "f", "0", payload, "FREQ", "100")
	if got := run(t, s, t0, "OBJECT", "FREQ", "f"); got != ":100\r\n" {
		t.Fatalf("FREQ after RESTORE FREQ 100 = %q", got)
	}
	run(t, s, t0, "RESTORE", "g", "0", payload, "IDLETIME", "50")
	if got := run(t, s, t0, "OBJECT", "FREQ", "g"); got != ":5\r\n" {
		t.Fatalf("FREQ after RESTORE IDLETIME under LFU = %q, want :5", got)
	}

	// RENAME and MOVE keep the value, and its counter, after counting
	// their own lookup; COPY makes a new value.
	run(t, s, t0, "RENAME", "f", "f2")
	if got := run(t, s, t0, "OBJECT", "FREQ", "f2"); got != ":101\r\n" {
		t.Fatalf("FREQ after RENAME = %q, want :101", got)
	}
	run(t, s, t0, "MOVE", "f2", "1")
	if got := kvExec(t, s, 1, wire.RESP2, t0, "OBJECT", "FREQ", "f2"); got != ":102\r\n" {
		t.Fatalf("FREQ after MOVE = %q, want :102", got)
	}
	kvExec(t, s, 1, wire.RESP2, t0, "COPY", "f2", "f3")
	if got := kvExec(t, s, 1, wire.RESP2, t0, "OBJECT", "FREQ", "f3"); got != ":5\r\n" {
		t.Fatalf("FREQ of a COPY = %q, want :5", got)
	}
	if got := kvExec(t, s, 1, wire.RESP2, t0, "OBJECT", "FREQ", "f2"); got != ":103\r\n" {
		t.Fatalf("FREQ of COPY's source = %q, want :103", got)
	}
}

// TestMapSlot pins what mapslot.go relies on: the runtime's lookup finds
// the value's slot in maps of every size, a write through it is what the
// map holds, and a miss gives nil.
func TestMapSlot(t *testing.T) {
	db := &DB{}
	if db.strSlot([]byte("x")) != nil || db.objSlot([]byte("x")) != nil {
		t.Fatal("a slot in a nil map")
	}
	for n := 1; n <= 2000; n = n*3 + 1 {
		db := &DB{}
		for i := range n {
			k := "key:" + strconv.Itoa(i)
			db.setStrMeta(k, "v"+strconv.Itoa(i), false, uint32(i))
			db.setMeta([]byte("o"+k), &List{}, false, uint32(i))
		}
		for i := range n {
			k := []byte("key:" + strconv.Itoa(i))
			e := db.strSlot(k)
			if e == nil || e.str() != "v"+strconv.Itoa(i) || e.meta() != uint32(i) {
				t.Fatalf("n=%d: strSlot(%s) = %+v", n, k, e)
			}
			e.setMeta(lruMax - uint32(i))
			o := db.objSlot(append([]byte("o"), k...))
			if o == nil || o.meta != uint32(i) {
				t.Fatalf("n=%d: objSlot(o%s) = %+v", n, k, o)
			}
			o.meta = uint32(i) + 7
		}
		for i := range n {
			k := "key:" + strconv.Itoa(i)
			if e := db.strs[k]; e.meta() != lruMax-uint32(i) || e.str() != "v"+strconv.Itoa(i) {
				t.Fatalf("n=%d: %s holds %q meta %d after a write through its slot", n, k, e.str(), e.meta())
			}
			if o := db.objs["o"+k]; o.meta != uint32(i)+7 {
				t.Fatalf("n=%d: o%s holds meta %d after a write through its slot", n, k, o.meta)
			}
		}
		if db.strSlot([]byte("missing")) != nil || db.objSlot([]byte("missing")) != nil {
			t.Fatalf("n=%d: a slot for a missing key", n)
		}
	}
}

func TestStrEntry(t *testing.T) {
	for _, s := range []string{"", "a", "hello world", string(make([]byte, 1<<20))} {
		e := mkStr(s, lruMax, false)
		if e.str() != s || e.meta() != lruMax {
			t.Fatalf("mkStr(%d bytes) = %d bytes, meta %d", len(s), len(e.str()), e.meta())
		}
		e.setMeta(12345)
		if e.str() != s || e.meta() != 12345 {
			t.Fatalf("setMeta changed the string or kept the meta: %d bytes, meta %d", len(e.str()), e.meta())
		}
	}
}

// BenchmarkExecGetClockTicks is BenchmarkExecGet with the clock one second
// further on every batch: every GET then writes its key's metadata, the
// worst case of reads spread over many keys.
func BenchmarkExecGetClockTicks(b *testing.B) {
	numberStatsForBench()
	s := New(0)
	s.Exec(benchBatch("set", 100, true), 0)
	batch := benchBatch("get", 100, false)
	now := time.Now().UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		now += 1000
		s.Exec(batch, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

// BenchmarkExecGetLFU is BenchmarkExecGet under an LFU policy with the
// default lfu-log-factor.
func BenchmarkExecGetLFU(b *testing.B) {
	numberStatsForBench()
	s := New(0)
	s.SetAccessPolicy(true, 10, 1)
	s.Exec(benchBatch("set", 100, true), 0)
	batch := benchBatch("get", 100, false)
	now := time.Now().UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

// The two ways to write a read's metadata back, on 1000 keys: through
// the slot pointer of the runtime's lookup (what the shard does), and by
// assigning the entry again, which hashes a second time and must store a
// heap copy of the key (an allocation per write).
func BenchmarkMetaWriteBack(b *testing.B) {
	db := &DB{}
	var keys [][]byte
	for i := range 1000 {
		k := "key:" + strconv.Itoa(i)
		db.setStrMeta(k, "0123456789abcdef", false, 0)
		keys = append(keys, []byte(k))
	}
	b.Run("slot", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k := keys[i%len(keys)]
			if e := db.strSlot(k); e != nil && e.meta() != uint32(i) {
				e.setMeta(uint32(i) & lruMax)
			}
		}
	})
	b.Run("assign", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k := keys[i%len(keys)]
			if e, ok := db.strs[string(k)]; ok && e.meta() != uint32(i) {
				e.setMeta(uint32(i) & lruMax)
				db.strs[string(k)] = e
			}
		}
	})
}

// The heap held by 1M small strings in a map, with the metadata packed in
// the length word (strEntry) or in a word of its own.
func BenchmarkMetaMapBytes(b *testing.B) {
	type wide struct {
		s    string
		meta uint32
	}
	const n = 1 << 20
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
	}
	heap := func(fill func()) float64 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		fill()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		return float64(m1.HeapAlloc-m0.HeapAlloc) / n
	}
	for i := 0; i < b.N; i++ {
		var packed map[string]strEntry
		var side map[string]wide
		b.ReportMetric(heap(func() {
			packed = make(map[string]strEntry)
			for _, k := range keys {
				packed[k] = mkStr("v", 1, false)
			}
		}), "B/key-packed")
		b.ReportMetric(heap(func() {
			side = make(map[string]wide)
			for _, k := range keys {
				side[k] = wide{"v", 1}
			}
		}), "B/key-wide")
		runtime.KeepAlive(packed)
		runtime.KeepAlive(side)
	}
}

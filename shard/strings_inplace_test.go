package shard

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// strPtr is where key's stored string starts, or nil.
func strPtr(s *Shard, key string) *byte {
	if e := s.dbs[0].strSlot([]byte(key)); e != nil {
		return e.p
	}
	return nil
}

func TestSetOverwritesItsOwnValueInPlace(t *testing.T) {
	s := New(0)
	a, b := strings.Repeat("a", 1000), strings.Repeat("b", 1010)
	run(t, s, 1000, "SET", "key", a)
	p := strPtr(s, "key")
	used := s.dbs[0].used
	run(t, s, 1000, "SET", "key", b)
	if strPtr(s, "key") != p {
		t.Fatal("a SET of the same size class allocated a new value")
	}
	if s.dbs[0].used != used {
		t.Fatalf("used_memory moved from %d to %d within one size class", used, s.dbs[0].used)
	}
	if got := run(t, s, 1000, "GET", "key"); got != "$1010\r\n"+b+"\r\n" {
		t.Fatalf("GET after an overwrite in place: %.40q", got)
	}
	// A value of another size class, or one the entry does not own, takes
	// a new allocation.
	run(t, s, 1000, "SET", "key", strings.Repeat("c", 3000))
	if strPtr(s, "key") == p {
		t.Fatal("a larger value was written over a smaller allocation")
	}
}

func TestSetNeverChangesAStringItHandedOut(t *testing.T) {
	s := New(0)
	a := strings.Repeat("a", 100)
	run(t, s, 1000, "SET", "key", a)
	got, _, _ := s.dbs[0].getStr([]byte("key"), 1000) // as a reply, a script or COPY holds it
	run(t, s, 1000, "SET", "key", strings.Repeat("b", 100))
	if got != a {
		t.Fatalf("a string handed out changed under its holder: %.20q", got)
	}
	// Each way out: GET (getStr) and the boxed get. peek and DEBUG's raw
	// view only let a command look (OBJECT, MEMORY USAGE, DEBUG OBJECT):
	// the entry keeps its string.
	ways := map[string]func(db *DB){
		"getStr": func(db *DB) { db.getStr([]byte("k"), 1000) },
		"get":    func(db *DB) { db.get([]byte("k"), 1000) },
		"peek":   func(db *DB) { db.peek([]byte("k"), 1000) },
		"raw":    func(db *DB) { db.raw("k") },
	}
	for name, read := range ways {
		run(t, s, 1000, "SET", "k", strings.Repeat("x", 40))
		if !s.dbs[0].strSlot([]byte("k")).owned() {
			t.Fatalf("%s: SET's own value is not owned", name)
		}
		read(&s.dbs[0])
		looks := name == "peek" || name == "raw"
		if owned := s.dbs[0].strSlot([]byte("k")).owned(); owned != looks {
			t.Fatalf("%s: the entry owns its value afterwards: %v, want %v", name, owned, looks)
		}
	}
}

func TestCopiedValueSurvivesAnOverwrite(t *testing.T) {
	s := New(0)
	a := strings.Repeat("a", 200)
	run(t, s, 1000, "SET", "src", a)
	run(t, s, 1000, "COPY", "src", "dst")
	run(t, s, 1000, "SET", "src", strings.Repeat("b", 200))
	if got := run(t, s, 1000, "GET", "dst"); got != "$200\r\n"+a+"\r\n" {
		t.Fatalf("COPY's destination changed with its source: %.30q", got)
	}
	run(t, s, 1000, "SET", "x", a)
	run(t, s, 1000, "RENAME", "x", "y")
	run(t, s, 1000, "SET", "y", strings.Repeat("c", 200))
	if got := run(t, s, 1000, "GET", "y"); got != "$200\r\n"+strings.Repeat("c", 200)+"\r\n" {
		t.Fatalf("SET after RENAME: %.30q", got)
	}
}

func TestOverwriteInPlaceKeepsSetSemantics(t *testing.T) {
	s := New(0)
	v := func(c byte) string { return strings.Repeat(string(c), 64) }
	strRun(t, s, 1000, []strCase{
		{[]string{"SET", "k", v('a'), "EX", "100"}, "+OK\r\n"},
		{[]string{"SET", "k", v('b')}, "+OK\r\n"}, // drops the TTL
		{[]string{"TTL", "k"}, ":-1\r\n"},
		{[]string{"SET", "k", v('c'), "PX", "5000"}, "+OK\r\n"},
		{[]string{"SET", "k", v('d'), "KEEPTTL"}, "+OK\r\n"},
		{[]string{"PTTL", "k"}, ":5000\r\n"},
		{[]string{"SET", "k", v('e'), "NX"}, "$-1\r\n"},
		{[]string{"SET", "k", v('f'), "XX"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$64\r\n" + v('f') + "\r\n"},
		{[]string{"SET", "k", v('g'), "GET"}, "$64\r\n" + v('f') + "\r\n"},
		{[]string{"SET", "k", v('h'), "PXAT", "1"}, "+OK\r\n"}, // in the past: deleted
		{[]string{"EXISTS", "k"}, ":0\r\n"},
	})
	// A key past its TTL is expired, not overwritten: the write starts
	// afresh and the expiry is counted.
	run(t, s, 1000, "SET", "t", v('a'), "PX", "10")
	run(t, s, 2000, "SET", "t", v('b'))
	if s.ExpiredKeys != 1 {
		t.Fatalf("expired_keys %d after overwriting an expired key, want 1", s.ExpiredKeys)
	}
}

func TestOwnedOnlyWhenTheValueFollowsItsKey(t *testing.T) {
	c := &Ctx{}
	k, v := c.keyValue([]byte("key"), []byte("value"))
	if !ownable(k, v) {
		t.Fatal("keyValue's value is not ownable")
	}
	k, v = c.keyValue([]byte("key"), nil)
	if ownable(k, v) {
		t.Fatal("an empty value is ownable: its pointer need not follow the key")
	}
	if ownable("key", "value") {
		t.Fatal("two separate strings are ownable")
	}
	s := New(0)
	run(t, s, 1000, "SET", "n", "12") // a shared integer
	if s.dbs[0].strSlot([]byte("n")).owned() {
		t.Fatal("a shared integer is owned")
	}
}

func TestSizeClassesMatchTheRuntime(t *testing.T) {
	if !classesMatch {
		t.Fatal("sizeClasses differ from the running allocator's: SET never writes in place")
	}
	for _, tc := range []struct {
		a, b int
		want bool
	}{
		{100, 110, true}, {100, 120, false}, {1024, 1024, true}, {40000, 40000, false},
		// Under 16 bytes a write may not grow: the block may hold others.
		{8, 12, false}, {8, 8, true}, {8, 5, true}, {16, 12, true}, {12, 16, false}, {17, 15, false},
	} {
		if got := sameClass(tc.a, tc.b); got != tc.want {
			t.Errorf("sameClass(%d, %d) = %v", tc.a, tc.b, got)
		}
	}
}

// TestPipelinedOverwritesReplyEachValue runs GET and SET of one key in a
// single batch: each GET's reply holds the value of its moment.
func TestPipelinedOverwritesReplyEachValue(t *testing.T) {
	s := New(0)
	vals := []string{strings.Repeat("a", 5000), strings.Repeat("b", 5000), strings.Repeat("c", 5000)}
	b := &Batch{Proto: wire.RESP2}
	add := func(args ...string) {
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		b.Calls = append(b.Calls, Call{Cmd: Lookup(strings.ToLower(args[0])), Args: argv})
	}
	for _, v := range vals {
		add("SET", "k", v)
		add("GET", "k")
		add("SET", "k", strings.Repeat("z", 5000))
	}
	s.Exec(b, 1000)
	for i, v := range vals {
		if got := string(b.Reply(3*i + 1)); got != "$5000\r\n"+v+"\r\n" {
			t.Fatalf("GET %d: %.20q", i, got)
		}
	}
	if unsafe.Sizeof(strEntry{}) != 16 {
		t.Fatal("strEntry grew past a string header")
	}
}

// TestSnapshotKeepsTheValueOverwrittenInPlace overwrites a key the
// snapshot has not written yet: the file holds the value of its instant.
func TestSnapshotKeepsTheValueOverwrittenInPlace(t *testing.T) {
	s := New(0)
	old := strings.Repeat("a", 300)
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		run(t, s, 1000, "SET", k, old)
	}
	want := shardContents(t, s, 1000)
	s.BeginSnapshot(1, 1000)
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		p := strPtr(s, k)
		run(t, s, 1000, "SET", k, strings.Repeat("b", 300))
		if strPtr(s, k) != p {
			t.Fatalf("%s was not overwritten in place", k)
		}
	}
	if got := fileContents(t, snapshotRecords(t, s, 1)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the snapshot holds values written after its instant:\n%.200v", got)
	}
}

// TestOverwriteInPlaceCountsAnAccess: under an LFU policy SET's lookup
// counts, in place or not, and MSET's write counts once.
func TestOverwriteInPlaceCountsAnAccess(t *testing.T) {
	s := New(0)
	s.SetAccessPolicy(true, 0, 1) // every access counts
	v := strings.Repeat("v", 100)
	run(t, s, t0, "SET", "k", v) // a new key: LFU_INIT_VAL, 5
	p := strPtr(s, "k")
	run(t, s, t0, "SET", "k", v)
	run(t, s, t0, "SET", "k", v)
	run(t, s, t0, "MSET", "k", v)
	if strPtr(s, "k") != p {
		t.Fatal("the SETs were not in place")
	}
	if got := run(t, s, t0, "OBJECT", "FREQ", "k"); got != ":8\r\n" {
		t.Fatalf("FREQ after two SETs and an MSET = %q, want :8", got)
	}
}

func TestIncrWritesTheNumberInPlace(t *testing.T) {
	s := New(0)
	s.SetAccessPolicy(true, 0, 1) // every access counts
	run(t, s, t0, "SET", "counter:some-longer-name", "100000")
	run(t, s, t0, "PEXPIRE", "counter:some-longer-name", "100000")
	p := strPtr(s, "counter:some-longer-name")
	for i := 0; i < 5; i++ {
		run(t, s, t0, "INCRBY", "counter:some-longer-name", "1000")
	}
	if strPtr(s, "counter:some-longer-name") != p {
		t.Fatal("INCR of an owned number allocated a new one")
	}
	strRun(t, s, t0, []strCase{
		{[]string{"GET", "counter:some-longer-name"}, "$6\r\n105000\r\n"},
		{[]string{"PTTL", "counter:some-longer-name"}, ":100000\r\n"},               // INCR keeps the TTL
		{[]string{"OBJECT", "FREQ", "counter:some-longer-name"}, freqOfShortKey(t)}, // as off the in-place path
		{[]string{"DECRBY", "counter:some-longer-name", "100000"}, ":5000\r\n"},
		{[]string{"GET", "counter:some-longer-name"}, "$4\r\n5000\r\n"},
	})
}

// freqOfShortKey is OBJECT FREQ after TestIncrWritesTheNumberInPlace's
// commands on a short key whose number grows a digit each time: under 16
// bytes a longer value is never written in place.
func freqOfShortKey(t *testing.T) string {
	s := New(0)
	s.SetAccessPolicy(true, 0, 1)
	run(t, s, t0, "SET", "c", "100000")
	run(t, s, t0, "PEXPIRE", "c", "100000")
	for _, by := range []string{"900000", "9000000", "90000000", "900000000", "9000000000"} {
		p := strPtr(s, "c")
		run(t, s, t0, "INCRBY", "c", by)
		if strPtr(s, "c") == p {
			t.Fatal("a longer number was written in place in under 16 bytes")
		}
	}
	run(t, s, t0, "GET", "c")
	run(t, s, t0, "PTTL", "c")
	return run(t, s, t0, "OBJECT", "FREQ", "c")
}

// hashValuePtr is where field f's value of the hash at key starts.
func hashValuePtr(s *Shard, key, f string) *byte {
	h := s.dbs[0].objs[key].v.(*Hash)
	return unsafe.StringData(h.m[f])
}

func TestHSetWritesOverItsOwnValue(t *testing.T) {
	s := New(0)
	a, b := strings.Repeat("a", 1000), strings.Repeat("b", 1000)
	run(t, s, t0, "HSET", "h", "f", a, "g", "x")
	p := hashValuePtr(s, "h", "f")
	run(t, s, t0, "HSET", "h", "f", b)
	if hashValuePtr(s, "h", "f") != p {
		t.Fatal("HSET of a value of the same size class allocated")
	}
	run(t, s, t0, "COPY", "h", "h2")
	run(t, s, t0, "HSET", "h", "f", a)
	strRun(t, s, t0, []strCase{
		{[]string{"HGET", "h", "f"}, "$1000\r\n" + a + "\r\n"},
		{[]string{"HGET", "h2", "f"}, "$1000\r\n" + b + "\r\n"}, // the copy keeps its own
		{[]string{"HINCRBY", "h", "g", "1"}, "-ERR hash value is not an integer\r\n"},
		{[]string{"HGET", "h", "g"}, "$1\r\nx\r\n"},
	})
	got, _ := s.dbs[0].objs["h"].v.(*Hash).get([]byte("f")) // as SORT keeps it
	run(t, s, t0, "HSET", "h", "f", b)
	if got != a {
		t.Fatal("a value Hash.get returned changed with the hash")
	}
	// A counter in a large hash is rewritten in place too.
	run(t, s, t0, "HSET", "h", "counter-with-a-long-name", "1000000")
	p = hashValuePtr(s, "h", "counter-with-a-long-name")
	run(t, s, t0, "HINCRBY", "h", "counter-with-a-long-name", "5")
	if hashValuePtr(s, "h", "counter-with-a-long-name") != p {
		t.Fatal("HINCRBY allocated")
	}
	if got := run(t, s, t0, "HGET", "h", "counter-with-a-long-name"); got != "$7\r\n1000005\r\n" {
		t.Fatalf("HGET after HINCRBY in place = %q", got)
	}
}

func TestSnapshotKeepsTheHashValueOverwrittenInPlace(t *testing.T) {
	s := New(0)
	old := strings.Repeat("a", 300)
	run(t, s, t0, "HSET", "h", "f", old)
	want := shardContents(t, s, t0)
	s.BeginSnapshot(1, t0)
	p := hashValuePtr(s, "h", "f")
	run(t, s, t0, "HSET", "h", "f", strings.Repeat("b", 300))
	if hashValuePtr(s, "h", "f") != p {
		t.Fatal("not written in place")
	}
	if got := fileContents(t, snapshotRecords(t, s, 1)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the snapshot holds the value written after its instant")
	}
}

func TestMetadataNeverSetsTheFlags(t *testing.T) {
	e := mkStr("value", strOwnBit|strSnapBit|7, false)
	if e.owned() || e.marked() || e.meta() != 7 || e.len() != 5 {
		t.Fatalf("mkStr let metadata reach the flags: owned %v marked %v meta %d len %d", e.owned(), e.marked(), e.meta(), e.len())
	}
	e.setMeta(strOwnBit | 9)
	if e.owned() || e.meta() != 9 {
		t.Fatal("setMeta let metadata reach the owned flag")
	}
}

// TestReadsThatReplyAtOnceKeepTheOwnership: GET, MGET and LCS copy into the
// reply, so a key read between SETs is still written in place, and each
// reply holds the value of its moment.
func TestReadsThatReplyAtOnceKeepTheOwnership(t *testing.T) {
	s := New(0)
	a, b := strings.Repeat("a", 500), strings.Repeat("b", 500)
	run(t, s, t0, "SET", "k", a)
	p := strPtr(s, "k")
	got := []string{run(t, s, t0, "GET", "k"), run(t, s, t0, "MGET", "k", "k")}
	run(t, s, t0, "LCS", "k", "k", "LEN")
	run(t, s, t0, "SET", "k", b)
	if strPtr(s, "k") != p {
		t.Fatal("a key read by GET, MGET and LCS was not written in place")
	}
	if got[0] != "$500\r\n"+a+"\r\n" || got[1] != "*2\r\n$500\r\n"+a+"\r\n$500\r\n"+a+"\r\n" {
		t.Fatal("a reply changed with the value")
	}
	if r := run(t, s, t0, "GET", "k"); r != "$500\r\n"+b+"\r\n" {
		t.Fatalf("GET after the overwrite: %.20q", r)
	}
}

func TestShortValuesAreWrittenInPlaceUnlessShared(t *testing.T) {
	s := New(0)
	run(t, s, t0, "SET", "key:__rand_int__", "xxx")
	p := strPtr(s, "key:__rand_int__")
	run(t, s, t0, "SET", "key:__rand_int__", "yyy")
	if strPtr(s, "key:__rand_int__") != p {
		t.Fatal("a 3-byte value that is no integer was not written in place")
	}
	run(t, s, t0, "SET", "key:__rand_int__", "123") // a shared integer, as before
	if got := run(t, s, t0, "OBJECT", "REFCOUNT", "key:__rand_int__"); got != ":2147483647\r\n" {
		t.Fatalf("OBJECT REFCOUNT of a small integer = %q, want the shared one's", got)
	}
}

// snapshotRecords writes the rest of snapshot gen of s, one key per slice.
func snapshotRecords(t *testing.T, s *Shard, gen uint64) []byte {
	t.Helper()
	var records []byte
	for {
		recs, last, err := s.SnapshotSlice(gen, 1)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, recs...)
		if last {
			return records
		}
	}
}

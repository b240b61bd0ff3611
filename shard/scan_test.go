package shard

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/dgryski/go-farm"
)

// scanReply parses a SCAN-style reply: *2 $cursor *n $item...
func scanReply(t *testing.T, raw string) (string, []string) {
	t.Helper()
	lines := strings.Split(raw, "\r\n")
	if len(lines) < 4 || lines[0] != "*2" {
		t.Fatalf("not a scan reply: %q", raw)
	}
	cursor := lines[2]
	n, err := strconv.Atoi(strings.TrimPrefix(lines[3], "*"))
	if err != nil {
		t.Fatalf("bad item count in %q", raw)
	}
	var items []string
	for i := 0; i < n; i++ {
		items = append(items, lines[5+2*i])
	}
	return cursor, items
}

// TestScanGuarantee checks Redis's SCAN guarantee while the keyspace
// changes between calls: every key present from the first call to the last
// is returned, and a full iteration ends with cursor 0.
func TestScanGuarantee(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	s := New(0)
	stable := map[string]bool{}
	for i := 0; i < 2000; i++ {
		k := "k" + strconv.Itoa(i)
		run(t, s, 0, "SET", k, "v")
		if i%2 == 0 {
			stable[k] = true // never touched during the scan
		}
	}
	seen := map[string]bool{}
	cursor := "0"
	for calls := 0; ; calls++ {
		if calls > 10000 {
			t.Fatal("SCAN did not finish")
		}
		var items []string
		cursor, items = scanReply(t, run(t, s, 0, "SCAN", cursor, "COUNT", "13"))
		for _, k := range items {
			seen[k] = true
		}
		// Churn the keys that are not stable: delete some, add new ones.
		for j := 0; j < 5; j++ {
			i := 2*rng.Intn(1000) + 1
			run(t, s, 0, "DEL", "k"+strconv.Itoa(i))
			run(t, s, 0, "SET", "new"+strconv.Itoa(calls*5+j), "v")
		}
		if cursor == "0" {
			break
		}
	}
	for k := range stable {
		if !seen[k] {
			t.Fatalf("SCAN missed %s, present throughout the iteration", k)
		}
	}
}

func TestScanOptions(t *testing.T) {
	s := New(0)
	for i := 0; i < 300; i++ {
		run(t, s, 0, "SET", "user:"+strconv.Itoa(i), "v")
		run(t, s, 0, "SET", "item:"+strconv.Itoa(i), "v")
	}
	s.DB(0).set([]byte("user:hash"), hashOf("f", "v"), false, 0)
	count := func(args ...string) (n int, types map[string]bool) {
		cursor := "0"
		for {
			var items []string
			cursor, items = scanReply(t, run(t, s, 0, append([]string{"SCAN", cursor}, args...)...))
			n += len(items)
			for _, it := range items {
				if !strings.HasPrefix(it, "user:") && strings.Contains(strings.Join(args, " "), "user:*") {
					t.Fatalf("MATCH user:* returned %q", it)
				}
			}
			if cursor == "0" {
				return n, nil
			}
		}
	}
	if n, _ := count("MATCH", "user:*"); n != 301 {
		t.Fatalf("MATCH user:* found %d keys, want 301", n)
	}
	if n, _ := count("TYPE", "hash"); n != 1 {
		t.Fatalf("TYPE hash found %d keys, want 1", n)
	}
	if n, _ := count("COUNT", "1000"); n != 601 {
		t.Fatalf("full scan found %d keys, want 601", n)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SCAN", "x"}, "-ERR invalid cursor\r\n"},
		{[]string{"SCAN", "0", "COUNT", "0"}, "-ERR syntax error\r\n"},
		{[]string{"SCAN", "0", "COUNT", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SCAN", "0", "MATCH"}, "-ERR syntax error\r\n"},
		{[]string{"SCAN", "0", "BOGUS", "1"}, "-ERR syntax error\r\n"},
		{[]string{"HSCAN", "nokey", "0"}, "*2\r\n$1\r\n0\r\n*0\r\n"},
		{[]string{"HSCAN", "user:1", "0"}, "-" + ErrWrongType + "\r\n"},
		{[]string{"SSCAN", "user:hash", "0"}, "-" + ErrWrongType + "\r\n"},
	} {
		if got := run(t, s, 0, tc.args...); got != tc.want {
			t.Errorf("%v = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestCollectionScanLarge(t *testing.T) {
	s := New(0)
	h := hashOf()
	set := Set{}
	for i := 0; i < 1000; i++ {
		h.setString("f"+strconv.Itoa(i), "v"+strconv.Itoa(i), defaultHashLimits)
		set["m"+strconv.Itoa(i)] = struct{}{}
	}
	s.DB(0).set([]byte("h"), h, false, 0)
	s.DB(0).set([]byte("s"), set, false, 0)
	for _, cmd := range []string{"HSCAN", "SSCAN"} {
		key := map[string]string{"HSCAN": "h", "SSCAN": "s"}[cmd]
		seen := map[string]int{}
		cursor := "0"
		for calls := 0; ; calls++ {
			var items []string
			cursor, items = scanReply(t, run(t, s, 0, cmd, key, cursor, "COUNT", "25"))
			step := 1
			if cmd == "HSCAN" {
				step = 2
				for i := 0; i < len(items); i += 2 {
					if "v"+items[i][1:] != items[i+1] {
						t.Fatalf("HSCAN paired %q with %q", items[i], items[i+1])
					}
				}
			}
			for i := 0; i < len(items); i += step {
				seen[items[i]]++
			}
			if cursor == "0" {
				break
			}
			if calls > 1000 {
				t.Fatalf("%s did not finish", cmd)
			}
		}
		if len(seen) != 1000 {
			t.Fatalf("%s returned %d distinct elements, want 1000", cmd, len(seen))
		}
	}
}

// checkIndex verifies that SCAN's key index holds exactly db's keys, each
// once and in its bucket.
func checkIndex(t *testing.T, db *DB) {
	t.Helper()
	ix := db.scanKeys
	if ix == nil {
		t.Fatal("no index")
	}
	if ix.n != db.Len() {
		t.Fatalf("index holds %d keys, db %d", ix.n, db.Len())
	}
	seen := map[string]bool{}
	for b, bucket := range ix.buckets {
		for _, e := range bucket {
			if seen[e.name] {
				t.Fatalf("%s indexed twice", e.name)
			}
			seen[e.name] = true
			if e.pos != keyPos(e.name) || int(e.pos>>(keyBits-ix.bits)) != b {
				t.Fatalf("%s in bucket %d of %d", e.name, b, len(ix.buckets))
			}
			if _, ok := db.strs[e.name]; !ok {
				if _, ok := db.objs[e.name]; !ok {
					t.Fatalf("%s indexed but not in the db", e.name)
				}
			}
		}
	}
}

// TestScanIndexThroughResizes runs an iteration while the keyspace grows
// a hundredfold and then shrinks back, so that the index is rebuilt with
// more and then fewer buckets between calls: the keys present throughout
// are all returned, and the index stays exact whatever adds, deletes,
// overwrites (also changing a key's type), renames and expiries did.
func TestScanIndexThroughResizes(t *testing.T) {
	s := New(0)
	db := s.DB(0)
	for i := 0; i < 200; i++ {
		run(t, s, 0, "SET", "stable"+strconv.Itoa(i), "v")
	}
	seen := map[string]bool{}
	bits := map[uint]bool{} // the index sizes seen
	cursor := "0"
	added := 0
	for calls := 0; ; calls++ {
		if calls > 100000 {
			t.Fatal("SCAN did not finish")
		}
		var items []string
		cursor, items = scanReply(t, run(t, s, 0, "SCAN", cursor, "COUNT", "3"))
		for _, k := range items {
			seen[k] = true
		}
		checkIndex(t, db)
		bits[db.scanKeys.bits] = true
		if cursor == "0" {
			if calls < 100 {
				t.Fatalf("the iteration ended after %d calls, before the churn", calls)
			}
			break
		}
		switch {
		case calls < 40: // grow: 500 keys a call
			for j := 0; j < 500; j++ {
				added++
				run(t, s, 0, "SET", "tmp"+strconv.Itoa(added), "v")
			}
		case calls < 80: // shrink again
			for j := 0; j < 500 && added > 0; j++ {
				run(t, s, 0, "DEL", "tmp"+strconv.Itoa(added))
				added--
			}
		default: // churn of every kind
			run(t, s, 0, "SET", "x", "v")
			run(t, s, 0, "HSET", "x", "f", "v") // WRONGTYPE: no change
			run(t, s, 0, "DEL", "x")
			run(t, s, 0, "HSET", "x", "f", "v")
			run(t, s, 0, "SET", "x", "v") // a hash becomes a string
			run(t, s, 0, "RENAME", "x", "y")
			run(t, s, 0, "SET", "e", "v", "PX", "1")
			run(t, s, 5, "GET", "e") // expired on read
		}
	}
	for i := 0; i < 200; i++ {
		if k := "stable" + strconv.Itoa(i); !seen[k] {
			t.Fatalf("SCAN missed %s", k)
		}
	}
	if len(bits) < 3 {
		t.Fatalf("the index took sizes %v: it did not grow and shrink", bits)
	}
}

// TestScanIndexActiveExpiry checks that active expiry keeps the index
// exact, and that FLUSHDB and SWAPDB drop it.
func TestScanIndexActiveExpiry(t *testing.T) {
	s := New(0)
	db := s.DB(0)
	for i := 0; i < 1000; i++ {
		run(t, s, 0, "SET", "k"+strconv.Itoa(i), "v")
		if i%2 == 0 {
			run(t, s, 0, "PEXPIRE", "k"+strconv.Itoa(i), "10")
		}
	}
	run(t, s, 0, "SCAN", "0")
	for i := 0; i < 100 && db.Expires() > 0; i++ {
		s.Tick(100)
	}
	if db.Len() != 500 {
		t.Fatalf("%d keys left, want 500", db.Len())
	}
	checkIndex(t, db)
	run(t, s, 0, "FLUSHDB")
	if db.scanKeys != nil {
		t.Fatal("FLUSHDB kept the index")
	}
}

// TestScanIndexResistsCraftedKeys: SCAN's index buckets keys by the top
// bits of their hash. With an unseeded hash anyone can compute offline
// keys that all land in one bucket (2^bits tries each), making every
// DEL of them scan the whole bucket and every SCAN call that reaches it
// return all of them at once. The hash is seeded per process, as Redis's
// siphash is, so keys crafted against farm.Hash64 spread out.
func TestScanIndexResistsCraftedKeys(t *testing.T) {
	const want, top = 1500, 10
	db := New(0).DB(0)
	for i := 0; db.Len() < want; i++ {
		k := "c" + strconv.Itoa(i)
		if farm.Hash64([]byte(k))>>(64-top) == 0 {
			db.set([]byte(k), "v", false, 0)
		}
	}
	ix := newKeyIndex(db)
	biggest := 0
	for _, b := range ix.buckets {
		biggest = max(biggest, len(b))
	}
	if biggest > 100 {
		t.Fatalf("%d crafted keys: the largest of %d buckets holds %d", want, len(ix.buckets), biggest)
	}
}

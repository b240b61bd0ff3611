package shard

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// inPlaceTranscript runs a random mix of commands of seed on a fresh
// shard, in batches of one to four calls, with a snapshot taken and
// written between them, and returns every reply, the contents at a few
// points, the snapshot's file and the accounting. Strings a reply, a
// script or COPY would hold (getStr, get, Hash.get) are taken along the
// way and checked at the end to be what they were when taken.
func inPlaceTranscript(t *testing.T, seed uint64, lfu bool) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	s := New(0)
	if lfu {
		s.SetAccessPolicy(true, 0, 1) // log factor 0: every access counts, no dice
	}
	keys := []string{"k", "key:01", "key:0002", "a-longer-key-name-0003", "h", "hash:big-one", "n", "counter:visits"}
	fields := []string{"f", "field-two", "a-third-field-name"}
	key := func() string { // mostly the string keys
		if r.IntN(10) == 0 {
			return keys[r.IntN(len(keys))]
		}
		return []string{"k", "key:01", "key:0002", "a-longer-key-name-0003", "n", "counter:visits"}[r.IntN(6)]
	}
	hkey := func() string { // mostly the hash keys
		if r.IntN(4) == 0 {
			return key()
		}
		return keys[4+r.IntN(2)]
	}
	field := func() string { return fields[r.IntN(len(fields))] }
	val := func() string {
		// Lengths near a few sizes, so that one often fits where the
		// last one was; now and then anything.
		n := []int{6, 20, 100, 1000, 32760}[r.IntN(5)] + r.IntN(6)
		if r.IntN(8) == 0 {
			n = r.IntN(1200)
		}
		c := byte('a' + r.IntN(26))
		b := []byte(strings.Repeat(string(c), n))
		for i := 0; i < len(b); i += 7 {
			b[i] = byte('A' + r.IntN(26))
		}
		return string(b)
	}
	num := func() string { return strconv.Itoa(r.IntN(3_000_000) - 1_000_000) }
	gen := func() []string {
		if r.IntN(3) != 0 { // the writes that may go in place
			switch r.IntN(5) {
			case 0:
				return []string{"SET", key(), val()}
			case 1:
				return []string{"MSET", key(), val(), key(), val()}
			case 2:
				return []string{"INCRBY", key(), num()}
			case 3:
				return []string{"HSET", hkey(), field(), val()}
			default:
				return []string{"HINCRBY", hkey(), field(), num()}
			}
		}
		switch r.IntN(40) {
		case 0, 1, 2, 3:
			return []string{"SET", key(), val()}
		case 4:
			opts := [][]string{{"XX"}, {"EX", "100"}, {"PX", "5"}, {"KEEPTTL"}, {"GET"}, {"NX"}, {"XX", "KEEPTTL"}}
			return append([]string{"SET", key(), val()}, opts[r.IntN(len(opts))]...)
		case 5, 6:
			return []string{"MSET", key(), val(), key(), val()}
		case 7, 8:
			return []string{"GET", key()}
		case 9:
			return []string{"MGET", key(), key()}
		case 10, 11:
			return []string{"INCRBY", key(), num()}
		case 12:
			return []string{"SET", key(), num()}
		case 13:
			return []string{"APPEND", key(), val()}
		case 14:
			return []string{"SETRANGE", key(), strconv.Itoa(r.IntN(50)), val()}
		case 15:
			return []string{"GETRANGE", key(), "0", strconv.Itoa(r.IntN(60))}
		case 16:
			return []string{"GETSET", key(), val()}
		case 17:
			return []string{"GETDEL", key()}
		case 18:
			return []string{"COPY", key(), key(), "DB", strconv.Itoa(r.IntN(2)), "REPLACE"}
		case 19:
			return []string{"RENAME", key(), key()}
		case 20:
			return []string{"MOVE", key(), "1"}
		case 21:
			return []string{"SWAPDB", "0", "1"}
		case 22:
			return []string{"EXPIRE", key(), strconv.Itoa(1 + r.IntN(3))}
		case 23:
			return []string{"OBJECT", []string{"FREQ", "ENCODING", "IDLETIME"}[r.IntN(3)], key()}
		case 24:
			return []string{"DUMP", key()}
		case 25:
			return []string{"HSET", hkey(), field(), val(), field(), val()}
		case 26, 27:
			return []string{"HSET", hkey(), field(), val()}
		case 28:
			return []string{"HINCRBY", hkey(), field(), num()}
		case 29:
			return []string{"HGET", hkey(), field()}
		case 30:
			return []string{"HDEL", hkey(), field()}
		case 31:
			return []string{"HINCRBYFLOAT", hkey(), field(), "1.5"}
		case 32:
			return []string{"DEL", key()}
		case 33:
			return []string{"STRLEN", key()}
		case 34:
			return []string{"MEMORY", "USAGE", key()}
		case 35:
			return []string{"BITOP", "OR", key(), key(), key()}
		case 36:
			return []string{"SETBIT", key(), strconv.Itoa(r.IntN(400)), "1"}
		case 37:
			return []string{"DECR", key()}
		case 38:
			return []string{"HMGET", hkey(), field(), field()}
		default:
			return []string{"GETEX", key(), "PERSIST"}
		}
	}
	type held struct{ got, want, what string }
	var holds []held
	var out []string
	now := int64(1_000_000)
	snapAt, snapGen := -1, uint64(0)
	var records []byte
	var snapWant []string
	for step := 0; step < 1500; step++ {
		now += int64(r.IntN(800))
		db := r.IntN(2)
		// A slice of the snapshot in progress; when it ends depends on
		// the maps' order, so it draws nothing and replies nothing.
		if slice := r.IntN(4) == 0; slice && snapAt >= 0 {
			recs, last, err := s.SnapshotSlice(snapGen, 1)
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, recs...)
			if last {
				if got := fileContents(t, records); !slices.Equal(got, snapWant) {
					t.Fatalf("seed %d: snapshot of step %d does not hold its instant", seed, snapAt)
				}
				snapAt = -1
			}
		}
		switch {
		case step == 300 || step == 900:
			snapGen++
			snapWant = shardContents(t, s, now)
			s.BeginSnapshot(snapGen, now)
			snapAt, records = step, nil
			continue
		case r.IntN(15) == 0:
			// Hold a string or a hash value as a reply, a script or COPY would.
			k := []byte(key())
			d := &s.dbs[db]
			var v string
			var ok bool
			switch r.IntN(3) {
			case 0:
				v, ok, _ = d.getStr(k, now)
			case 1:
				var a any
				if a, ok = d.get(k, now); ok {
					v, ok = a.(string)
				}
			default:
				if a, found := d.get(k, now); found {
					if h, isHash := a.(*Hash); isHash {
						v, ok = h.get([]byte(field()))
					}
				}
			}
			if ok {
				holds = append(holds, held{v, strings.Clone(v), strconv.Itoa(step)})
			}
			continue
		}
		b := &Batch{DB: db, Proto: wire.RESP2, NumShards: 1}
		n := 1 + r.IntN(4)
		for i := 0; i < n; i++ {
			args := gen()
			argv := make([][]byte, len(args))
			for j, a := range args {
				argv[j] = []byte(a)
			}
			b.Calls = append(b.Calls, Call{Cmd: Lookup(strings.ToLower(args[0])), Args: argv})
		}
		s.Exec(b, now)
		for i, call := range b.Calls {
			reply := string(b.Reply(i))
			if call.Cmd.Name == "dump" {
				reply = strconv.Itoa(len(reply)) // a hashtable's order is the map's
			}
			out = append(out, strconv.Itoa(db)+" "+reply)
		}
		if step%100 == 0 {
			out = append(out, strings.Join(shardContents(t, s, now), "\n"))
		}
		for i := range s.dbs {
			if got, want := s.dbs[i].used, expectedUsed(&s.dbs[i]); got != want {
				t.Fatalf("seed %d step %d: db %d used %d, its keys %d", seed, step, i, got, want)
			}
		}
	}
	for _, h := range holds {
		if h.got != h.want {
			t.Fatalf("seed %d: a value held since step %s changed under its holder", seed, h.what)
		}
	}
	for i := range s.dbs {
		out = append(out, "used "+strconv.FormatInt(s.dbs[i].used, 10))
	}
	return append(out, strings.Join(shardContents(t, s, now), "\n"))
}

// TestInPlaceWritesChangeNothingVisible runs the same random commands with
// in-place writes off (classesMatch false: sameClass never holds) and on:
// every reply, the contents, the snapshots and the accounting must be the
// same, under an LRU and an LFU policy.
func TestInPlaceWritesChangeNothingVisible(t *testing.T) {
	if !classesMatch {
		t.Skip("the runtime's size classes differ: nothing is written in place")
	}
	defer func() { classesMatch = true }()
	for seed := uint64(1); seed <= 16; seed++ {
		lfu := seed%2 == 0
		classesMatch = false
		want := inPlaceTranscript(t, seed, lfu)
		classesMatch = true
		got := inPlaceTranscript(t, seed, lfu)
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d replies in place, %d without", seed, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("seed %d: reply %d differs in place:\n got %.300q\nwant %.300q", seed, i, got[i], want[i])
			}
		}
	}
}

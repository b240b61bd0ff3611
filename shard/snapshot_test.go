package shard

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// describeValue is a value's type and sorted contents, whatever its
// encoding.
func describeValue(t *testing.T, v *rdb.Value) string {
	t.Helper()
	elems := slices.Clone(v.Elems)
	switch v.Kind {
	case rdb.String:
		return "string " + v.Str
	case rdb.List:
		return "list " + strings.Join(elems, ",")
	case rdb.ZSet:
		for i := range elems {
			elems[i] += "=" + strconv.FormatFloat(v.Scores[i], 'g', -1, 64)
		}
	case rdb.Hash:
		var pairs []string
		for i := 0; i+1 < len(elems); i += 2 {
			pairs = append(pairs, elems[i]+"="+elems[i+1])
		}
		elems = pairs
	case rdb.Stream:
		return "stream " + strconv.Itoa(len(v.Nodes))
	}
	slices.Sort(elems)
	return strconv.Itoa(int(v.Kind)) + " " + strings.Join(elems, ",")
}

// shardContents describes every key s holds: "db key expireAt value".
func shardContents(t *testing.T, s *Shard, now int64) []string {
	t.Helper()
	var out []string
	for i := range s.dbs {
		db := &s.dbs[i]
		add := func(k string, v any) {
			at := int64(-1)
			if e, ok := db.expires[k]; ok {
				at = e // held, so written, even when past
			}
			d, err := rdb.DecodeObject(appendObject(nil, v))
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			out = append(out, strconv.Itoa(i)+" "+k+" "+strconv.FormatInt(at, 10)+" "+describeValue(t, d))
		}
		for k, e := range db.strs {
			add(k, e.str())
		}
		for k, e := range db.objs {
			add(k, e.v)
		}
	}
	slices.Sort(out)
	return out
}

// fileContents reads records as a file would hold them.
func fileContents(t *testing.T, records []byte) []string {
	t.Helper()
	file := rdb.AppendHeader(nil)
	file = append(file, records...)
	file = rdb.AppendEOF(file, rdb.CRC64(0, file), true)
	var out []string
	err := rdb.Load(bytes.NewReader(file), rdb.Handler{Key: func(e *rdb.Entry) error {
		out = append(out, strconv.Itoa(e.DB)+" "+e.Key+" "+strconv.FormatInt(e.ExpireAt, 10)+" "+describeValue(t, e.Value))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestSnapshotHoldsTheInstant runs random writes of every kind between the
// slices of a snapshot, slices as small as one key, and checks that the
// records hold exactly the keys and values of the instant it began.
func TestSnapshotHoldsTheInstant(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		s := New(0)
		now := int64(1_000_000)
		key := func() string { return "k" + strconv.Itoa(r.IntN(300)) }
		write := func(db int) {
			k := key()
			switch r.IntN(16) {
			case 0:
				// Long values too, which SET writes over in place.
				runDB(s, db, now, "SET", k, strings.Repeat("v", r.IntN(40))+strconv.Itoa(r.IntN(1000)))
			case 1:
				runDB(s, db, now, "DEL", k)
			case 2:
				runDB(s, db, now, "RPUSH", k+":l", "a", strconv.Itoa(r.IntN(100)))
			case 3:
				runDB(s, db, now, "LPOP", k+":l")
			case 4:
				runDB(s, db, now, "HSET", k+":h", "f"+strconv.Itoa(r.IntN(10)), "x")
			case 5:
				runDB(s, db, now, "SADD", k+":s", strconv.Itoa(r.IntN(20)))
			case 6:
				runDB(s, db, now, "ZADD", k+":z", strconv.Itoa(r.IntN(9)), "m"+strconv.Itoa(r.IntN(9)))
			case 7:
				runDB(s, db, now, "PEXPIRE", k, strconv.Itoa(1+r.IntN(50)))
			case 8:
				runDB(s, db, now, "PERSIST", k)
			case 9:
				runDB(s, db, now, "APPEND", k, "+")
			case 10:
				runDB(s, db, now, "RENAME", k, key())
			case 11:
				runDB(s, db, now, "MOVE", k, strconv.Itoa(r.IntN(3)))
			case 12:
				runDB(s, db, now, "INCR", k+":n")
			case 13:
				if r.IntN(20) == 0 {
					runDB(s, db, now, "FLUSHDB")
				}
			case 14:
				if r.IntN(20) == 0 {
					runDB(s, 0, now, "SWAPDB", strconv.Itoa(db), strconv.Itoa(r.IntN(3)))
				}
			case 15:
				runDB(s, db, now, "XADD", k+":x", "*", "f", "v")
			}
		}
		for i := 0; i < 1500; i++ {
			write(r.IntN(3))
		}
		// Several snapshots in a row on the same shard, some dropped half
		// way: each must find every key not done.
		for round := uint64(1); round <= 4; round++ {
			now += 10
			want := shardContents(t, s, now)
			s.BeginSnapshot(round, now)
			abort := r.IntN(3) == 0
			var records []byte
			for n := 0; ; n++ {
				for j := r.IntN(4); j > 0; j-- {
					now += int64(r.IntN(3))
					write(r.IntN(3))
					if r.IntN(10) == 0 {
						s.Tick(now) // active expiry
					}
				}
				if abort && n == 5 {
					s.AbortSnapshot()
					break
				}
				recs, last, err := s.SnapshotSlice(round, 1+r.IntN(200))
				if err != nil {
					t.Fatal(err)
				}
				records = append(records, recs...)
				if last {
					break
				}
			}
			if s.Snapshotting() {
				t.Fatal("the snapshot is still on after its last slice")
			}
			if abort {
				continue
			}
			got := fileContents(t, records)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d round %d: the records differ from the instant:\n got %d keys: %v\nwant %d keys: %v",
					seed, round, len(got), diffLines(got, want), len(want), diffLines(want, got))
			}
		}
	}
}

// diffLines returns the lines of a missing from b (at most 5).
func diffLines(a, b []string) []string {
	var out []string
	for _, l := range a {
		if _, found := slices.BinarySearch(b, l); !found {
			out = append(out, l)
			if len(out) == 5 {
				break
			}
		}
	}
	return out
}

func TestSnapshotGenerations(t *testing.T) {
	s := New(0)
	run(t, s, 0, "SET", "a", "1")
	s.BeginSnapshot(1, 0)
	if _, _, err := s.SnapshotSlice(2, 100); err != ErrSnapshotGone {
		t.Fatalf("a slice of another snapshot: %v", err)
	}
	s.BeginSnapshot(2, 0) // replaces 1
	if _, _, err := s.SnapshotSlice(1, 100); err != ErrSnapshotGone {
		t.Fatalf("a slice of a replaced snapshot: %v", err)
	}
	recs, last, err := s.SnapshotSlice(2, 1<<20)
	if err != nil || !last || len(fileContents(t, recs)) != 1 {
		t.Fatalf("slice: %q %v %v", recs, last, err)
	}
}

// BenchmarkSnapshotSlice measures writing a snapshot of small strings:
// ns/op is per key.
func BenchmarkSnapshotSlice(b *testing.B) {
	s := New(0)
	db := s.DB(0)
	for i := 0; i < 200000; i++ {
		db.setStr([]byte("key:"+strconv.Itoa(i)), "xxx", false, 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	keys := 0
	for gen := uint64(1); keys < b.N; gen++ {
		s.BeginSnapshot(gen, 0)
		for {
			recs, last, err := s.SnapshotSlice(gen, 256<<10)
			if err != nil {
				b.Fatal(err)
			}
			RecycleSnapshotBuf(recs)
			if last {
				break
			}
		}
		keys += 200000
	}
}

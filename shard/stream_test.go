package shard

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

type modelEntry struct {
	id StreamID
	fv []string
}

func entryFV(e *streamEntry) []string {
	var out []string
	e.Fields(func(f, v []byte) { out = append(out, string(f), string(v)) })
	return out
}

func checkStream(t *testing.T, s *Stream, model []modelEntry, step int) {
	t.Helper()
	if s.Len() != int64(len(model)) {
		t.Fatalf("step %d: Len %d, model %d", step, s.Len(), len(model))
	}
	var got []modelEntry
	s.Range(StreamID{}, maxStreamID, false, 0, func(e *streamEntry) bool {
		got = append(got, modelEntry{e.ID, entryFV(e)})
		return true
	})
	if len(got) != len(model) {
		t.Fatalf("step %d: range has %d entries, model %d", step, len(got), len(model))
	}
	for i := range got {
		if got[i].id != model[i].id || !slices.Equal(got[i].fv, model[i].fv) {
			t.Fatalf("step %d: entry %d is %v %v, model %v %v", step, i, got[i].id, got[i].fv, model[i].id, model[i].fv)
		}
	}
	first, ok := s.First()
	if ok != (len(model) > 0) || ok && first != model[0].id {
		t.Fatalf("step %d: First %v %v", step, first, ok)
	}
	last, ok := s.Last()
	if ok != (len(model) > 0) || ok && last != model[len(model)-1].id {
		t.Fatalf("step %d: Last %v %v", step, last, ok)
	}
	for _, b := range s.blocks {
		if b.live == 0 && b.dead == 0 {
			t.Fatalf("step %d: empty block", step)
		}
	}
}

// TestStreamModel runs random operations on a Stream and on a plain
// sorted slice and compares them.
func TestStreamModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		lim := StreamLimits{MaxBytes: int64(r.IntN(600) + 40), MaxEntries: int64(r.IntN(12))}
		s := NewStream()
		var model []modelEntry
		last := StreamID{}
		for step := 0; step < 3000; step++ {
			switch op := r.IntN(20); {
			case op < 10: // add
				id := last
				if r.IntN(3) == 0 {
					id.Ms += uint64(r.IntN(1 << uint(r.IntN(40))))
					id.Seq = uint64(r.IntN(3))
				} else {
					id.Seq++
				}
				if id.Cmp(last) <= 0 {
					id, _ = last.Next()
				}
				n := 1 + r.IntN(3)
				fv := make([]string, 0, 2*n)
				var args [][]byte
				for i := 0; i < n; i++ {
					f := fmt.Sprint("f", i)
					if r.IntN(4) == 0 {
						f = fmt.Sprint("g", r.IntN(3))
					}
					v := fmt.Sprint(r.IntN(1000))
					if r.IntN(5) == 0 {
						v = string(make([]byte, r.IntN(200)))
					}
					fv = append(fv, f, v)
					args = append(args, []byte(f), []byte(v))
				}
				s.Add(id, args, lim)
				model = append(model, modelEntry{id, fv})
				last = id
			case op < 14: // delete
				if len(model) == 0 {
					continue
				}
				i := r.IntN(len(model))
				id := model[i].id
				if r.IntN(4) == 0 {
					id.Seq += 1000 // likely missing
				}
				want := slices.IndexFunc(model, func(e modelEntry) bool { return e.id == id })
				if got := s.Delete(id); got != (want >= 0) {
					t.Fatalf("seed %d step %d: Delete(%v) = %v", seed, step, id, got)
				}
				if want >= 0 {
					model = slices.Delete(model, want, want+1)
				}
			case op < 16: // trim
				ta := TrimArgs{Approx: r.IntN(2) == 0}
				if r.IntN(2) == 0 {
					ta.MaxLen = int64(r.IntN(len(model) + 3))
				} else if len(model) > 0 {
					ta.ByID = true
					ta.MinID = model[r.IntN(len(model))].id
				}
				if ta.Approx && r.IntN(2) == 0 {
					ta.Limit = int64(r.IntN(20))
				}
				exact := 0
				for exact < len(model) && (ta.ByID && model[exact].id.Less(ta.MinID) ||
					!ta.ByID && int64(len(model)-exact) > ta.MaxLen) {
					exact++
				}
				got := int(s.Trim(ta))
				if !ta.Approx && got != exact || got > exact {
					t.Fatalf("seed %d step %d: Trim(%+v) removed %d, exact %d", seed, step, ta, got, exact)
				}
				if ta.Limit > 0 && int64(got) > ta.Limit {
					t.Fatalf("seed %d step %d: Trim(%+v) removed %d over the limit", seed, step, ta, got)
				}
				model = model[got:]
			default: // ranges
				if len(model) == 0 {
					continue
				}
				a, b := model[r.IntN(len(model))].id, model[r.IntN(len(model))].id
				if r.IntN(3) == 0 {
					a.Seq++
				}
				if b.Less(a) {
					a, b = b, a
				}
				count := r.IntN(5)
				rev := r.IntN(2) == 0
				var want []StreamID
				for _, e := range model {
					if !e.id.Less(a) && !b.Less(e.id) {
						want = append(want, e.id)
					}
				}
				if rev {
					slices.Reverse(want)
				}
				if count > 0 && len(want) > count {
					want = want[:count]
				}
				var got []StreamID
				s.Range(a, b, rev, count, func(e *streamEntry) bool { got = append(got, e.ID); return true })
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: Range(%v,%v,rev %v,count %d) = %v, want %v", seed, step, a, b, rev, count, got, want)
				}
			}
			checkStream(t, s, model, step)
			if lim.MaxEntries > 0 {
				for _, b := range s.blocks {
					if int64(b.total()) > lim.MaxEntries {
						t.Fatalf("seed %d: block of %d entries over %d", seed, b.total(), lim.MaxEntries)
					}
				}
			}
		}
		d := s.clone().(*Stream)
		checkStream(t, d, model, -1)
	}
}

// TestStreamBlocksFollowRedis: blocks close at stream-node-max-entries,
// counting deleted entries, as Redis's listpack nodes do, and "~"
// trimming removes whole blocks only.
func TestStreamBlocksFollowRedis(t *testing.T) {
	s := NewStream()
	lim := StreamLimits{MaxBytes: 4096, MaxEntries: 100}
	fv := [][]byte{[]byte("a"), []byte("1")}
	for i := 1; i <= 1000; i++ {
		s.Add(StreamID{uint64(i), 0}, fv, lim)
	}
	if s.Blocks() != 10 {
		t.Fatalf("blocks %d, want 10", s.Blocks())
	}
	if n := s.Trim(TrimArgs{MaxLen: 950, Approx: true, Limit: 10000}); n != 0 {
		t.Fatalf("~ 950 trimmed %d, want 0 (no whole block)", n)
	}
	if n := s.Trim(TrimArgs{MaxLen: 850, Approx: true, Limit: 10000}); n != 100 {
		t.Fatalf("~ 850 trimmed %d, want 100", n)
	}
	if n := s.Trim(TrimArgs{MaxLen: 850}); n != 50 {
		t.Fatalf("= 850 trimmed %d, want 50", n)
	}
	// Big values close a block by bytes.
	s = NewStream()
	big := [][]byte{[]byte("f"), make([]byte, 1000)}
	for i := 1; i <= 8; i++ {
		s.Add(StreamID{uint64(i), 0}, big, lim)
	}
	if s.Blocks() != 2 { // 4 per block: the 5th would pass 4096 bytes
		t.Fatalf("1000-byte values: %d blocks, want 2", s.Blocks())
	}
}

func TestParseStreamID(t *testing.T) {
	for _, tc := range []struct {
		in       string
		strict   bool
		star     bool
		want     StreamID
		seqGiven bool
		ok       bool
	}{
		{"1-2", true, false, StreamID{1, 2}, true, true},
		{"5", true, false, StreamID{5, 7}, true, true},
		{"-", false, false, StreamID{}, true, true},
		{"+", false, false, maxStreamID, true, true},
		{"-", true, false, StreamID{}, false, false},
		{"5-*", true, true, StreamID{5, 0}, false, true},
		{"5-*", true, false, StreamID{}, false, false},
		{"18446744073709551615-18446744073709551615", true, false, maxStreamID, true, true},
		{"18446744073709551616", true, false, StreamID{}, false, false},
		{"-1", true, false, StreamID{}, false, false},
		{"007-1", true, false, StreamID{7, 1}, true, true},
		{"a-1", true, false, StreamID{}, false, false},
		{"1-", true, false, StreamID{}, false, false},
		{"", true, false, StreamID{}, false, false},
	} {
		id, seqGiven, ok := parseStreamID([]byte(tc.in), 7, tc.strict, tc.star)
		if ok != tc.ok || ok && (id != tc.want || seqGiven != tc.seqGiven) {
			t.Errorf("parseStreamID(%q) = %v %v %v, want %v %v %v", tc.in, id, seqGiven, ok, tc.want, tc.seqGiven, tc.ok)
		}
	}
}

// TestStreamDumpRoundTrip: a stream survives DUMP and RESTORE's decoding
// whole, and a damaged payload never panics: it is refused or restores
// as some consistent stream.
func TestStreamDumpRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := NewStream()
	lim := StreamLimits{MaxBytes: 300, MaxEntries: 7}
	for i := 1; i <= 200; i++ {
		fv := [][]byte{[]byte("a"), []byte(fmt.Sprint(r.IntN(100000) - 500))}
		if i%9 == 0 {
			fv = append(fv, []byte("b"), []byte("text"))
		}
		s.Add(StreamID{uint64(i / 3), uint64(i % 3)}, fv, lim)
	}
	for i := 0; i < 60; i++ {
		s.Delete(StreamID{uint64(r.IntN(70)), uint64(r.IntN(3))})
	}
	s.Trim(TrimArgs{ByID: true, MinID: StreamID{10, 1}})
	s.maxDeleted = StreamID{44, 1}
	obj := dumpStream(s)
	v, err := rdb.DecodeObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	got := streamFromDump(v)
	if got == nil {
		t.Fatal("the dump was refused")
	}
	var want []modelEntry
	s.Range(StreamID{}, maxStreamID, false, 0, func(e *streamEntry) bool {
		want = append(want, modelEntry{e.ID, entryFV(e)})
		return true
	})
	checkStream(t, got, want, 0)
	if got.Blocks() != s.Blocks() || got.lastID != s.lastID || got.firstID != s.firstID ||
		got.maxDeleted != s.maxDeleted || got.entriesAdded != s.entriesAdded || got.raxNodes() != s.raxNodes() {
		t.Fatalf("metadata differs: %+v vs %+v", got, s)
	}
	for i, b := range got.blocks {
		if b.lpSize() != s.blocks[i].lpSize() || b.live != s.blocks[i].live || b.dead != s.blocks[i].dead {
			t.Fatalf("block %d differs", i)
		}
	}
	for i := 0; i < 3000; i++ {
		bad := slices.Clone(obj)
		bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
		v, err := rdb.DecodeObject(bad)
		if err != nil {
			continue
		}
		if d := streamFromDump(v); d != nil {
			d.Range(StreamID{}, maxStreamID, true, 0, func(e *streamEntry) bool { entryFV(e); return true })
		}
	}
}

// Reading one entry at a time, as XREADGROUP > does, resumes where the
// last read stopped (Stream.seek); deletes and appends in between must not
// make it skip or repeat an entry.
func TestStreamReadOneAtATime(t *testing.T) {
	s := NewStream()
	lim := StreamLimits{MaxBytes: 4096, MaxEntries: 100}
	fv := [][]byte{[]byte("a"), []byte("1")}
	for i := uint64(1); i <= 500; i++ {
		s.Add(StreamID{Ms: i}, fv, lim)
	}
	var got []uint64
	last := StreamID{}
	for i := 0; ; i++ {
		switch i % 7 {
		case 3:
			s.Delete(StreamID{Ms: last.Ms + 2}) // ahead of the reader
		case 5:
			s.Add(StreamID{Ms: 500 + uint64(i)}, fv, lim)
		}
		start, _ := last.Next()
		n := s.Range(start, maxStreamID, false, 1, func(e *streamEntry) bool {
			got = append(got, e.ID.Ms)
			last = e.ID
			return true
		})
		if n == 0 {
			break
		}
	}
	var want []uint64
	s.Range(StreamID{}, maxStreamID, false, 0, func(e *streamEntry) bool {
		want = append(want, e.ID.Ms)
		return true
	})
	if !slices.Equal(got, want) {
		t.Fatalf("one at a time read %d entries, a full range %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

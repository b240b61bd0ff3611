package shard

import (
	"bytes"
	"strings"
	"testing"
)

// snapshotAll runs a whole snapshot of s and returns its records.
func snapshotAll(t *testing.T, s *Shard, gen uint64, now int64) []byte {
	t.Helper()
	s.BeginSnapshot(gen, now)
	var all []byte
	for {
		recs, last, err := s.SnapshotSlice(gen, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
		if last {
			return all
		}
	}
}

// Adopt puts a loaded shard's databases in place of the live one's: the
// keys, TTLs and accounting are the loaded ones, a WATCHed key that
// changed is touched, SCAN's index starts over, and the next snapshot
// writes every loaded key (they carry the loaded shard's mark, which
// becomes the live shard's).
func TestAdoptSwapsLoadedData(t *testing.T) {
	now := int64(1_000_000)
	live := New(0)
	runDB(live, 0, now, "SET", "old", "1")
	runDB(live, 2, now, "SET", "old2", "x")
	// A snapshot flips the live shard's mark away from a new shard's.
	snapshotAll(t, live, 1, now)
	w := NewWatch()
	watchKeys(live, w, now, "old")
	runDB(live, 0, now, "SCAN", "0") // builds the index

	loaded := New(0)
	runDB(loaded, 0, now, "SET", "new", strings.Repeat("v", 100))
	runDB(loaded, 0, now, "SET", "ttl", "1", "PX", "100000")
	runDB(loaded, 1, now, "RPUSH", "list", "a", "b")

	var a Across
	a.KeepExpired, a.NoJournal = true, true
	a.Begin([]*Shard{live}, now)
	a.Adopt([]*Shard{loaded})
	a.End()

	if got := runDB(live, 0, now, "GET", "old"); got != "$-1\r\n" {
		t.Errorf("GET old = %q after the swap", got)
	}
	if got := runDB(live, 2, now, "DBSIZE"); got != ":0\r\n" {
		t.Errorf("DBSIZE of db 2 = %q after the swap", got)
	}
	if got := runDB(live, 0, now, "PTTL", "ttl"); got != ":100000\r\n" {
		t.Errorf("PTTL ttl = %q", got)
	}
	if got := runDB(live, 1, now, "LLEN", "list"); got != ":2\r\n" {
		t.Errorf("LLEN list = %q", got)
	}
	if !w.Dirty() {
		t.Error("the WATCHed key was replaced and its watcher not touched")
	}
	for i := 0; i < NumDBs; i++ {
		if db := live.DB(i); db.used != expectedUsed(db) {
			t.Errorf("db %d accounts %d bytes, its keys take %d", i, db.used, expectedUsed(db))
		}
	}
	if got := runDB(live, 0, now, "SCAN", "0", "COUNT", "100"); !strings.Contains(got, "new") || strings.Contains(got, "old") {
		t.Errorf("SCAN after the swap = %q", got)
	}
	recs := snapshotAll(t, live, 2, now)
	for _, k := range []string{"new", "ttl", "list"} {
		if !bytes.Contains(recs, []byte(k)) {
			t.Errorf("the snapshot after the swap left out %q", k)
		}
	}
	// The old data went to the loaded shard, for the caller to drop.
	if got := runDB(loaded, 0, now, "GET", "old"); got != "$1\r\n1\r\n" {
		t.Errorf("the old data is not in the loaded shard: %q", got)
	}
}

package shard

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestSnapshotSlicePanicLeavesMarksRight: a slice that panics (a bug,
// recovered and logged) drops the snapshot; the keys it had not reached
// must still be written by the next one. The recovery set s.snap to nil
// without marking them, as AbortSnapshot does, so the next snapshot, which
// flips the shard's mark, took every one of them for done and left them
// out of its file; the walk's coroutine was not stopped either.
func TestSnapshotSlicePanicLeavesMarksRight(t *testing.T) {
	s := New(0)
	for i := 0; i < 100; i++ {
		runDB(s, 1, 0, "SET", "k"+strconv.Itoa(i), "v")
	}
	// A value that panics when written, in database 0, walked first.
	bad := objEntry{v: (*List)(nil)}
	bad.setMark(s.snapMark)
	s.dbs[0].objs = map[string]objEntry{"bad": bad}
	goroutines := runtime.NumGoroutine()

	s.BeginSnapshot(1, 0)
	m := snapshotSliceMsg{gen: 1, max: 1 << 20, reply: make(chan SnapshotPart, 1), pending: func() int { return 0 }}
	m.deliver(s, nil)
	if p := <-m.reply; p.Err == nil {
		t.Fatal("the slice writing a nil list did not fail")
	}
	if s.Snapshotting() {
		t.Fatal("the snapshot is still in progress after the panic")
	}
	delete(s.dbs[0].objs, "bad")
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the panic, %d before: the walk's coroutine was left running", n, goroutines)
	}

	s.BeginSnapshot(2, 0)
	var recs []byte
	for {
		r, last, err := s.SnapshotSlice(2, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
		if last {
			break
		}
	}
	if got := len(fileContents(t, recs)); got != 100 {
		t.Fatalf("the snapshot after a panicked one holds %d keys, want 100", got)
	}
}

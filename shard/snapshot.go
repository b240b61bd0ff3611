package shard

import (
	"errors"
	"iter"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync"
	"time"

	"github.com/valkyrie-kv/valkyrie/actor"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// Point-in-time snapshots (BGSAVE, SAVE) without stopping the shard.
//
// The server begins a snapshot on every shard at one instant, holding
// them all (BeginSnapshot), so a transaction across shards is wholly
// before it or wholly after it. From then on each shard writes its keys as
// RDB records in slices (SnapshotSlice), between batches, while it goes on
// serving. Before a key is read or changed, and before one is removed,
// preserve writes it as it was at the instant, unless that is done.
//
// Which keys are done is a mark bit in each map entry: a key is done when
// its mark equals the shard's. BeginSnapshot flips the shard's mark, so
// that every key is not done; writing a key sets its mark; a key created
// meanwhile gets the shard's mark at once, as it must not be written. When
// the walk ends every key carries the shard's mark again, which is how the
// next snapshot finds them all not done. So the records hold every key as
// it was at the instant, each exactly once, and the bookkeeping costs no
// memory. A snapshot dropped before its end marks the keys it did not
// reach (AbortSnapshot).

// snapshot is one shard's part of a snapshot in progress.
type snapshot struct {
	sh    *Shard
	gen   uint64 // the server's number for it
	at    int64  // the instant, Unix ms
	out   []byte // records ready for the saver
	outDB int    // database of out's last record; -1 when out is empty
	obj   []byte // scratch for one value

	db       int  // database the walk is in; NumDBs once every one is done
	objs     bool // the walk is in db's objs map (else its strs)
	nextStr  func() (string, strEntry, bool)
	nextObj  func() (string, objEntry, bool)
	stop     func()
	finished [NumDBs]bool // databases whose every key is done
	served   uint64       // the shard's Processed after the last slice

	keys int  // records written since the last slice
	walk bool // the walk is writing (not preserve)
}

// SnapshotCounts is what BeginSnapshot saw: per database, the keys and
// the keys with a TTL (RESIZEDB's figures, which may count keys that
// expire before the instant and are left out).
type SnapshotCounts struct {
	Keys, Expires [NumDBs]int
}

// BeginSnapshot starts snapshot gen of the shard as it is at now (Unix
// ms), dropping one still in progress. Call it on every shard at one
// instant.
func (s *Shard) BeginSnapshot(gen uint64, now int64) SnapshotCounts {
	s.AbortSnapshot()
	s.snapMark = !s.snapMark
	s.snap = &snapshot{gen: gen, at: now, outDB: -1, sh: s}
	s.SnapKeys.Store(0)
	s.SnapEarly.Store(0)
	var c SnapshotCounts
	for i := range s.dbs {
		c.Keys[i], c.Expires[i] = s.dbs[i].Len(), len(s.dbs[i].expires)
	}
	return c
}

// Snapshotting reports whether a snapshot is in progress on the shard.
func (s *Shard) Snapshotting() bool { return s.snap != nil }

// AbortSnapshot drops the snapshot in progress, if any: the keys it did
// not reach are marked done, as the next snapshot expects (O(keys)).
func (s *Shard) AbortSnapshot() {
	sn := s.snap
	if sn == nil {
		return
	}
	sn.endWalk()
	for i := range s.dbs {
		if !sn.finished[i] {
			s.dbs[i].markAll(s.snapMark)
		}
	}
	s.snap = nil
	putSnapshotBuf(sn.out)
}

// mark is the snapshot mark of a key stored now: the shard's, which a
// snapshot in progress reads as done and the next one as not done.
func (db *DB) mark() bool { return db.sh != nil && db.sh.snapMark }

// markAll gives every key of db the mark m.
func (db *DB) markAll(m bool) {
	for k, e := range db.strs {
		if e.marked() != m {
			e.setMark(m)
			db.strs[k] = e
		}
	}
	for k, e := range db.objs {
		if e.marked() != m {
			e.setMark(m)
			db.objs[k] = e
		}
	}
}

// SnapshotSlice writes records of snapshot gen's keys not done yet until
// about max bytes are ready, and returns what is ready: records of one or
// more databases, each run of them after a SELECTDB. Last reports that
// the shard's part is complete; the snapshot then ends. It fails when
// snapshot gen is not in progress (another one replaced it). The records'
// buffer may be handed back with RecycleSnapshotBuf once written.
func (s *Shard) SnapshotSlice(gen uint64, max int) (records []byte, last bool, err error) {
	sn := s.snap
	if sn == nil || sn.gen != gen {
		return nil, false, ErrSnapshotGone
	}
	if sn.out == nil {
		sn.out = getSnapshotBuf()
	}
	mark := s.snapMark
	sn.walk = true
	defer func() { sn.walk = false }()
	for n := 0; len(sn.out) < max && sn.db < NumDBs && n < sliceKeys; n++ {
		if sn.finished[sn.db] {
			sn.db++
			continue
		}
		db := &s.dbs[sn.db]
		if !sn.objs {
			if sn.nextStr == nil {
				sn.nextStr, sn.stop = iter.Pull2(maps.All(db.strs))
			}
			k, e, ok := sn.nextStr()
			if !ok {
				sn.endWalk()
				sn.objs = true
				continue
			}
			if e.marked() != mark {
				sn.writeStr(db, k, e.str())
				db.strSlot(keyBytes(k)).setMark(mark)
			}
			continue
		}
		if sn.nextObj == nil {
			sn.nextObj, sn.stop = iter.Pull2(maps.All(db.objs))
		}
		k, e, ok := sn.nextObj()
		if !ok {
			sn.endWalk()
			sn.objs = false
			sn.finished[sn.db] = true
			continue
		}
		if e.marked() != mark {
			sn.writeObj(db, k, e.v, e.bytes())
			db.objSlot(keyBytes(k)).setMark(mark)
		}
	}
	records = sn.out
	sn.out, sn.outDB = nil, -1
	if sn.db >= NumDBs {
		s.snap = nil
		return records, true, nil
	}
	return records, false, nil
}

// ErrSnapshotGone is SnapshotSlice's error for a snapshot no longer in
// progress.
var ErrSnapshotGone = errors.New("the snapshot was dropped")

// sliceKeys bounds the keys one slice looks at, so that a slice of small
// keys stays short next to the batches it runs between.
const sliceKeys = 2048

func (sn *snapshot) endWalk() {
	if sn.stop != nil {
		sn.stop()
	}
	sn.nextStr, sn.nextObj, sn.stop = nil, nil, nil
}

// preserve writes key as it was at the instant, unless it is done.
func (sn *snapshot) preserve(db *DB, key []byte) {
	mark := db.sh.snapMark
	if e := db.strSlot(key); e != nil {
		if e.marked() != mark {
			sn.writeStr(db, string(key), e.str())
			e.setMark(mark)
		}
		return
	}
	if e := db.objSlot(key); e != nil && e.marked() != mark {
		sn.writeObj(db, string(key), e.v, e.bytes())
		e.setMark(mark)
	}
}

// complete writes every key of db not done yet, before a command
// replaces its maps (FLUSHDB, SWAPDB).
func (sn *snapshot) complete(db *DB) {
	i := db.num
	if sn.finished[i] {
		return
	}
	if sn.db == i {
		sn.endWalk()
		sn.objs = false
	}
	mark := db.sh.snapMark
	for k, e := range db.strs {
		if e.marked() != mark {
			sn.writeStr(db, k, e.str())
			e.setMark(mark)
			db.strs[k] = e
		}
	}
	for k, e := range db.objs {
		if e.marked() != mark {
			sn.writeObj(db, k, e.v, e.bytes())
			e.setMark(mark)
			db.objs[k] = e
		}
	}
	sn.finished[i] = true
}

// expireAt is key's TTL for its record, or -1. A key whose TTL has
// passed but that is still held is written too, as Redis does: the load
// drops it (and counts it in rdb_last_load_keys_expired).
func (sn *snapshot) expireAt(db *DB, k string) int64 {
	if len(db.expires) == 0 {
		return -1
	}
	if at, ok := db.expires[k]; ok {
		return at
	}
	return -1
}

func (sn *snapshot) writeStr(db *DB, k, v string) {
	sn.obj = rdb.AppendString(sn.obj[:0], v)
	sn.put(db, k, sn.expireAt(db, k), strCost(len(k), len(v)))
}

// writeObj writes the value v of k, accounted for size bytes.
func (sn *snapshot) writeObj(db *DB, k string, v any, size int64) {
	sn.obj = appendObject(sn.obj[:0], v)
	if sn.obj == nil {
		return // a type an RDB file cannot hold
	}
	sn.put(db, k, sn.expireAt(db, k), size)
}

// put appends the record of k, whose value is in sn.obj and takes size
// bytes of memory.
func (sn *snapshot) put(db *DB, k string, at, size int64) {
	if sn.out == nil {
		sn.out = getSnapshotBuf()
	}
	if sn.outDB != db.num {
		sn.out = rdb.AppendSelectDB(sn.out, db.num)
		sn.outDB = db.num
	}
	sn.out = rdb.AppendKeyValue(sn.out, k, at, sn.obj)
	sn.keys++
	sn.sh.SnapKeys.Add(1)
	if !sn.walk {
		sn.sh.SnapEarly.Add(size)
	}
	if cap(sn.obj) > 1<<20 {
		sn.obj = nil // one big value's scratch is not kept
	}
}

// keepStr writes the string entry e of key, which is about to be read or
// changed, when a snapshot runs and has not done it. Lookups that have the
// entry at hand call it rather than preserve, to save a lookup.
func (db *DB) keepStr(e *strEntry, key []byte) {
	if sh := db.sh; sh != nil && sh.snap != nil && e.marked() != sh.snapMark {
		sh.snap.writeStr(db, string(key), e.str())
		e.setMark(sh.snapMark)
	}
}

// keepObj is keepStr for an entry of any other type.
func (db *DB) keepObj(e *objEntry, key []byte) {
	if sh := db.sh; sh != nil && sh.snap != nil && e.marked() != sh.snapMark {
		sh.snap.writeObj(db, string(key), e.v, e.bytes())
		e.setMark(sh.snapMark)
	}
}

// preserve is snapshot.preserve for db's shard, when a snapshot runs.
func (db *DB) preserve(key []byte) {
	if sh := db.sh; sh != nil && sh.snap != nil {
		sh.snap.preserve(db, key)
	}
}

// preserveAll writes what is left of db, when a snapshot runs.
func (db *DB) preserveAll() {
	if sh := db.sh; sh != nil && sh.snap != nil {
		sh.snap.complete(db)
	}
}

// Record buffers go from the shards to the saver and back.
var snapshotBufs sync.Pool

const snapshotBufSize = 512 << 10

func getSnapshotBuf() []byte {
	if p, ok := snapshotBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, snapshotBufSize)
}

func putSnapshotBuf(b []byte) {
	if cap(b) >= snapshotBufSize && cap(b) <= 4*snapshotBufSize {
		snapshotBufs.Put(&b)
	}
}

// RecycleSnapshotBuf hands back the buffer of records SnapshotSlice
// returned, once they are written.
func RecycleSnapshotBuf(b []byte) { putSnapshotBuf(b) }

// SnapshotPart is a reply of Worker.SnapshotSlice.
type SnapshotPart struct {
	Records []byte
	Keys    int           // records in Records
	Took    time.Duration // the slice's time on the shard
	Busy    bool          // other work waited for the shard meanwhile
	Last    bool          // the shard's part is complete
	Err     error         // the snapshot is gone, or the slice failed (a bug, logged)
}

type snapshotSliceMsg struct {
	gen     uint64
	max     int
	reply   chan SnapshotPart
	pending func() int // the worker's mailbox length
}

func (m snapshotSliceMsg) deliver(s *Shard, _ <-chan struct{}) {
	var p SnapshotPart
	defer func() {
		if r := recover(); r != nil {
			slog.Error("shard: writing a snapshot slice panicked; the snapshot is dropped", "shard", s.ID,
				"panic", r, "stack", string(debug.Stack()))
			s.dropBroken()
			p = SnapshotPart{Err: errSnapshotPanicked}
		}
		m.reply <- p
	}()
	if sn := s.snap; sn != nil {
		// Busy: the shard ran commands since the last slice, or has some
		// waiting (with one thread, senders cannot queue during a slice).
		p.Busy = s.Processed != sn.served || m.pending() > 0
	}
	began := time.Now()
	if sn := s.snap; sn != nil && sn.gen == m.gen {
		// The records of keys that preserve wrote since the last slice
		// are in out already: count them with this slice's.
		defer func() { p.Keys, sn.keys = sn.keys, 0 }()
	}
	p.Records, p.Last, p.Err = s.SnapshotSlice(m.gen, m.max)
	p.Took = time.Since(began)
	if sn := s.snap; sn != nil {
		sn.served = s.Processed
	}
}

var errSnapshotPanicked = errors.New("writing the snapshot panicked (see the log)")

// dropBroken drops a snapshot whose slice panicked as AbortSnapshot does:
// its walk stopped, the keys it did not reach marked, or the next snapshot
// would take them for done. Should that panic too, the snapshot is only
// forgotten.
func (s *Shard) dropBroken() {
	defer func() {
		if recover() != nil {
			s.snap = nil
		}
	}()
	s.AbortSnapshot()
}

// SnapshotSlice runs Shard.SnapshotSlice on the worker, between batches.
// It gives up with ErrSnapshotCancelled once cancel is closed: a shard
// lent for long (a stuck connection) must not hold up whoever cancels
// the save (Shutdown).
func (w *Worker) SnapshotSlice(gen uint64, max int, cancel <-chan struct{}) (SnapshotPart, error) {
	m := snapshotSliceMsg{gen: gen, max: max, reply: make(chan SnapshotPart, 1), pending: w.Pending}
	if err := w.a.Send(m); err != nil {
		return SnapshotPart{}, err
	}
	select {
	case p := <-m.reply:
		return p, nil
	case <-w.a.Done():
		return SnapshotPart{}, actor.ErrStopped
	case <-cancel:
		return SnapshotPart{}, ErrSnapshotCancelled
	}
}

// ErrSnapshotCancelled is Worker.SnapshotSlice's error once its cancel
// channel is closed.
var ErrSnapshotCancelled = errors.New("the snapshot was cancelled")

// endSnapshotAtStop stops the walk of a snapshot still in progress once
// the worker has stopped (the abort a cancelled BGSAVE sent may have been
// dropped with the mailbox): its iter.Pull coroutine would stay parked for
// good, holding the maps. Not when the shard was left with a borrower,
// which may still use it. The marks no longer matter.
func (s *Shard) endSnapshotAtStop() {
	if s.leftLent || s.snap == nil {
		return
	}
	s.snap.endWalk()
	s.snap = nil
}

type snapshotAbortMsg struct{ gen uint64 }

func (m snapshotAbortMsg) deliver(s *Shard, _ <-chan struct{}) {
	if s.snap != nil && s.snap.gen == m.gen {
		s.AbortSnapshot()
	}
}

// AbortSnapshot drops the worker's snapshot gen if it is in progress,
// without waiting.
func (w *Worker) AbortSnapshot(gen uint64) { w.a.Send(snapshotAbortMsg{gen}) }

// countChange counts a write command that ran, unless it failed or changed
// nothing, and reports whether it counted it (rdb_changes_since_last_save counts them; Redis counts some
// commands' changes one by one, Valkyrie one per command); publishChanges
// makes the count readable by the server, once per batch.
func (s *Shard) countChange(c *Ctx, cmd *Command, reply []byte) bool {
	if c.noChange || len(reply) == 0 {
		return false
	}
	switch reply[0] {
	case '+': // OK, and the like
		s.changes++
		return true
	case ':': // a count or a value: any but 0 and -1 means a change
		if len(reply) > 1 && reply[1] != '0' && reply[1] != '-' {
			s.changes++
			return true
		}
	}
	if !unchanged(cmd, c.Args, reply) {
		s.changes++
		return true
	}
	return false
}

func (s *Shard) publishChanges() {
	if s.Changes.Load() != s.changes {
		s.Changes.Store(s.changes)
	}
}

package conn

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// A full sync is a session that replicas join: with repl-diskless-sync
// (the default) it waits repl-diskless-sync-delay seconds for more
// replicas first, as Redis does, sending each a newline every second so
// its link stays up. Then, with every shard held for an instant, the
// snapshot begins and each replica's sink joins the journal at that
// offset; one RDB is made and sent to all of them: streamed with an EOF
// mark when all take one and the sync is diskless, else written to a
// temporary file in dir and sent from it as a bulk of known length.

type syncSession struct {
	replicas []*replica    // joined before it started (under replState.mu)
	done     chan struct{} // closed once every replica has its RDB (or failed)
}

// joinSync adds r to the session that still takes replicas, or starts a
// new one, and returns it.
func (s *Server) joinSync(r *replica) *syncSession {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	if sess := s.repl.pending; sess != nil {
		sess.replicas = append(sess.replicas, r)
		return sess
	}
	sess := &syncSession{replicas: []*replica{r}, done: make(chan struct{})}
	s.repl.pending = sess
	s.repl.syncs.Add(1)
	go s.runSync(sess)
	return sess
}

// runSync runs a full sync session.
func (s *Server) runSync(sess *syncSession) {
	defer s.repl.syncs.Done()
	defer close(sess.done)
	diskless := s.cfg.Bool("repl-diskless-sync")
	if diskless {
		delay := s.cfg.Int("repl-diskless-sync-delay")
		for i := int64(0); i < delay; i++ {
			if max := s.cfg.Int("repl-diskless-sync-max-replicas"); max > 0 && s.sessionSize(sess) >= int(max) {
				break
			}
			if !s.keepAliveWait(sess, time.Second) {
				break
			}
		}
	}
	// No more replicas join this one: the next starts a session of its own.
	s.repl.mu.Lock()
	if s.repl.pending == sess {
		s.repl.pending = nil
	}
	rs := append([]*replica(nil), sess.replicas...)
	s.repl.mu.Unlock()

	// The shards take one snapshot at a time (Redis's replicas wait for
	// the next BGSAVE too).
	h, err := s.awaitSnapshotSlot(sess, rs)
	if err == errSessionEnded {
		return
	}
	if err != nil {
		s.log.Warn("cannot sync the replicas: " + err.Error())
		failAll(rs, err)
		return
	}
	defer func() {
		s.persist.mu.Lock()
		if s.persist.bg == h.cancel {
			s.persist.bg = nil
		}
		s.persist.mu.Unlock()
	}()
	eof := diskless
	for _, r := range rs {
		eof = eof && r.capaEOF
		if r.psync {
			r.fail(r.write(s, []byte("+FULLRESYNC "+s.masterReplID()+" "+strconv.FormatInt(h.start, 10)+"\r\n")))
		}
		// wait_bgsave while the snapshot is written (to the sockets, or to
		// a file that send_bulk then sends), as Redis's states.
	}
	target := "disk"
	if eof {
		target = "replicas sockets"
	}
	s.log.Info("Starting BGSAVE for SYNC with target: "+target, "replicas", len(rs))
	// Redis then names the child that makes the RDB; here it is this
	// process (the suite waits for the line to see that a sync began).
	if eof {
		s.log.Info("Background RDB transfer started by pid " + strconv.Itoa(os.Getpid()))
	} else {
		s.log.Info("Background saving started by pid " + strconv.Itoa(os.Getpid()))
	}
	if eof {
		err = s.sendRDBWithMark(rs, h)
	} else {
		err = s.sendRDBFile(rs, h)
	}
	if err != nil {
		for _, w := range s.workers {
			w.AbortSnapshot(h.gen)
		}
		failAll(rs, err)
	}
}

func (s *Server) sessionSize(sess *syncSession) int {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	return len(sess.replicas)
}

// keepAliveWait waits d, then sends each replica of the session a newline
// (Redis's keep-alive while a replica waits for its RDB). It reports false
// if the server is stopping.
func (s *Server) keepAliveWait(sess *syncSession, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.stopping:
		return false
	}
	if s.sleepGate.Load() != nil {
		return true // DEBUG SLEEP stops the whole server, keep-alives too
	}
	s.repl.mu.Lock()
	rs := append([]*replica(nil), sess.replicas...)
	s.repl.mu.Unlock()
	for _, r := range rs {
		if r.syncErr == nil {
			r.fail(r.write(s, []byte("\n")))
		}
	}
	return true
}

// fail records the first error of r's sync, if err is one.
func (r *replica) fail(err error) {
	if err != nil && r.syncErr == nil {
		r.syncErr = err
	}
}

func failAll(rs []*replica, err error) {
	for _, r := range rs {
		r.fail(err)
	}
}

// replSnapshot is a snapshot begun for replicas: its head, the journal
// offset of its instant, and the BGSAVE slot it holds.
type replSnapshot struct {
	snapshotHead
	start int64
}

// errSessionEnded: awaitSnapshotSlot failed the session's replicas.
var errSessionEnded = errors.New("the sync session ended")

// awaitSnapshotSlot begins the session's snapshot once no BGSAVE, rewrite
// or other session's snapshot runs, for a minute at most. One that began
// between the check and the snapshot is waited for the same way. While it
// waits, saveSlotTaken keeps clients' saves from going first; it stops
// counting as waiting as soon as it returns, so that its slot is free the
// moment its snapshot ends.
func (s *Server) awaitSnapshotSlot(sess *syncSession, rs []*replica) (replSnapshot, error) {
	s.repl.syncWaiting.Add(1)
	defer s.repl.syncWaiting.Add(-1)
	for deadline := time.Now().Add(time.Minute); ; {
		if !s.bgsaveRunning() && !s.aofRewriting() {
			if h, err := s.beginReplicaSnapshot(rs); err != errSnapshotTaken {
				return h, err
			}
		}
		if time.Now().After(deadline) {
			failAll(rs, errors.New("a background save did not end"))
			return replSnapshot{}, errSessionEnded
		}
		if !s.keepAliveWait(sess, 100*time.Millisecond) {
			failAll(rs, errors.New("server is shutting down"))
			return replSnapshot{}, errSessionEnded
		}
	}
}

// saveSlotTaken reports whether a BGSAVE runs or a replica's sync waits
// to begin its snapshot: a client's BGSAVE, BGREWRITEAOF or a rewrite due
// must not start before it.
func (s *Server) saveSlotTaken() bool {
	return s.bgsaveRunning() || s.repl.syncWaiting.Load() > 0
}

// errSnapshotTaken: a BGSAVE, a rewrite or another sync began its
// snapshot first.
var errSnapshotTaken = errors.New("a background save started meanwhile")

// beginReplicaSnapshot holds every shard for an instant: the snapshot
// begins, and each replica's sink joins the journal there.
func (s *Server) beginReplicaSnapshot(rs []*replica) (replSnapshot, error) {
	var h replSnapshot
	var err error
	limit := s.replicaOutLimit()
	ok := s.holdAllShardsWithin(5*time.Second, func(held []*shard.Shard) {
		p := &s.persist
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.bg != nil || s.aofRewriting() {
			err = errSnapshotTaken
			return
		}
		s.repl.mu.Lock()
		if !s.repl.active {
			s.repl.active = true
			s.journal.SetBacklog(int(s.cfg.Int("repl-backlog-size")))
		}
		s.repl.mu.Unlock()
		for _, r := range rs {
			r.sink, h.start, _ = s.journal.AddSink(limit, 0, false)
		}
		s.journal.ForceSelect()
		s.journal.SetOn(true)
		// A master's stream selects its database first (ForceSelect); a
		// replica passes on its master's, whose database the file names.
		streamDB := 0
		if s.isReplica() {
			s.replica.hist.Lock()
			streamDB = s.replica.db
			s.replica.hist.Unlock()
		}
		h.snapshotHead = s.beginSnapshot(held, false, &rdb.ReplInfo{StreamDB: streamDB, ID: s.masterReplID(), Offset: h.start})
		// A BGSAVE now finds the shards' snapshot taken, as Redis's finds
		// its child busy.
		p.bg = &bgSave{began: time.Now(), cancel: make(chan struct{})}
		h.cancel = p.bg
	})
	if !ok && err == nil {
		err = errors.New("a shard stayed busy")
	}
	return h, err
}

// fanOut writes to every replica whose sync has not failed; a replica
// whose write fails is dropped, and the write fails only when none is left.
type fanOut struct {
	s  *Server
	rs []*replica
}

func (f fanOut) Write(b []byte) (int, error) {
	if f.live() == 0 {
		return 0, errAllReplicasGone
	}
	for _, r := range f.rs {
		if r.syncErr == nil {
			err := r.write(f.s, b)
			if errors.Is(err, errReplicaTimedOut) {
				f.s.log.Warn("Disconnecting timedout replica (full sync): " + r.name())
			}
			r.fail(err)
		}
	}
	if f.live() == 0 {
		f.s.log.Warn("Diskless rdb transfer, last replica dropped, killing fork child.")
		return 0, errAllReplicasGone
	}
	return len(b), nil
}

// live counts the replicas whose sync has not failed.
func (f fanOut) live() int {
	n := 0
	for _, r := range f.rs {
		if r.syncErr == nil {
			n++
		}
	}
	return n
}

var errAllReplicasGone = errors.New("every replica of the sync is gone")

// sendRDBWithMark streams the RDB to the replicas as Redis's diskless
// sync does: $EOF:<mark>, the RDB, the mark.
func (s *Server) sendRDBWithMark(rs []*replica, h replSnapshot) error {
	var m [20]byte
	rand.Read(m[:])
	mark := hex.EncodeToString(m[:])
	w := fanOut{s, rs}
	if _, err := w.Write([]byte("$EOF:" + mark + "\r\n")); err != nil {
		return err
	}
	next := s.snapshotSlices(h.snapshotHead, h.cancel.cancel)
	if err := s.writeRDBTo(w, h.snapshotHead, h.cancel.cancel, next); err != nil {
		return err
	}
	if _, err := w.Write([]byte(mark)); err != nil {
		return err
	}
	for _, r := range rs {
		r.sentEOF = true
	}
	// Redis's words for the end of a transfer its child streamed through
	// a pipe: here the snapshot was written to the sockets directly.
	s.log.Warn("Diskless rdb transfer, done reading from pipe, " + strconv.Itoa(w.live()) + " replicas still up.")
	return nil
}

// allGone reports whether every replica's link has ended.
func allGone(rs []*replica) bool {
	for _, r := range rs {
		select {
		case <-r.gone:
		default:
			return false
		}
	}
	return true
}

// sendRDBFile writes the RDB to a temporary file in dir, keeping the
// replicas alive meanwhile, and sends it to each as $<length> and the
// bytes.
func (s *Server) sendRDBFile(rs []*replica, h replSnapshot) error {
	f, err := os.CreateTemp(s.cfg.Value("dir"), "temp-replsync-*.rdb")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	made := make(chan error, 1)
	go func() {
		next := s.snapshotSlices(h.snapshotHead, h.cancel.cancel)
		made <- s.writeRDBTo(f, h.snapshotHead, h.cancel.cancel, next)
	}()
	sess := &syncSession{replicas: rs}
	keepAlive := time.NewTicker(time.Second)
	defer keepAlive.Stop()
	check := time.NewTicker(10 * time.Millisecond)
	defer check.Stop()
	for waiting := true; waiting; {
		select {
		case err = <-made:
			waiting = false
		case <-keepAlive.C:
			s.keepAliveWait(sess, 0)
		case <-check.C:
			if allGone(rs) && s.cfg.Value("save") == "" {
				// No replica waits for the file, and no save point would
				// use it: stop writing it, as Redis kills its child.
				s.persist.mu.Lock()
				if s.persist.bg == h.cancel {
					close(h.cancel.cancel)
					s.persist.bg = nil
				}
				s.persist.mu.Unlock()
				check.Stop()
			}
		}
	}
	for _, r := range rs {
		r.state.Store(&stateSendBulk) // the file is written: now it goes
	}
	if err != nil {
		return err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.syncErr != nil {
			continue
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r.fail(r.write(s, []byte("$"+strconv.FormatInt(size, 10)+"\r\n")))
		if r.syncErr == nil {
			_, cerr := io.Copy(writerFunc(func(b []byte) error { return r.write(s, b) }), f)
			r.fail(cerr)
		}
	}
	return nil
}

// awaitFirstAck waits for the replica's first REPLCONF ACK after an RDB
// sent with an EOF mark: a replica cannot tell the mark from stream bytes
// that follow it in the same read, so Redis starts the stream only once
// the replica has acknowledged the load. It reports false if stop closed.
func (s *Server) awaitFirstAck(r *replica, stop chan struct{}) bool {
	for r.ackTime.Load() == 0 {
		s.repl.mu.Lock()
		wake := s.repl.ackWake
		s.repl.mu.Unlock()
		if r.ackTime.Load() != 0 {
			break
		}
		select {
		case <-wake:
		case <-stop:
			return false
		case <-s.stopping:
			return false
		}
	}
	return true
}

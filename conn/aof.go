package conn

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/aof"
)

// The append-only file, in Redis 7.0's multi-part layout: a directory
// (appenddirname) holding a manifest, a base file (an RDB, written from a
// snapshot) and incremental files of commands in RESP.
//
// The shards record every write in the journal (shard/journal.go) before
// they answer. One goroutine, the AOF writer, takes what the journal got
// and appends it to the current incremental file at once; a connection's
// reply to a write waits until the writer has written it, as Redis writes
// its AOF buffer before it replies. With appendfsync always the writer
// also syncs the file before those replies may leave (group commit: one
// fsync covers every write that arrived while the last one ran); with
// everysec it syncs once a second; with no, never.
//
// BGREWRITEAOF begins a snapshot with every shard held, as BGSAVE does,
// and at that instant starts a new incremental file: the snapshot becomes
// the new base, and the older files go once it is written.

// aofState is the server's AOF state. mu orders the writer, the rewrite
// and CONFIG SET appendonly.
type aofState struct {
	mu      sync.Mutex
	on      bool // appendonly is on (or waiting for its first rewrite)
	waiting bool // turned on at run time; on for good once the base is written
	dir     string
	man     *aof.Manifest
	f       *os.File // the incremental file written to
	sink    *shard.JournalSink
	buf     []byte // journal bytes not yet written (a failed write keeps them)
	// incrSize and baseSize are the files' sizes (aof_current_size is
	// their sum with the older incr files', incrBefore).
	incrSize, baseSize, incrBefore int64
	lastFsync                      time.Time
	dirty                          bool // written since the last fsync

	// wait is set while the AOF is on: replies to writes wait until the
	// writer has passed them (synced: written, and with appendfsync
	// always synced too), as Redis writes its AOF buffer before replying.
	wait   atomic.Bool
	synced atomic.Int64
	// wake is closed (and replaced) each time synced moves.
	wakeMu sync.Mutex
	wake   chan struct{}
	// writeErr is the last write's error text, "" when it succeeded
	// (aof_last_write_status; MISCONF while set).
	writeErr atomic.Pointer[string]
	broken   atomic.Bool // with always, a write failed: waiting replies never go
	// flushSleep is DEBUG AOF-FLUSH-SLEEP: microseconds each write of the
	// AOF sleeps first, for tests.
	flushSleep atomic.Int64
	lastTS     int64 // the second of the last #TS annotation (aof-timestamp-enabled)

	stop chan struct{} // closed to stop the writer
	done chan struct{} // closed when it has stopped

	rw        *bgSave // the rewrite in progress
	scheduled bool    // a rewrite waits for the BGSAVE to end
	rewrites  atomic.Int64
	rwFails   atomic.Int64
	rwLastOK  atomic.Bool
	rwLastDur atomic.Int64
	rwBegan   atomic.Int64 // Unix ns, 0 if none
}

const errAOFMisconf = "MISCONF Errors writing to the AOF file: "

// errAOFBroken closes a connection whose writes could not be made
// durable (appendfsync always): it gets no reply rather than a false one.
var errAOFBroken = errors.New("conn: the AOF cannot be written")

// aofDir is the directory of the AOF files.
func (s *Server) aofDir() string {
	return filepath.Join(s.cfg.Value("dir"), s.cfg.Value("appenddirname"))
}

func (s *Server) aofName() string { return s.cfg.Value("appendfilename") }

// initAOF readies the AOF state; the AOF itself starts with LoadAtStartup
// or CONFIG SET appendonly yes.
func (s *Server) initAOF() {
	a := &s.aof
	a.wake = make(chan struct{})
	a.rwLastOK.Store(true)
	a.rwLastDur.Store(-1)

}

// readManifest reads the AOF directory's manifest; a missing one is an
// empty manifest.
func (s *Server) readManifest() (*aof.Manifest, error) {
	f, err := os.Open(filepath.Join(s.aofDir(), aof.ManifestName(s.aofName())))
	if errors.Is(err, os.ErrNotExist) {
		return &aof.Manifest{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return aof.ParseManifest(f)
}

// persistManifest writes m under a temporary name, syncs it and renames it
// over the manifest, then syncs the directory.
func (s *Server) persistManifest(m *aof.Manifest) error {
	dir := s.aofDir()
	tmp := filepath.Join(dir, aof.TempManifestName(s.aofName()))
	if err := writeFileSync(tmp, m.Append(nil)); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, aof.ManifestName(s.aofName()))); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// openIncr opens the last incremental file of the manifest for appending,
// creating one if there is none, and persists the manifest. Called with
// a.mu held.
func (s *Server) openIncr() error {
	a := &s.aof
	name, created := a.man.LastIncr(s.aofName())
	path := filepath.Join(a.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return errors.New("Can't open the append-only file " + name + ": " + errnoMessage(err))
	}
	if err := s.persistManifest(a.man); err != nil {
		f.Close()
		return err
	}
	a.f = f
	a.incrSize = fileSize(path)
	if created {
		s.log.Info("Creating AOF incr file " + name + " on server start")
	} else {
		s.log.Info("Opening AOF incr file " + name + " on server start")
	}
	return nil
}

// readyAOFDir creates the AOF directory if need be and reads its manifest
// unless it is known. Called with a.mu held.
func (s *Server) readyAOFDir() error {
	a := &s.aof
	a.dir = s.aofDir()
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		return errors.New("Can't open or create append-only dir " + a.dir + ": " + errnoMessage(err))
	}
	if a.man == nil {
		m, err := s.readManifest()
		if err != nil {
			return err
		}
		a.man = m
	}
	return nil
}

// startAOF turns the AOF on with the dataset empty or just loaded from it:
// the journal records from now on, into the manifest's last incr file.
// Start-up calls it before serving. With no file at all, a base of the
// (empty) dataset is written first, as Redis does.
func (s *Server) startAOF() error {
	a := &s.aof
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := s.readyAOFDir(); err != nil {
		return err
	}
	if a.man.Base == nil && len(a.man.Incr) == 0 {
		name := a.man.NewBase(s.aofName(), s.cfg.Bool("aof-use-rdb-preamble"))
		if err := s.writeEmptyBase(filepath.Join(a.dir, name)); err != nil {
			return err
		}
		s.log.Info("Creating AOF base file " + name + " on server start")
	}
	if err := s.openIncr(); err != nil {
		return err
	}
	a.sizesFromManifest(a.dir)
	a.sink, _, _ = s.journal.AddSink(0, 0, false)
	a.sink.SkipReplicationOnly()
	s.journal.ForceSelect()
	s.journal.SetOn(true)
	a.on = true
	a.wait.Store(true)
	a.lastFsync = time.Now()
	s.startAOFWriter()
	return nil
}

// sizesFromManifest sets the size figures from the files on disk.
func (a *aofState) sizesFromManifest(dir string) {
	a.baseSize, a.incrBefore = 0, 0
	if a.man.Base != nil {
		a.baseSize = fileSize(filepath.Join(dir, a.man.Base.Name))
	}
	for _, f := range a.man.Incr[:max(len(a.man.Incr)-1, 0)] {
		a.incrBefore += fileSize(filepath.Join(dir, f.Name))
	}
}

// writeEmptyBase writes the base of an empty dataset.
func (s *Server) writeEmptyBase(path string) error {
	h := snapshotHead{at: time.Now(), header: s.rdbHead(time.Now(), true, nil)}
	return s.writeBase(path, h, nil, func() (shard.SnapshotPart, bool, error) {
		return shard.SnapshotPart{}, true, nil
	})
}

// writeBase writes an AOF base from a snapshot: an RDB, or with
// aof-use-rdb-preamble no the commands that rebuild it (the RDB is
// converted as it is made).
func (s *Server) writeBase(path string, h snapshotHead, cancel <-chan struct{},
	next func() (shard.SnapshotPart, bool, error)) error {
	if s.cfg.Bool("aof-use-rdb-preamble") {
		return s.writeRDB(path, h, cancel, next)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	made := make(chan error, 1)
	go func() {
		err := s.writeRDBTo(pw, h, cancel, next)
		pw.CloseWithError(err)
		made <- err
	}()
	var opts aof.FromRDBOptions
	if s.cfg.Bool("aof-timestamp-enabled") {
		opts.Timestamp = time.Now().Unix()
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = aof.FromRDB(pr, bw, opts)
	pr.CloseWithError(errSaveCancelled) // the snapshot's writer stops if the conversion did
	if merr := <-made; err == nil && merr != nil {
		err = merr
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func (s *Server) startAOFWriter() {
	a := &s.aof
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go s.runAOFWriter(a.sink, a.stop, a.done)
}

// runAOFWriter appends what the journal gets to the AOF until stop closes.
func (s *Server) runAOFWriter(sink *shard.JournalSink, stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-sink.Kick():
			s.flushAOF(false)
		case <-tick.C:
			s.flushAOF(false)
		case <-stop:
			s.flushAOF(true)
			return
		}
	}
}

// flushAOF writes the journal's new bytes to the incremental file and
// syncs it as appendfsync says (force: sync whatever the policy).
func (s *Server) flushAOF(force bool) {
	a := &s.aof
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.on || a.f == nil || a.sink == nil {
		return
	}
	var off int64
	start := len(a.buf)
	a.buf, off, _ = a.sink.Take(a.buf)
	if len(a.buf) > start && s.cfg.Bool("aof-timestamp-enabled") {
		// Redis annotates the time before the writes of a new second.
		if now := time.Now().Unix(); now != a.lastTS {
			a.lastTS = now
			ts := aof.AppendTimestamp(nil, now)
			a.buf = append(a.buf, ts...)
			copy(a.buf[start+len(ts):], a.buf[start:len(a.buf)-len(ts)])
			copy(a.buf[start:], ts)
		}
	}
	if d := a.flushSleep.Load(); d > 0 && len(a.buf) > 0 {
		time.Sleep(time.Duration(d) * time.Microsecond)
	}
	if len(a.buf) > 0 {
		n, err := a.f.Write(a.buf)
		a.incrSize += int64(n)
		if err != nil {
			a.buf = a.buf[:copy(a.buf, a.buf[n:])] // written again next time
			msg := errnoMessage(err)
			if a.writeErr.Load() == nil {
				s.log.Warn("Error writing to the AOF file: " + msg)
			}
			a.writeErr.Store(&msg)
			if s.cfg.Value("appendfsync") == "always" {
				// Redis exits here; Valkyrie stays up but never
				// acknowledges the writes that did not reach the disk.
				if !a.broken.Swap(true) {
					s.log.Error("Can't recover from AOF write error when the AOF fsync policy is 'always': writes are refused, and the clients waiting for them are disconnected")
				}
			} else {
				// As Redis: the replies go; the bytes are written again
				// later, and writes are refused (MISCONF) meanwhile.
				a.synced.Store(off)
			}
			s.wakeAOFWaiters()
			return
		}
		a.dropWritten()
		a.dirty = true
		if a.writeErr.Load() != nil && !a.broken.Load() {
			s.log.Warn("AOF write error looks solved, Redis can write again.")
			a.writeErr.Store(nil)
		}
	}
	policy := s.cfg.Value("appendfsync")
	if a.dirty && (force || policy == "always" || policy == "everysec" && time.Since(a.lastFsync) >= time.Second) {
		if err := syncData(a.f); err != nil {
			msg := errnoMessage(err)
			a.writeErr.Store(&msg)
			s.log.Warn("Can't persist AOF for fsync error when the AOF fsync policy is '" + policy + "': " + msg)
			if policy == "always" {
				a.broken.Store(true)
			} else {
				a.synced.Store(off) // written; the sync is tried again
			}
			s.wakeAOFWaiters()
			return
		}
		a.dirty = false
		a.lastFsync = time.Now()
	}
	if !a.dirty || policy != "always" {
		a.synced.Store(off)
		s.wakeAOFWaiters()
	}
}

// dropWritten empties the buffer of bytes to write once they are
// written; one grown past 1 MB by a burst is not kept for good.
func (a *aofState) dropWritten() {
	if cap(a.buf) > 1<<20 {
		a.buf = nil
	} else {
		a.buf = a.buf[:0]
	}
}

func (s *Server) wakeAOFWaiters() {
	a := &s.aof
	a.wakeMu.Lock()
	close(a.wake)
	a.wake = make(chan struct{})
	a.wakeMu.Unlock()
}

// awaitAOF waits, while the AOF is on, until the journal up to want (all
// of it if want is 0) is in the file (and with appendfsync always, synced), so that a
// reply never acknowledges a write the AOF has not got. It reports false
// if that cannot happen (the AOF failed with always, or the server
// stops): the caller must then not reply.
func (s *Server) awaitAOF(want int64) bool {
	a := &s.aof
	if !a.wait.Load() {
		return true
	}
	if want <= 0 {
		want = s.journal.Offset() // not known: all there is
	}
	for a.synced.Load() < want {
		if a.broken.Load() {
			return false
		}
		a.wakeMu.Lock()
		ch := a.wake
		a.wakeMu.Unlock()
		if a.synced.Load() >= want || !a.wait.Load() {
			return true
		}
		select {
		case <-ch:
		case <-s.shardsDown:
			return false
		}
	}
	return true
}

// stopAOF writes and syncs what is left and closes the file: at shutdown,
// and for CONFIG SET appendonly no.
func (s *Server) stopAOF() {
	a := &s.aof
	a.mu.Lock()
	stop, done := a.stop, a.done
	a.stop = nil
	a.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	s.cancelAOFRewrite()
	a.mu.Lock()
	defer a.mu.Unlock()
	s.dropAOFSink()
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
	// Bytes a failed write left belong to the file given up: the next
	// AOF starts from its own base.
	a.buf = nil
	a.on = false
	a.wait.Store(false)
	s.wakeAOFWaiters()
}

// aofMisconf is the MISCONF reply when the AOF cannot be written, or "".
// Only while the AOF is on (or waits for its base), as in Redis: turning
// it off is how one lets writes in again when its disk is full, and
// aof_last_write_status keeps saying err.
func (s *Server) aofMisconf() string {
	if p := s.aof.writeErr.Load(); p != nil && s.aof.wait.Load() {
		return errAOFMisconf + *p
	}
	return ""
}

// infoAOF appends INFO persistence's aof_* fields before the sizes.
func (s *Server) infoAOF(b []byte) []byte {
	a := &s.aof
	a.mu.Lock()
	on, rewriting, scheduled := a.on, a.rw != nil, a.scheduled
	a.mu.Unlock()
	b = infoInt(b, "aof_enabled", boolInt(on))
	b = infoInt(b, "aof_rewrite_in_progress", boolInt(rewriting))
	b = infoInt(b, "aof_rewrite_scheduled", boolInt(scheduled))
	b = infoInt(b, "aof_last_rewrite_time_sec", a.rwLastDur.Load())
	cur := int64(-1)
	if began := a.rwBegan.Load(); began != 0 {
		cur = int64(time.Since(time.Unix(0, began)).Seconds())
	}
	b = infoInt(b, "aof_current_rewrite_time_sec", cur)
	b = infoStr(b, "aof_last_bgrewrite_status", okErr(a.rwLastOK.Load()))
	b = infoInt(b, "aof_rewrites", a.rewrites.Load())
	b = infoInt(b, "aof_rewrites_consecutive_failures", a.rwFails.Load())
	b = infoStr(b, "aof_last_write_status", okErr(a.writeErr.Load() == nil))
	return infoInt(b, "aof_last_cow_size", 0)
}

// infoAOFSizes appends the fields Redis adds while the AOF is on.
func (s *Server) infoAOFSizes(b []byte) []byte {
	a := &s.aof
	a.mu.Lock()
	on := a.on
	cur, base := a.baseSize+a.incrBefore+a.incrSize, a.baseSize
	a.mu.Unlock()
	if !on {
		return b
	}
	b = infoInt(b, "aof_current_size", cur)
	b = infoInt(b, "aof_base_size", base)
	b = infoInt(b, "aof_pending_rewrite", 0)
	b = infoInt(b, "aof_buffer_length", 0)
	b = infoInt(b, "aof_pending_bio_fsync", 0)
	return infoInt(b, "aof_delayed_fsync", 0)
}

func boolInt(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

func okErr(ok bool) string {
	if ok {
		return "ok"
	}
	return "err"
}

// dropAOFSink detaches the AOF from the journal, which stops recording if
// no replica reads it. Called with a.mu held.
func (s *Server) dropAOFSink() {
	if s.aof.sink != nil {
		s.aof.sink.Remove()
		s.aof.sink = nil
	}
	s.journalInUse()
}

package conn

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// RDB persistence: SAVE, BGSAVE, LASTSAVE, the save points, the save at
// shutdown and the load at start-up.
//
// A snapshot begins on every shard at one instant, with all of them held
// (beginSnapshot). SAVE then has each held shard write all its records at
// once, as Redis's SAVE blocks the server. BGSAVE gives the shards back at
// once: one goroutine asks each shard in turn for its next slice of
// records (shard/snapshot.go) and writes the file, while the shards go on
// serving between slices. The file is written to a temporary name in dir,
// synced, and renamed over dbfilename.

// persistState is the server's RDB state.
type persistState struct {
	mu        sync.Mutex
	bg        *bgSave // the BGSAVE running, or nil
	scheduled bool    // BGSAVE SCHEDULE (or BGSAVE in EXEC) waits for the cron
	lastTry   int64   // Unix s of the last BGSAVE attempt
	wg        sync.WaitGroup

	lastSave  atomic.Int64 // Unix s of the last successful save (LASTSAVE)
	lastOK    atomic.Bool  // the last BGSAVE succeeded
	lastBgDur atomic.Int64 // seconds the last BGSAVE took, -1 before one
	saves     atomic.Int64 // rdb_saves
	// changesSaved is the shards' change count at the instant of the last
	// successful snapshot; the difference is rdb_changes_since_last_save.
	changesSaved atomic.Int64
	loading      loadFlag
	// asyncLoading: a replica's diskless load (repl-diskless-load swapdb,
	// same history) goes on beside the dataset, which clients keep
	// using; loading is set too, as Redis's server.loading is, but only
	// the commands Redis refuses during async loading get -LOADING.
	asyncLoading atomic.Bool
	// loadFailed: the file at start-up did not load; the dataset holds a
	// part of it, which must never be saved over it.
	loadFailed  atomic.Bool
	loadLoaded  atomic.Int64 // rdb_last_load_keys_loaded
	loadExpired atomic.Int64 // rdb_last_load_keys_expired
	// The file being loaded, for INFO's loading_* fields: when it began
	// (Unix s), its size, the used-mem its aux field says, bytes read.
	loadStart, loadTotal, loadUsedMem, loadBytes atomic.Int64
	// loadStreamDB is the last file's repl-stream-db (0 if none): the
	// database a replica's master stream has selected.
	loadStreamDB atomic.Int64
	// loadedRepl is the replication history the last file loaded records
	// (ID "" if none), set by loadRDBFrom; LoadAtStartup restores it.
	loadedRepl rdb.ReplInfo
	// noteExpired makes a load list in expiredOnLoad the keys it leaves
	// out as expired: a master's load at start-up, whose replicas must
	// delete them too (restoreReplInfo).
	noteExpired   bool
	expiredOnLoad []dbKey
	// expiredBytes is the size of the DELs of the keys left out as
	// expired; past the backlog's size expiredOnLoad is dropped and
	// expiredOverflow set: no replica could continue from the file's
	// offset anyway, as the backlog would not reach back to it.
	expiredBytes    int64
	expiredOverflow bool
	shutdownMode    atomic.Int32 // shutdownDefault, shutdownSave or shutdownNoSave
	// shutdownSaved: the shutdown saved already (PrepareShutdown, SHUTDOWN).
	shutdownSaved atomic.Bool
	gen           atomic.Uint64 // the last snapshot's number
	renameMu      sync.Mutex    // held while a save renames its file into place
	// The BGSAVE in progress: keys at its instant (INFO's
	// current_save_keys_total; the shards count the rest), and the last
	// one's bytes written ahead of the walk (rdb_last_cow_size).
	saveTotal atomic.Int64
	lastEarly atomic.Int64
}

type bgSave struct {
	began  time.Time
	cancel chan struct{}
}

// Replies of the persistence commands, as Redis's.
const (
	errBgsaveRunning = "ERR Background save already in progress"
	errLoading       = "LOADING Redis is loading the dataset in memory"
	// errSaveFailed is SAVE's and DEBUG RELOAD's reply when the file
	// cannot be written: Redis's bare shared.err, the reason in the log.
	errSaveFailed = "ERR"
	errMisconf    = script.ErrMisconf // after a failed BGSAVE
)

func init() {
	registerLocal(
		&localCommand{Spec: shard.Spec{Name: "save", Arity: 1,
			Flags: shard.NoAsyncLoading | shard.Admin | shard.NoScript | shard.NoMulti | shard.AllShards,
			Group: "server", Since: "1.0.0", Summary: "Synchronously save the dataset to disk",
			Complexity: "O(N) where N is the total number of keys in all databases", ACL: []string{"dangerous"}},
			run: cmdSave, barrier: true},
		&localCommand{Spec: shard.Spec{Name: "bgsave", Arity: -1,
			Flags: shard.NoAsyncLoading | shard.Admin | shard.NoScript | shard.AllShards,
			Group: "server", Since: "1.0.0", Summary: "Asynchronously save the dataset to disk",
			Complexity: "O(1)", Syntax: "[SCHEDULE]", ACL: []string{"dangerous"}},
			run: cmdBgsave, barrier: true},
		&localCommand{Spec: shard.Spec{Name: "lastsave", Arity: 1,
			Flags: shard.Loading | shard.Stale | shard.Fast,
			Group: "server", Since: "1.0.0", Summary: "Get the UNIX time stamp of the last successful save to disk",
			Complexity: "O(1)", ACL: []string{"admin", "dangerous"}},
			run: cmdLastsave},
	)
}

func cmdLastsave(c *client, args [][]byte) {
	c.replyInt(c.srv.persist.lastSave.Load())
}

func cmdSave(c *client, args [][]byte) {
	if c.srv.bgsaveRunning() {
		c.replyError(errBgsaveRunning)
		return
	}
	var err error
	if !c.holdAll(func(held []*shard.Shard) {
		c.srv.persist.saves.Add(1) // as Redis, rdb_saves counts the attempt
		err = c.srv.saveHeld(held)
	}) {
		return
	}
	if err != nil {
		c.replyError(errSaveFailed) // the reason is logged (saved)
		return
	}
	c.replyOK()
}

func cmdBgsave(c *client, args [][]byte) {
	// SCHEDULE waits for another child process (an AOF rewrite) in Redis;
	// there is none, so it starts the save at once.
	if len(args) > 2 || len(args) == 2 && !equalFold(args[1], "schedule") {
		c.replyError(shard.ErrSyntax)
		return
	}
	if c.srv.bgsaveRunning() {
		c.replyError(errBgsaveRunning)
		return
	}
	if c.srv.aofRewriting() {
		if len(args) == 2 {
			c.srv.persist.mu.Lock()
			c.srv.persist.scheduled = true
			c.srv.persist.mu.Unlock()
			c.replySimple("Background saving scheduled")
			return
		}
		c.replyError("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")
		return
	}
	if c.srv.saveSlotTaken() {
		// A replica's sync waits for the slot: its save comes first, as
		// Redis's starts as soon as the last child ends.
		c.replyError(errBgsaveRunning)
		return
	}
	if c.tx.execing {
		// As Redis: in a transaction the save starts after it.
		c.srv.persist.mu.Lock()
		c.srv.persist.scheduled = true
		c.srv.persist.mu.Unlock()
		c.replySimple("Background saving scheduled")
		return
	}
	var err error
	if !c.holdAll(func(held []*shard.Shard) { err = c.srv.startBgsave(held) }) {
		return
	}
	if err != nil {
		c.replyError("ERR " + err.Error())
		return
	}
	c.replySimple("Background saving started")
}

// bgsaveRunning reports whether a BGSAVE is in progress.
func (s *Server) bgsaveRunning() bool {
	s.persist.mu.Lock()
	defer s.persist.mu.Unlock()
	return s.persist.bg != nil
}

// changes is the number of writes the shards have run.
func (s *Server) changes() int64 {
	var n int64
	for _, sh := range s.shards {
		n += sh.Changes.Load()
	}
	return n
}

// dirtied counts n changes no shard counted towards
// rdb_changes_since_last_save and the save points, as Redis's
// server.dirty++ outside a command.
func (s *Server) dirtied(n int64) { s.persist.changesSaved.Add(-n) }

// rdbPath is the file SAVE and BGSAVE write and start-up loads.
func (s *Server) rdbPath() string {
	return filepath.Join(s.cfg.Value("dir"), s.cfg.Value("dbfilename"))
}

// snapshotHead is what a snapshot's file starts with, taken at its
// instant along with the shards' counts.
type snapshotHead struct {
	gen     uint64
	at      time.Time
	changes int64
	keys    int64 // in every database, expired or not
	header  []byte
	cancel  *bgSave // the BGSAVE slot a replica's full sync holds (repl.go)
}

// beginSnapshot starts a snapshot on every held shard (all of them) and
// returns the file's start: the header, the aux fields, the function
// libraries and each database's RESIZEDB. aofBase marks the file as an
// AOF's base.
func (s *Server) beginSnapshot(held []*shard.Shard, aofBase bool, repl *rdb.ReplInfo) snapshotHead {
	now := time.Now()
	gen := s.persist.gen.Add(1)
	var counts shard.SnapshotCounts
	for _, sh := range held {
		c := sh.BeginSnapshot(gen, now.UnixMilli())
		for i := range counts.Keys {
			counts.Keys[i] += c.Keys[i]
			counts.Expires[i] += c.Expires[i]
		}
	}
	h := snapshotHead{gen: gen, at: now, changes: s.changes()}
	if repl == nil && !aofBase {
		repl = s.saveReplInfo()
	}
	b := s.rdbHead(now, aofBase, repl)
	for i := range counts.Keys {
		h.keys += int64(counts.Keys[i])
		if counts.Keys[i] > 0 {
			b = rdb.AppendSelectDB(b, i)
			b = rdb.AppendResizeDB(b, uint64(counts.Keys[i]), uint64(counts.Expires[i]))
		}
	}
	h.header = b
	return h
}

// rdbHead is an RDB file's start before the keys: the header, the aux
// fields (with repl's, for a replica's sync) and the function libraries.
func (s *Server) rdbHead(now time.Time, aofBase bool, repl *rdb.ReplInfo) []byte {
	b := rdb.AppendHeader(nil)
	b = rdb.AppendInfoAux(b, now.Unix(), s.mem.Used(), aofBase, repl)
	if libs := s.scripts.DumpFunctions(); len(libs) > 10 {
		b = append(b, libs[:len(libs)-10]...) // its records, without the DUMP footer
	}
	return b
}

// saveHeld saves a snapshot of the held shards (all of them) at once: SAVE,
// DEBUG RELOAD, the save at shutdown. A BGSAVE in progress is cancelled.
func (s *Server) saveHeld(held []*shard.Shard) error {
	s.cancelBgsave()
	if s.cancelAOFRewrite() {
		// The shards have one snapshot at a time: the rewrite starts
		// again after the save.
		s.aof.mu.Lock()
		s.aof.scheduled = true
		s.aof.mu.Unlock()
	}
	h := s.beginSnapshot(held, false, nil)
	i := 0
	err := s.writeRDB(s.rdbPath(), h, nil, func() (shard.SnapshotPart, bool, error) {
		if i == len(held) {
			return shard.SnapshotPart{}, true, nil
		}
		recs, last, err := held[i].SnapshotSlice(h.gen, 1<<20)
		if last {
			i++
		}
		return shard.SnapshotPart{Records: recs, Last: last}, i == len(held), err
	})
	for _, sh := range held {
		sh.AbortSnapshot() // a failed write leaves them begun
	}
	s.saved(h, err, false)
	return err
}

// cancelBgsave cancels the BGSAVE in progress, if any, without waiting:
// its goroutine writes nothing more and removes its temporary file.
func (s *Server) cancelBgsave() {
	s.persist.mu.Lock()
	if bg := s.persist.bg; bg != nil {
		close(bg.cancel)
		s.persist.bg = nil
	}
	s.persist.mu.Unlock()
}

// startBgsave begins a snapshot on the held shards (all of them) and
// starts the goroutine that writes it.
func (s *Server) startBgsave(held []*shard.Shard) error {
	p := &s.persist
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bg != nil {
		return errors.New("Background save already in progress")
	}
	select {
	case <-s.stopping:
		return errors.New("server is shutting down")
	default:
	}
	if s.aofRewriting() {
		p.scheduled = true
		return errors.New("an AOF rewrite is in progress")
	}
	h := s.beginSnapshot(held, false, nil)
	p.saveTotal.Store(h.keys)
	bg := &bgSave{began: time.Now(), cancel: make(chan struct{})}
	p.bg, p.scheduled = bg, false
	p.lastTry = bg.began.Unix()
	p.saves.Add(1) // as Redis, rdb_saves counts the BGSAVEs started
	p.wg.Add(1)
	go s.runBgsave(bg, h, s.rdbPath())
	return nil
}

// sliceBytes is about how much one slice of a BGSAVE writes.
const sliceBytes = 128 << 10

// bgsaveYield is how many times a slice's time a shard that ran commands
// since its last slice serves before its next one: a BGSAVE's slices take
// at most a ninth of a busy shard's time, and all of an idle one's.
const bgsaveYield = 8

// runBgsave writes a snapshot begun on every shard, asking the shards for
// their slices in turn.
func (s *Server) runBgsave(bg *bgSave, h snapshotHead, path string) {
	defer s.persist.wg.Done()
	err := s.writeRDB(path, h, bg.cancel, s.snapshotSlices(h, bg.cancel))
	if err != nil {
		for _, w := range s.workers {
			w.AbortSnapshot(h.gen)
		}
	}
	select {
	case <-bg.cancel:
		// Cancelled (SAVE, FLUSHALL, shutdown): not a failure, and a
		// slice it got from a newer snapshot must not count.
		err = errSaveCancelled
	default:
	}
	s.saved(h, err, true)
	_, early := s.snapshotProgress()
	s.persist.lastEarly.Store(early)
	s.persist.saveTotal.Store(0)
	s.persist.mu.Lock()
	if s.persist.bg == bg {
		s.persist.bg = nil
	}
	s.persist.mu.Unlock()
	s.startScheduledRewrite()
}

// snapshotSlices returns the source of records for writeRDB of a snapshot
// begun on every shard: it asks the shards for their slices in turn,
// resting a busy shard between them (bgsaveYield).
func (s *Server) snapshotSlices(h snapshotHead, cancel chan struct{}) func() (shard.SnapshotPart, bool, error) {
	pending := make([]int, len(s.workers))
	for i := range pending {
		pending[i] = i
	}
	notBefore := make([]time.Time, len(s.workers))
	next := 0
	return func() (shard.SnapshotPart, bool, error) {
		// The next shard in turn that may take a slice now, or wait for
		// the first that may.
		pick, now := -1, time.Now()
		for j := range pending {
			k := (next + j) % len(pending)
			if !now.Before(notBefore[pending[k]]) {
				pick = k
				break
			}
			if pick < 0 || notBefore[pending[k]].Before(notBefore[pending[pick]]) {
				pick = k
			}
		}
		if wait := notBefore[pending[pick]].Sub(now); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-cancel:
				t.Stop()
				return shard.SnapshotPart{}, false, errSaveCancelled
			}
		}
		next = pick
		id := pending[next]
		part, err := s.workers[id].SnapshotSlice(h.gen, sliceBytes, cancel)
		if err == nil {
			err = part.Err
		}
		if err != nil {
			return part, false, err
		}
		if part.Busy {
			notBefore[id] = time.Now().Add(bgsaveYield * part.Took)
		}
		if d := s.cfg.Int("rdb-key-save-delay"); d > 0 && part.Keys > 0 {
			// Redis's child sleeps this long per key (tests use it to
			// make a save slow); here the writer does, not the shards.
			t := time.NewTimer(time.Duration(d) * time.Microsecond * time.Duration(part.Keys))
			select {
			case <-t.C:
			case <-cancel:
				t.Stop()
			}
		}
		if part.Last {
			pending = append(pending[:next], pending[next+1:]...)
		} else {
			next++
		}
		if len(pending) > 0 {
			next %= len(pending)
		}
		return part, len(pending) == 0, nil
	}
}

// saved records the outcome of a save.
func (s *Server) saved(h snapshotHead, err error, background bool) {
	p := &s.persist
	if err == errSaveCancelled {
		s.log.Info("background save cancelled")
		return
	}
	if background {
		p.lastBgDur.Store(int64(time.Since(h.at).Seconds()))
	}
	if err != nil {
		// As Redis, only a failed BGSAVE sets rdb_last_bgsave_status to
		// err (and then refuses writes: stop-writes-on-bgsave-error).
		if background {
			p.lastOK.Store(false)
		}
		s.log.Warn("saving the dataset failed", "err", err, "background", background)
		return
	}
	// Any save that succeeds, SAVE too, clears the error, as in Redis.
	p.lastOK.Store(true)
	p.lastSave.Store(time.Now().Unix())
	p.changesSaved.Store(h.changes)
	if background {
		s.log.Info("Background saving terminated with success")
	} else {
		s.log.Info("DB saved on disk")
	}
}

var errSaveCancelled = errors.New("the save was cancelled")

// writeRDB writes a file: h's start, the records next returns until it
// reports the end, and the EOF with the checksum. It writes a temporary
// file in the same directory, syncs it and renames it to path.
func (s *Server) writeRDB(path string, h snapshotHead, cancel <-chan struct{},
	next func() (shard.SnapshotPart, bool, error)) (err error) {
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, "temp-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(h.at.UnixNano(), 36)+".rdb")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return errors.New("Failed opening the temp RDB file " + filepath.Base(tmp) + " (in server root dir " + dir + ") for saving: " + errnoMessage(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = s.writeRDBTo(f, h, cancel, next); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	// A cancelled BGSAVE must not replace the file of the save that
	// cancelled it: the check and the rename go together.
	s.persist.renameMu.Lock()
	defer s.persist.renameMu.Unlock()
	if cancel != nil {
		select {
		case <-cancel:
			return errSaveCancelled
		default:
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writeRDBTo writes the RDB of a snapshot to w: h's start, the records
// next returns until it reports the end, and the EOF with the checksum.
func (s *Server) writeRDBTo(out io.Writer, h snapshotHead, cancel <-chan struct{},
	next func() (shard.SnapshotPart, bool, error)) (err error) {
	w := bufio.NewWriterSize(out, 1<<20)
	checksum := s.cfg.Bool("rdbchecksum")
	var crc uint64
	put := func(b []byte) error {
		if checksum {
			crc = rdb.CRC64(crc, b)
		}
		_, err := w.Write(b)
		return err
	}
	if err = put(h.header); err != nil {
		return err
	}
	for {
		if cancel != nil {
			select {
			case <-cancel:
				return errSaveCancelled
			default:
			}
		}
		part, end, err := next()
		if err != nil {
			return err
		}
		err = put(part.Records)
		shard.RecycleSnapshotBuf(part.Records)
		if err != nil {
			return err
		}
		if end {
			break
		}
	}
	if _, err = w.Write(rdb.AppendEOF(nil, crc, checksum)); err != nil {
		return err
	}
	return w.Flush()
}

// errnoMessage is the text of a file error, as strerror gives it.
func errnoMessage(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	msg := err.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return msg
}

// stopBgsave cancels a running BGSAVE and waits for its goroutine, and
// for a save point's start.
func (s *Server) stopBgsave() {
	s.cancelBgsave()
	s.cancelAOFRewrite()
	s.persist.wg.Wait()
	s.cancelBgsave() // one a save point started meanwhile
}

// holdAll runs fn with every shard held at once: borrowed in ascending
// order and given back after, or those a transaction holds. It reports
// false, having replied, when the shards are stopping.
func (c *client) holdAll(fn func(held []*shard.Shard)) bool {
	held := 0
	for _, s := range c.borrowed {
		if s != nil {
			held++
		}
	}
	if held == len(c.borrowed) {
		fn(c.borrowed) // a transaction holds them all (DEBUG RELOAD in EXEC)
		return true
	}
	if held > 0 {
		c.replyError("ERR the command needs every shard, and the running script holds some")
		return false
	}
	for i := range c.want {
		c.want[i] = true
	}
	ok := c.borrow()
	if ok {
		fn(c.borrowed)
	}
	c.giveBack()
	if !ok {
		c.closeAfter = true
		c.replyError("ERR server is shutting down")
	}
	return ok
}

func (s *Server) initPersist() {
	p := &s.persist
	p.lastSave.Store(s.started.Unix())
	p.lastOK.Store(true)
	p.lastBgDur.Store(-1)
	// rdbcompression is the package's, as it is Redis's process-wide
	// setting (DUMP follows it too).
	rdb.SetCompression(s.cfg.Bool("rdbcompression"))
	s.cfg.OnChange("rdbcompression", func(string) { rdb.SetCompression(s.cfg.Bool("rdbcompression")) })
}

// bgsaveRetry is how long after a failed BGSAVE the save points wait
// before they try again (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const bgsaveRetry = 5

// savePoints starts a BGSAVE when a save point is due ("save": after so
// many seconds with at least so many changes), or one was scheduled.
func (s *Server) savePoints(now time.Time) {
	if s.persist.loading.Load() || s.persist.loadFailed.Load() {
		return
	}
	p := &s.persist
	p.mu.Lock()
	if p.bg != nil {
		p.mu.Unlock()
		return
	}
	// A BGSAVE scheduled (in EXEC) was asked for: it starts on any server;
	// the save points act only on a persistent one.
	due := p.scheduled
	if !due && s.persistent {
		changes := s.changes() - p.changesSaved.Load()
		since := now.Unix() - p.lastSave.Load()
		retryOK := p.lastOK.Load() || now.Unix()-p.lastTry > bgsaveRetry
		for _, sp := range parseSavePoints(s.cfg.Value("save")) {
			if changes >= sp.changes && since > sp.seconds && retryOK { // ">" as Redis
				s.log.Info("save point reached: saving", "changes", changes, "seconds", sp.seconds)
				due = true
				break
			}
		}
	}
	p.mu.Unlock()
	if due {
		// The cron must not wait for shards a script holds: borrow them on
		// a goroutine of the save's own.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for _, w := range s.workers {
				if w.BusySince() != 0 {
					return // a script runs: the next tick tries again
				}
			}
			s.holdAllShardsWithin(time.Second, func(held []*shard.Shard) {
				if err := s.startBgsave(held); err != nil {
					s.log.Debug("scheduled BGSAVE not started", "err", err)
				}
			})
		}()
	}
}

type savePoint struct{ seconds, changes int64 }

// parseSavePoints reads "save"'s pairs, validated when it was set.
func parseSavePoints(v string) []savePoint {
	f := strings.Fields(v)
	var sps []savePoint
	for i := 0; i+1 < len(f); i += 2 {
		secs, err1 := strconv.ParseInt(f[i], 10, 64)
		ch, err2 := strconv.ParseInt(f[i+1], 10, 64)
		if err1 == nil && err2 == nil {
			sps = append(sps, savePoint{secs, ch})
		}
	}
	return sps
}

// saveAtShutdown saves when save points are set (or SHUTDOWN SAVE asked
// for it) and SHUTDOWN NOSAVE did not say otherwise, unless the shutdown
// saved already (PrepareShutdown, SHUTDOWN) and nothing changed since. The
// connections are closed: nothing writes any more.
func (s *Server) saveAtShutdown() {
	if !s.wantsShutdownSave() {
		return
	}
	if s.persist.shutdownSaved.Load() && s.changes() == s.persist.changesSaved.Load() {
		return // the shutdown saved, and nothing was written since
	}
	s.log.Info("Saving the final RDB snapshot before exiting.")
	ok := s.holdAllShardsWithin(shutdownBorrowWait, func(held []*shard.Shard) {
		if err := s.saveHeld(held); err != nil {
			s.log.Error("Error trying to save the DB, the data of this run may be lost", "err", err)
		}
	})
	if !ok {
		s.log.Error("Error trying to save the DB: a shard stayed busy; the data of this run may be lost")
	}
}

// wantsShutdownSave reports whether a shutdown now must save.
func (s *Server) wantsShutdownSave() bool {
	if s.persist.loading.Load() || s.persist.loadFailed.Load() {
		return false // the dataset is not all there: the file has it
	}
	switch s.persist.shutdownMode.Load() {
	case shutdownNoSave:
		return false
	case shutdownSave:
		return true
	}
	return s.hasSavePoints()
}

// saveForShutdown saves on the held shards (all of them) if the shutdown
// must, and records that it did.
func (s *Server) saveForShutdown(held []*shard.Shard) error {
	if !s.wantsShutdownSave() {
		return nil
	}
	s.log.Info("Saving the final RDB snapshot before exiting.")
	if err := s.saveHeld(held); err != nil {
		return err
	}
	s.persist.shutdownSaved.Store(true)
	return nil
}

// PrepareShutdown saves before a shutdown asked for by a signal, as
// SHUTDOWN does, and reports an error when the save failed: the server
// then stays up, as Redis does, so that the data is not lost.
func (s *Server) PrepareShutdown() error {
	if !s.wantsShutdownSave() {
		return nil
	}
	for _, w := range s.workers {
		if w.BusySince() != 0 {
			// A script holds shards: the shutdown cancels it first and
			// saves after (saveAtShutdown), as it cannot wait for it.
			return nil
		}
	}
	var err error
	ok := s.holdAllShardsWithin(shutdownBorrowWait, func(held []*shard.Shard) { err = s.saveForShutdown(held) })
	if !ok && err == nil && s.wantsShutdownSave() {
		err = errors.New("a shard stayed busy")
	}
	return err
}

// shutdownBorrowWait bounds the wait for a shard a stuck connection holds.
const shutdownBorrowWait = 5 * time.Second

// holdAllShardsWithin runs fn with every shard borrowed at once, in
// ascending order, for the server's own use. It gives up, reporting
// false, when a shard stays lent for d or the shards stopped.
func (s *Server) holdAllShardsWithin(d time.Duration, fn func(held []*shard.Shard)) bool {
	held := make([]*shard.Shard, len(s.workers))
	loans := make([]*shard.Loan, len(s.workers))
	defer func() {
		for i, l := range loans {
			if held[i] != nil {
				l.Return()
			}
		}
	}()
	for i, w := range s.workers {
		loans[i] = shard.NewLoan()
		sh, err := w.BorrowWithin(loans[i], d)
		if err != nil || sh == nil {
			return false
		}
		held[i] = sh
	}
	fn(held)
	return true
}

// SHUTDOWN's say on the final save.
const (
	shutdownDefault int32 = iota // save if save points are set
	shutdownSave
	shutdownNoSave
)

// afterFlushall does what Redis does after FLUSHALL: a BGSAVE in progress
// is cancelled (its file would bring the keys back), and with save points
// set the now empty dataset is saved at once.
func (c *client) afterFlushall() {
	c.srv.cancelBgsave()
	if !c.srv.hasSavePoints() {
		return
	}
	c.settle()
	c.holdAll(c.srv.flushedAll)
}

// flushedAll is afterFlushall for a FLUSHALL that ran with every shard
// held (inside EXEC): the BGSAVE is cancelled and, with save points, the
// empty dataset saved at once.
func (s *Server) flushedAll(held []*shard.Shard) {
	s.cancelBgsave()
	if !s.hasSavePoints() {
		return
	}
	for _, sh := range held {
		if sh == nil { // not expected: FLUSHALL takes every shard
			s.log.Warn("not saving after FLUSHALL: a shard is not held")
			return
		}
	}
	if err := s.saveHeld(held); err != nil {
		s.log.Warn("saving after FLUSHALL failed", "err", err)
	}
}

// flushallArgsOK reports whether FLUSHALL's arguments are valid: Redis
// cancels the BGSAVE and saves only then, not after its syntax error.
func flushallArgsOK(args [][]byte) bool {
	return len(args) == 1 || len(args) == 2 && (equalFold(args[1], "async") || equalFold(args[1], "sync"))
}

// hasSavePoints reports whether the server acts on save points and some
// are set.
func (s *Server) hasSavePoints() bool {
	return s.persistent && len(parseSavePoints(s.cfg.Value("save"))) > 0
}

// snapshotProgress sums the shards' counts of the snapshot in progress or
// the last: records written, and bytes written ahead of the walk.
func (s *Server) snapshotProgress() (keys, early int64) {
	for _, sh := range s.shards {
		keys += sh.SnapKeys.Load()
		early += sh.SnapEarly.Load()
	}
	return keys, early
}

// refuseMisconf answers with MISCONF, and reports true, a command Redis
// refuses after a failed BGSAVE (stop-writes-on-bgsave-error, with save
// points set): a write command, a script or EXEC that may write, and
// PING. Called only while the last BGSAVE failed.
func (c *client) refuseMisconf(e *entry, args [][]byte) bool {
	msg := ""
	switch {
	case c.srv.diskError():
		msg = errMisconf
	case c.srv.aofMisconf() != "":
		msg = c.srv.aofMisconf()
	}
	if msg == "" || !e.arityOK(len(args)) {
		return false
	}
	if e.spec.Name != "ping" && !c.writes(e, args) {
		return false
	}
	c.last = e.spec
	c.reject(e, args, msg)
	return true
}

// diskError reports whether writes are refused after a failed BGSAVE, as
// Redis's writeCommandsDeniedByDiskError.
func (s *Server) diskError() bool {
	return !s.persist.lastOK.Load() && s.cfg.Bool("stop-writes-on-bgsave-error") && s.hasSavePoints()
}

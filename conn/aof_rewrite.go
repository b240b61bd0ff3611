package conn

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/aof"
)

// BGREWRITEAOF, CONFIG SET appendonly, and the automatic rewrite.

// Replies of BGREWRITEAOF, as Redis's.
const (
	errRewriteRunning = "ERR Background append only file rewriting already in progress"
	errRewriteFailed  = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information."
	rewriteStarted    = "Background append only file rewriting started"
	rewriteScheduled  = "Background append only file rewriting scheduled"
)

func init() {
	registerLocal(
		&localCommand{Spec: shard.Spec{Name: "bgrewriteaof", Arity: 1,
			Flags: shard.NoAsyncLoading | shard.Admin | shard.NoScript | shard.AllShards,
			Group: "server", Since: "1.0.0", Summary: "Asynchronously rewrite the append-only file",
			Complexity: "O(1)", ACL: []string{"dangerous"}},
			run: cmdBgrewriteaof, barrier: true},
	)
}

func cmdBgrewriteaof(c *client, args [][]byte) {
	a := &c.srv.aof
	a.mu.Lock()
	running := a.rw != nil
	a.mu.Unlock()
	switch {
	case running:
		c.replyError(errRewriteRunning)
		return
	case c.srv.saveSlotTaken() || c.tx.execing:
		a.mu.Lock()
		a.scheduled = true
		a.mu.Unlock()
		c.replySimple(rewriteScheduled)
		return
	}
	var err error
	if !c.holdAll(func(held []*shard.Shard) { err = c.srv.startAOFRewrite(held) }) {
		return
	}
	if err != nil {
		c.srv.log.Warn("Can't rewrite the append only file: " + err.Error())
		c.replyError(errRewriteFailed)
		return
	}
	c.replySimple(rewriteStarted)
}

// startAOFRewrite begins a rewrite with every shard held: what the
// journal holds goes to the current incremental file, a new one takes
// what follows, and the snapshot of this instant is written as the new
// base by a goroutine.
func (s *Server) startAOFRewrite(held []*shard.Shard) error {
	a := &s.aof
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rw != nil {
		return errors.New("a rewrite is in progress")
	}
	select {
	case <-s.stopping:
		// Shutdown has cancelled the rewrites and waits for none: one
		// started now would outlive it (a command running as the server
		// stops, a BGSAVE's scheduled rewrite).
		return errors.New("server is shutting down")
	default:
	}
	if s.bgsaveRunning() {
		a.scheduled = true
		return nil
	}
	if err := s.readyAOFDir(); err != nil {
		return err
	}
	if a.on {
		if err := s.switchIncr(); err != nil {
			return err
		}
	}
	h := s.beginSnapshot(held, true, nil)
	bg := &bgSave{began: time.Now(), cancel: make(chan struct{})}
	a.rw, a.scheduled = bg, false
	a.rwBegan.Store(bg.began.UnixNano())
	s.persist.wg.Add(1)
	go s.runAOFRewrite(bg, h)
	s.log.Info("Background append only file rewriting started")
	return nil
}

// switchIncr ends the current incremental file at this instant (the
// shards are held: the journal holds all there is) and starts the next.
// Called with a.mu held.
func (s *Server) switchIncr() error {
	a := &s.aof
	if a.f != nil && a.sink != nil {
		var off int64
		a.buf, off, _ = a.sink.Take(a.buf)
		if len(a.buf) > 0 {
			n, err := a.f.Write(a.buf)
			a.incrSize += int64(n)
			if err != nil {
				a.buf = a.buf[:copy(a.buf, a.buf[n:])]
				return err
			}
			a.dropWritten()
		}
		if err := syncData(a.f); err != nil {
			return err
		}
		a.synced.Store(off)
		s.wakeAOFWaiters()
	}
	name := a.man.NewIncr(s.aofName())
	// A new file: one of that name left by a crash before its manifest
	// was written holds nothing the manifest knows.
	f, err := os.OpenFile(filepath.Join(a.dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		a.man.Incr = a.man.Incr[:len(a.man.Incr)-1]
		a.man.IncrSeq--
		return errors.New("Can't open the append-only file " + name + ": " + errnoMessage(err))
	}
	if !a.waiting {
		if err := s.persistManifest(a.man); err != nil {
			f.Close()
			os.Remove(filepath.Join(a.dir, name))
			a.man.Incr = a.man.Incr[:len(a.man.Incr)-1]
			a.man.IncrSeq--
			return err
		}
	}
	if a.f != nil {
		a.f.Close()
	}
	a.f = f
	if !a.waiting {
		s.log.Info("Creating AOF incr file " + name + " on background rewrite")
	}
	a.incrBefore += a.incrSize
	a.incrSize = 0
	a.dirty = false
	s.journal.ForceSelect() // the new file selects its database first
	return nil
}

// runAOFRewrite writes the new base and, once it is complete, makes it
// the manifest's base, the incremental files before the rewrite history,
// and deletes them.
func (s *Server) runAOFRewrite(bg *bgSave, h snapshotHead) {
	defer s.persist.wg.Done()
	a := &s.aof
	tmp := filepath.Join(a.dir, aof.TempRewriteName(os.Getpid()))
	err := s.writeBase(tmp, h, bg.cancel, s.snapshotSlices(h, bg.cancel))
	if err != nil {
		for _, w := range s.workers {
			w.AbortSnapshot(h.gen)
		}
	}
	a.mu.Lock()
	select {
	case <-bg.cancel:
		err = errSaveCancelled
	default:
	}
	if err == nil {
		err = s.installBase(tmp)
	}
	if err != nil {
		os.Remove(tmp)
	}
	if a.rw == bg {
		a.rw = nil
		a.rwBegan.Store(0)
	}
	a.rwLastDur.Store(int64(time.Since(bg.began).Seconds()))
	switch {
	case err == errSaveCancelled:
		s.log.Info("Background AOF rewrite cancelled")
	case err != nil:
		a.rwLastOK.Store(false)
		a.rwFails.Add(1)
		s.log.Warn("Background AOF rewrite failed: " + err.Error())
		if a.waiting {
			s.abandonAOF() // it never was on: turn it off again
		}
	default:
		a.rwLastOK.Store(true)
		a.rwFails.Store(0)
		a.rewrites.Add(1)
		a.waiting = false
		s.log.Info("Background AOF rewrite finished successfully")
	}
	a.mu.Unlock()
}

// installBase makes the file at tmp the new base. Called with a.mu held.
func (s *Server) installBase(tmp string) error {
	a := &s.aof
	man := a.man.Clone()
	name := man.NewBase(s.aofName(), s.cfg.Bool("aof-use-rdb-preamble"))
	man.MarkIncrHistory(a.on)
	if err := os.Rename(tmp, filepath.Join(a.dir, name)); err != nil {
		return err
	}
	if err := s.persistManifest(man); err != nil {
		return err
	}
	a.man = man
	a.baseSize = fileSize(filepath.Join(a.dir, name))
	a.incrBefore = 0
	if s.cfg.Bool("aof-disable-auto-gc") {
		return nil
	}
	for _, f := range a.man.TakeHistory() {
		s.log.Info("Removing the history file " + f.Name + " in the background")
		os.Remove(filepath.Join(a.dir, f.Name))
	}
	if err := s.persistManifest(a.man); err != nil {
		s.log.Warn("persisting the AOF manifest after deleting the history files failed: " + err.Error())
	}
	return nil
}

// abandonAOF turns off an AOF that was waiting for its first base.
// Called with a.mu held.
func (s *Server) abandonAOF() {
	a := &s.aof
	a.on = false
	s.dropAOFSink()
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
	a.buf = nil // what no write took belongs to the file given up
	if n := len(a.man.Incr); n > 0 {
		os.Remove(filepath.Join(a.dir, a.man.Incr[n-1].Name))
		a.man.Incr = a.man.Incr[:n-1]
		a.man.IncrSeq--
	}
	a.on, a.waiting = false, false
	a.wait.Store(false)
	s.wakeAOFWaiters()
	if a.stop != nil {
		close(a.stop) // the writer; it finds the AOF off
		a.stop = nil
	}
}

// cancelAOFRewrite cancels the rewrite in progress, if any, and reports
// whether there was one.
func (s *Server) cancelAOFRewrite() bool {
	a := &s.aof
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rw == nil {
		return false
	}
	close(a.rw.cancel)
	a.rw = nil
	a.rwBegan.Store(0)
	return true
}

// aofCron starts a rewrite that was scheduled, or that the AOF's growth
// calls for (auto-aof-rewrite-percentage over auto-aof-rewrite-min-size),
// when no snapshot is running.
func (s *Server) aofCron() {
	a := &s.aof
	a.mu.Lock()
	due := a.rw == nil && a.scheduled
	if !due && a.on && !a.waiting && a.rw == nil {
		if perc := s.cfg.Int("auto-aof-rewrite-percentage"); perc > 0 {
			cur := a.baseSize + a.incrBefore + a.incrSize
			base := max(a.baseSize, 1)
			due = cur > s.cfg.Int("auto-aof-rewrite-min-size") && (cur-base)*100/base >= perc
			if due {
				s.log.Info("Starting automatic rewriting of AOF on " + strconv.FormatInt((cur-base)*100/base, 10) + "% growth")
			}
		}
	}
	a.mu.Unlock()
	if !due || s.saveSlotTaken() || s.persist.loading.Load() {
		return
	}
	s.holdAllShardsWithin(time.Second, func(held []*shard.Shard) {
		if err := s.startAOFRewrite(held); err != nil {
			s.log.Warn("Can't start the AOF rewrite: " + err.Error())
		}
	})
}

// startScheduledRewrite starts the rewrite BGREWRITEAOF scheduled while a
// BGSAVE ran, now that it ended.
func (s *Server) startScheduledRewrite() {
	a := &s.aof
	a.mu.Lock()
	due := a.scheduled && a.rw == nil
	a.mu.Unlock()
	if !due || s.saveSlotTaken() {
		return
	}
	go s.holdAllShardsWithin(time.Second, func(held []*shard.Shard) {
		if err := s.startAOFRewrite(held); err != nil {
			s.log.Warn("Can't start the scheduled AOF rewrite: " + err.Error())
		}
	})
}

// enableAOF is CONFIG SET appendonly yes at run time: with every shard
// held, the journal starts recording into a new incremental file and the
// snapshot of this instant is written as its base; the AOF is on for good
// once the base is complete, as Redis's AOF_WAIT_REWRITE.
func (s *Server) enableAOF() error {
	var err error
	ok := s.holdAllShardsWithin(5*time.Second, func(held []*shard.Shard) {
		a := &s.aof
		a.mu.Lock()
		if a.on {
			a.mu.Unlock()
			return
		}
		if s.bgsaveRunning() {
			s.cancelBgsave() // Redis kills the child for the AOF's sake
			s.log.Warn("AOF was enabled but there is already another background operation: it was cancelled")
		}
		if a.rw != nil { // a rewrite of an AOF that was off: start afresh
			close(a.rw.cancel)
			a.rw = nil
		}
		a.on, a.waiting = true, true
		a.sink, _, _ = s.journal.AddSink(0, 0, false)
		a.sink.SkipReplicationOnly()
		s.journal.SetOn(true)
		a.wait.Store(true)
		a.lastFsync = time.Now()
		a.writeErr.Store(nil)
		a.broken.Store(false)
		a.mu.Unlock()
		if err = s.startAOFRewrite(held); err != nil {
			a.mu.Lock()
			s.abandonAOF()
			a.mu.Unlock()
			return
		}
		a.mu.Lock()
		s.startAOFWriter()
		a.mu.Unlock()
	})
	if !ok && err == nil {
		err = errors.New("a shard stayed busy")
	}
	return err
}

// watchAppendonly follows CONFIG SET appendonly.
func (s *Server) watchAppendonly() {
	s.cfg.OnChange("appendonly", func(v string) {
		if v == "yes" {
			if err := s.enableAOF(); err != nil {
				s.log.Warn("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation: " + err.Error())
				s.cfg.Set("appendonly", "no")
			}
			return
		}
		s.stopAOF()
	})
}

// aofWritingInitial reports whether the AOF, turned on at run time,
// still waits for its first base (Redis's AOF_WAIT_REWRITE).
func (s *Server) aofWritingInitial() bool {
	s.aof.mu.Lock()
	defer s.aof.mu.Unlock()
	return s.aof.on && s.aof.waiting
}

// aofRewriting reports whether a rewrite is in progress.
func (s *Server) aofRewriting() bool {
	s.aof.mu.Lock()
	defer s.aof.mu.Unlock()
	return s.aof.rw != nil
}

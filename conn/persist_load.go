package conn

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// Loading an RDB file: at start-up (LoadAtStartup), while clients get
// -LOADING, and for DEBUG RELOAD, with every shard held.

// loadBatch is how many keys go to a shard in one message.
const loadBatch = 256

// errLoadStopped ends a load whose caller was stopped (a replica's link).
var errLoadStopped = errors.New("the load was stopped")

// storeFunc stores a batch of keys on shard id.
type storeFunc func(id int, es []shard.LoadEntry, now int64) (loaded, expired int, err error)

// loadRDB reads the file at path into the shards through store, and
// installs its function libraries by policy (RestoreFlush: in place of the
// server's). A missing file is no error unless mustExist: there is nothing
// to load.
func (s *Server) loadRDB(path string, store storeFunc, libPolicy script.RestorePolicy, mustExist bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !mustExist {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	began := time.Now()
	p := &s.persist
	p.loadStart.Store(began.Unix())
	p.loadBytes.Store(0)
	p.loadUsedMem.Store(0)
	p.loadTotal.Store(0)
	if st, err := f.Stat(); err == nil {
		p.loadTotal.Store(st.Size())
	}
	return s.loadRDBFrom(bufio.NewReaderSize(countingReader{f, &p.loadBytes}, 1<<20), path, store, libPolicy, began)
}

// loadRDBFrom is loadRDB on a file opened already: it reads one RDB from
// br, and no further (an AOF's commands may follow).
func (s *Server) loadRDBFrom(br *bufio.Reader, path string, store storeFunc, libPolicy script.RestorePolicy, began time.Time) error {
	libs, err := s.parseRDB(br, store, nil)
	if err != nil {
		return err
	}
	if msg := s.scripts.RestoreFunctions(libs, libPolicy); msg != "" {
		return errors.New("loading the function libraries: " + msg)
	}
	s.log.Info("DB loaded from disk", "file", path, "keys", s.persist.loadLoaded.Load(), "expired", s.persist.loadExpired.Load(),
		"seconds", time.Since(began).Seconds())
	return nil
}

// parseRDB reads one RDB from br, and no further, handing its keys to
// store; it returns the function libraries (a payload for
// RestoreFunctions), which it leaves to the caller to install. A
// replica's diskless load reads the master's socket through it; stopped,
// if not nil, ends it early (checked between keys while key-load-delay
// slows it, else between batches).
func (s *Server) parseRDB(br *bufio.Reader, store storeFunc, stopped func() bool) ([]byte, error) {
	p := &s.persist
	p.loadStreamDB.Store(0)
	fileRepl := rdb.ReplInfo{StreamDB: -1, Offset: -1}
	defer func() { p.loadedRepl = fileRepl }()
	n := len(s.workers)
	batches := make([][]shard.LoadEntry, n)
	var loaded, expired int64
	backlog := s.cfg.Int("repl-backlog-size")
	flush := func(id int) error {
		now := time.Now().UnixMilli()
		// The keys the shards leave out as expired, by the same clock:
		// restoreReplInfo sends their DELs to the replicas. Only for a
		// file with a replication history (its aux fields come before the
		// keys), and no more than the backlog holds: the memory they take
		// is bounded by it, not by the file.
		if p.noteExpired && fileRepl.ID != "" {
			for _, e := range batches[id] {
				if e.ExpireAt < 0 || e.ExpireAt > now {
					continue
				}
				p.expiredBytes += delSize(e.Key) // counted on: the offset the stream reaches
				switch {
				case p.expiredOverflow:
				case p.expiredBytes > backlog:
					p.expiredOverflow, p.expiredOnLoad = true, nil
				default:
					p.expiredOnLoad = append(p.expiredOnLoad, dbKey{e.DB, e.Key})
				}
			}
		}
		if stopped != nil && stopped() {
			return errLoadStopped
		}
		l, e, err := store(id, batches[id], now)
		loaded += int64(l)
		expired += int64(e)
		clear(batches[id])
		batches[id] = batches[id][:0]
		return err
	}
	var libs []byte
	var empty int
	delay := s.cfg.Int("key-load-delay")
	points := rdbPoints{f: &p.loading, step: max(s.cfg.Int("loading-process-events-interval-bytes"), 1)}
	// A replica (or a server started as one) keeps the keys whose TTL has
	// passed, as Redis loads them on a server that is not a master: they
	// are its master's to delete (a key past its TTL reads as gone).
	keepExpired := s.isReplica() || s.replicaofConfigured()
	err := rdb.Load(br, rdb.Handler{
		Aux: func(key, val string) error {
			switch key {
			case "used-mem":
				if n, err := strconv.ParseInt(val, 10, 64); err == nil {
					p.loadUsedMem.Store(n)
				}
			case "repl-stream-db":
				if n, err := strconv.Atoi(val); err == nil && n >= 0 && n < shard.NumDBs {
					p.loadStreamDB.Store(int64(n))
					fileRepl.StreamDB = n
				}
			case "repl-id":
				if len(val) == 40 {
					fileRepl.ID = val
				}
			case "repl-offset":
				if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
					fileRepl.Offset = n
				}
			}
			return nil
		},
		Empty: func(_ int, key string) {
			empty++
			s.log.Warn("RDB load skipping empty key: " + key) // Redis's words, which its tests grep
		},
		Function: func(code string) error {
			libs = rdb.AppendFunction(libs, code)
			return nil
		},
		Key: func(e *rdb.Entry) error {
			if d := delay; d > 0 {
				time.Sleep(time.Duration(d) * time.Microsecond) // key-load-delay, for tests
				// Read again: a test lowers it to end a slow load (a
				// replica's from the socket goes on meanwhile).
				delay = s.cfg.Int("key-load-delay")
				if stopped != nil && stopped() {
					return errLoadStopped
				}
			}
			points.read(e.End)
			id := shard.Owner([]byte(e.Key), n)
			batches[id] = append(batches[id], shard.LoadEntry{DB: e.DB, Key: e.Key, ExpireAt: e.ExpireAt,
				Idle: e.Idle, Freq: e.Freq, Value: e.Value, KeepExpired: keepExpired})
			if len(batches[id]) >= loadBatch {
				return flush(id)
			}
			return nil
		},
	})
	for id := range batches {
		if err == nil && len(batches[id]) > 0 {
			err = flush(id)
		}
	}
	if err != nil {
		return nil, err
	}
	if empty > 0 {
		s.log.Warn("RDB load done, empty keys skipped: " + strconv.Itoa(empty))
	}
	s.persist.loadLoaded.Store(loaded)
	s.persist.loadExpired.Store(expired)
	return rdb.Seal(libs), nil
}

// BeginLoading makes commands other than those Redis allows while loading
// get -LOADING, until LoadAtStartup is done. Call it before serving.
// Without a file there is nothing to load, and nothing is refused.
func (s *Server) BeginLoading() {
	if s.cfg.Bool("appendonly") {
		if fileExists(s.aofDir()) || fileExists(filepath.Join(s.cfg.Value("dir"), s.aofName())) {
			s.persist.loading.Store(true)
		}
		return
	}
	if _, err := os.Stat(s.rdbPath()); !errors.Is(err, os.ErrNotExist) {
		s.persist.loading.Store(true)
	}
}

// LoadAtStartup loads the RDB file named by dir and dbfilename, if there
// is one. Meanwhile the server may already accept connections: see
// BeginLoading.
func (s *Server) LoadAtStartup() (err error) {
	defer func() {
		if err == nil {
			s.replicaAtStartup() // replicaof: replica.go
		}
	}()
	if s.cfg.Bool("appendonly") {
		// As Redis: with the AOF on, it alone is the dataset.
		began := time.Now()
		found, err := s.loadAOF()
		s.persist.loading.Store(false)
		if err != nil {
			s.persist.loadFailed.Store(true)
			s.persist.shutdownMode.Store(shutdownNoSave)
			if errors.Is(err, ErrLoadLogged) {
				return err
			}
			s.log.Warn("Fatal error loading the AOF: " + err.Error())
			return ErrLoadLogged
		}
		if found {
			s.log.Info("DB loaded from append only file: " + strconv.FormatFloat(time.Since(began).Seconds(), 'f', 3, 64) + " seconds")
		}
		s.persist.changesSaved.Store(s.changes())
		return s.startAOF()
	}
	if _, err := os.Stat(s.rdbPath()); errors.Is(err, os.ErrNotExist) {
		s.persist.loading.Store(false)
		return nil
	}
	s.persist.loading.Store(true)
	defer s.persist.loading.Store(false)
	s.persist.noteExpired = !s.replicaofConfigured()
	defer func() {
		p := &s.persist
		p.noteExpired, p.expiredOnLoad, p.expiredBytes, p.expiredOverflow = false, nil, 0, false
	}()
	err = s.loadRDB(s.rdbPath(), func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
		return s.workers[id].Load(es, now)
	}, script.RestoreFlush, false)
	if err != nil {
		// The dataset is not the file's: saving it at the shutdown that
		// follows would replace the file, whatever is wrong with it, with
		// what little was loaded. Redis exits without saving.
		s.persist.loadFailed.Store(true) // before loading ends: see saveAtShutdown
		s.persist.shutdownMode.Store(shutdownNoSave)
		var lerr *rdb.LoadError
		if errors.As(err, &lerr) {
			// The file itself is bad (corrupt, cut off or a wrong CRC),
			// reported as Redis does, whose tests grep for these lines.
			if reason := rdb.Reason(err); reason != "" {
				s.log.Warn("RDB file is corrupt at offset " + strconv.FormatInt(lerr.Offset, 10) + ": " + reason)
			}
			s.log.Warn("Terminating server after rdb file reading failure.")
		}
		return errors.New("Fatal error loading the DB: " + err.Error() + ". Exiting.")
	}
	// The file is the last save: nothing to save yet.
	s.persist.changesSaved.Store(s.changes())
	s.restoreReplInfo(s.persist.loadedRepl)
	return nil
}

// reloadHeld is DEBUG RELOAD: save (unless nosave), empty every held
// shard (all of them; unless noflush), and load the file back; merge lets
// the file's keys and libraries replace those of the same name.
func (s *Server) reloadHeld(held []*shard.Shard, save, flush, merge bool) error {
	if save {
		if err := s.saveHeld(held); err != nil {
			return err
		}
	}
	policy := script.RestoreFlush
	if flush {
		for _, sh := range held {
			sh.FlushAll()
		}
	} else if merge {
		policy = script.RestoreReplace
	} else {
		policy = script.RestoreAppend
	}
	// A missing file is an error here, as in Redis (the dataset is empty
	// then, as Redis leaves it).
	err := s.loadRDB(s.rdbPath(), func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
		return held[id].Load(es, now, merge)
	}, policy, true)
	if err != nil {
		return errReloadLoad{err}
	}
	return nil
}

// errReloadLoad is DEBUG RELOAD's error once the dataset was emptied: the
// file did not load.
type errReloadLoad struct{ err error }

func (e errReloadLoad) Error() string { return e.err.Error() }

// countingReader counts the bytes read from r in n (INFO's
// loading_loaded_bytes).
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}

// allowedWhileLoading reports whether a command runs while the file loads:
// as in Redis, one with the loading flag, or, for a container command, a
// subcommand with it. A wrong arity or an unknown subcommand is let
// through, to get its usual error: Redis checks those first.
func allowedWhileLoading(e *entry, args [][]byte) bool {
	if e.spec.Flags&shard.Loading != 0 || !e.arityOK(len(args)) {
		return true
	}
	if len(e.spec.Subcommands) == 0 {
		return false
	}
	sub := subSpec(e.spec, args[1])
	if sub == nil {
		return true
	}
	a := sub.Arity
	if a != len(args) && (a >= 0 || len(args) < -a) {
		return true
	}
	return sub.Flags&shard.Loading != 0
}

// refusedWhileLoading reports whether the command gets -LOADING now. A
// load that refuses clients lets through only what allowedWhileLoading
// does; an async load (a replica's swapdb diskless load of the history it
// follows) refuses only the commands Redis flags no-async-loading
// (REPLICAOF, SAVE, BGSAVE, ...), or an EXEC of a transaction holding one.
func (c *client) refusedWhileLoading(e *entry, args [][]byte) bool {
	if !c.srv.persist.loading.Load() {
		return false
	}
	if !c.srv.persist.asyncLoading.Load() {
		return !allowedWhileLoading(e, args)
	}
	if deniedAsyncLoading(e, args) {
		return true
	}
	if e.spec.Name == "exec" && c.tx.on {
		for _, tc := range c.tx.calls {
			if deniedAsyncLoading(tc.e, c.txArgs(tc)) {
				return true
			}
		}
	}
	return false
}

// loadFlag is persist.loading, whether a load runs, with the load's event
// points: where Redis's main thread, busy loading, serves its clients
// (each loading-process-events-interval-bytes of an RDB, each 1024
// commands of an AOF). The loader marks them (point), and Store marks
// one as a load begins and ends; a command that a load refuses waits for
// the next (awaitLoadingTurn), asleep.
type loadFlag struct {
	atomic.Bool
	points atomic.Int64 // event points marked, over every load
	mu     sync.Mutex
	next   chan struct{} // closed at the next point; nil while none waits
}

// Store sets the flag, which is an event point too.
func (f *loadFlag) Store(on bool) {
	f.Bool.Store(on)
	f.point()
}

// point marks an event point and wakes the commands waiting for it.
func (f *loadFlag) point() {
	f.points.Add(1)
	f.mu.Lock()
	if f.next != nil {
		close(f.next)
		f.next = nil
	}
	f.mu.Unlock()
}

// awaitPoint returns a channel closed at the next event point.
func (f *loadFlag) awaitPoint() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == nil {
		f.next = make(chan struct{})
	}
	return f.next
}

// awaitLoadingTurn holds a command that a load would refuse until the load
// reaches its next event point, and reports whether it has ended there.
// Redis's main thread serves clients during a load only at those points,
// so a small file or a replica's small sync is loaded before any command
// runs, and none gets -LOADING; at a point it answers all the commands
// that have arrived. So a connection waits for one point at a time: the
// commands refused after it that came in the same read are answered at
// the same point, at once; those read later wait for the next. It waits
// loadTurnMax at most.
func (c *client) awaitLoadingTurn() bool {
	f := &c.srv.persist.loading
	at := f.points.Load()
	if c.loadTurn == at+1 && c.loadRead == c.readAt {
		return false // answered at this point already
	}
	defer func() { c.loadTurn, c.loadRead = f.points.Load()+1, c.readAt }()
	timer := time.NewTimer(loadTurnMax)
	defer timer.Stop()
	for {
		next := f.awaitPoint()
		if !f.Load() {
			return true
		}
		if f.points.Load() != at {
			return false
		}
		select {
		case <-next:
		case <-c.srv.stopping:
			return false
		case <-timer.C:
			return false
		}
	}
}

// loadTurnMax is how long a command waits for a load's next event point.
const loadTurnMax = time.Second

// rdbPoints marks the event points of an RDB load, each step bytes of its
// input, as its keys go in.
type rdbPoints struct {
	f          *loadFlag
	step, last int64
}

// read notes that the load has consumed the first end bytes of its input.
func (r *rdbPoints) read(end int64) {
	if n := end / r.step; n != r.last {
		r.last = n
		r.f.point()
	}
}

// deniedAsyncLoading: the command, or its subcommand, is flagged
// no-async-loading.
func deniedAsyncLoading(e *entry, args [][]byte) bool {
	spec := e.spec
	if len(spec.Subcommands) > 0 && len(args) > 1 {
		if sub := subSpec(e.spec, args[1]); sub != nil {
			spec = sub
		}
	}
	return spec.Flags&shard.NoAsyncLoading != 0
}

// replicaofConfigured reports whether the replicaof parameter names a
// master (at startup, before the link begins).
func (s *Server) replicaofConfigured() bool {
	v := s.cfg.Value("replicaof")
	return v != "" && v != "no one"
}

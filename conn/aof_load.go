package conn

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/aof"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Loading the AOF at start-up: the manifest's base (an RDB, or commands),
// then each incremental file's commands, run on every shard held, as
// Redis's fake client runs them.

// errAOFFatal is a load failure already logged in Redis's words.
var errAOFFatal = ErrLoadLogged

// ErrLoadLogged is LoadAtStartup's error when the reason is logged
// already, as the last line before Redis would exit.
var ErrLoadLogged = errors.New("the AOF could not be loaded (see the log)")

// loadAOF loads the AOF directory into the shards and reports whether
// there was anything to load.
func (s *Server) loadAOF() (bool, error) {
	s.persist.loading.Store(true)
	defer s.persist.loading.Store(false)
	var held []*shard.Shard
	var loans []*shard.Loan
	defer func() {
		for _, l := range loans {
			l.Return()
		}
	}()
	for _, w := range s.workers {
		l := shard.NewLoan()
		sh, err := w.Borrow(l)
		if err != nil {
			return false, err
		}
		held, loans = append(held, sh), append(loans, l)
	}
	return s.loadAOFHeld(held)
}

// loadAOFHeld reads the manifest (moving an old-style appendonly.aof into
// the directory first, as Redis upgrades it) and loads its files into the
// held shards, all of them.
func (s *Server) loadAOFHeld(held []*shard.Shard) (bool, error) {
	m, err := s.readManifest()
	if err != nil {
		var me *aof.ManifestError
		if errors.As(err, &me) {
			for _, l := range me.LogLines() {
				s.log.Warn(l)
			}
			return false, errAOFFatal
		}
		return false, err
	}
	dir, name := s.aofDir(), s.aofName()
	old := filepath.Join(s.cfg.Value("dir"), name)
	if fileExists(old) && (!fileExists(dir) || m.Base == nil && len(m.Incr) == 0 ||
		m.Base != nil && len(m.Incr) == 0 && m.Base.Name == name && !fileExists(filepath.Join(dir, name))) {
		if err := s.upgradeOldAOF(m, old); err != nil {
			s.log.Warn(err.Error())
			return false, errAOFFatal
		}
	}
	s.aof.mu.Lock()
	s.aof.man = m
	s.aof.mu.Unlock()
	files := m.Files()
	if len(files) == 0 {
		return false, nil
	}
	var total int64
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			s.log.Warn("Unable to obtain the AOF file " + f.Name + " length. stat: " + errnoMessage(err))
			return false, errAOFFatal
		}
		total += st.Size()
	}
	if total == 0 {
		return false, nil // Redis's AOF_EMPTY: nothing to load
	}
	for i, f := range files {
		last := i == len(files)-1
		began := time.Now()
		if err := s.loadAOFFile(held, f, last); err != nil {
			return true, err
		}
		s.log.Info(aof.MsgLoaded(f.Type == aof.TypeBase, f.Name, time.Since(began).Seconds()))
	}
	s.aof.mu.Lock()
	s.aof.sizesFromManifest(dir)
	s.aof.mu.Unlock()
	return true, nil
}

// upgradeOldAOF makes a pre-7.0 appendonly.aof in dir the base of the
// manifest and moves it into the AOF directory (Redis's aofUpgradePrepare).
func (s *Server) upgradeOldAOF(m *aof.Manifest, old string) error {
	dir, name := s.aofDir(), s.aofName()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errors.New("Can't open or create append-only dir " + dir + ": " + errnoMessage(err))
	}
	m.UpgradeFrom(name)
	if err := s.persistManifest(m); err != nil {
		return err
	}
	if err := os.Rename(old, filepath.Join(dir, name)); err != nil {
		return errors.New("Error trying to move the old AOF file " + name + " into dir " + s.cfg.Value("appenddirname") + ": " + errnoMessage(err))
	}
	s.log.Info("Successfully migrated an old-style AOF file (" + name + ") into the AOF directory (" + s.cfg.Value("appenddirname") + ").")
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loadAOFFile loads one file of the manifest into the held shards.
func (s *Server) loadAOFFile(held []*shard.Shard, f aof.File, last bool) error {
	path := filepath.Join(s.aofDir(), f.Name)
	fh, err := os.Open(path)
	if err != nil {
		s.log.Warn("Fatal error: can't open the append log file " + f.Name + " for reading: " + errnoMessage(err))
		return errAOFFatal
	}
	defer fh.Close()
	var read atomic.Int64
	br := bufio.NewReaderSize(countingReader{fh, &read}, 1<<20)
	var start int64
	if head, _ := br.Peek(5); aof.IsRDB(head) {
		oldStyle := f.Name == s.aofName()
		if oldStyle {
			s.log.Info(aof.MsgReadingRDBPreamble)
		} else {
			s.log.Info(aof.MsgReadingRDBBase)
		}
		err := s.loadRDBFrom(br, path, func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
			return held[id].Load(es, now, false)
		}, script.RestoreFlush, time.Now())
		if err != nil {
			s.log.Warn(aof.MsgRDBBaseError(f.Name, oldStyle))
			s.log.Warn(err.Error())
			return errAOFFatal
		}
		start = read.Load() - int64(br.Buffered())
		if _, err := br.Peek(1); err != nil {
			return nil // nothing after the RDB
		}
		s.log.Info(aof.MsgReadingAOFTail)
	}
	r := &aofReplay{s: s, held: held, file: f.Name}
	r.begin()
	ld := aof.Loader{Check: r.check, Apply: r.apply, Start: start}
	res, err := ld.Load(br)
	r.a.End()
	if r.closeFake != nil {
		r.closeFake()
	}
	switch {
	case err == nil:
	case errors.Is(err, aof.ErrBadFormat), errors.Is(err, aof.ErrBadLength):
		s.log.Warn(aof.MsgBadFormat(f.Name))
		return errAOFFatal
	case errors.Is(err, errAOFFatal):
		return err
	default:
		s.log.Warn(aof.MsgUnrecoverable(f.Name, err.Error()))
		return errAOFFatal
	}
	if !res.Truncated {
		return nil
	}
	if res.RevertedMulti {
		s.log.Warn(aof.MsgRevertMulti(f.Name))
	}
	if !s.cfg.Bool("aof-load-truncated") {
		s.log.Warn(aof.MsgUnexpectedEOF(f.Name))
		return errAOFFatal
	}
	// Redis counts ValidUpTo from 0 even after an RDB preamble, and would
	// cut the preamble off when no command after it is whole: never below
	// the preamble here.
	res.ValidUpTo = max(res.ValidUpTo, start)
	before, after := aof.TruncatedLog(f.Name, res.ValidUpTo)
	for _, l := range before {
		s.log.Warn(l)
	}
	if err := os.Truncate(path, res.ValidUpTo); err != nil {
		s.log.Warn(aof.MsgTruncateFailed(f.Name, errnoMessage(err)))
		s.log.Warn(aof.MsgUnexpectedEOF(f.Name))
		return errAOFFatal
	}
	if !last {
		s.log.Warn(aof.MsgNotLastTruncated)
		return errAOFFatal
	}
	s.log.Warn(after)
	return nil
}

// aofReplay runs an AOF's commands on the held shards.
type aofReplay struct {
	s    *Server
	held []*shard.Shard
	file string
	a    shard.Across
	db   int
	out  []byte
	n    int
	// record: the commands are a master's stream (replica.go), which the
	// journal records for the replica's own AOF.
	record bool
	// fake runs the file's scripts (script); closeFake ends it.
	fake      *client
	closeFake func()
}

// begin starts a run on the held shards: nothing expires until the load
// ends, as in Redis's, and nothing is recorded in the journal (the
// commands come from it) unless record says so.
func (r *aofReplay) begin() {
	r.a.KeepExpired, r.a.NoJournal = true, !r.record
	r.a.Begin(r.held, time.Now().UnixMilli())
}

// check refuses a command Valkyrie does not know, as Redis does.
func (r *aofReplay) check(args [][]byte) error {
	if lookup(args[0]) == nil {
		r.s.log.Warn(aof.MsgUnknownCommand(string(cString(args[0], 128)), r.file))
		return errAOFFatal
	}
	return nil
}

// apply runs one command.
func (r *aofReplay) apply(args [][]byte) error {
	name := strings.ToLower(string(args[0]))
	switch name {
	case "multi", "exec":
		return nil // the loader hands over only whole transactions
	case "select":
		if len(args) == 2 {
			if db, err := strconv.Atoi(string(args[1])); err == nil && db >= 0 && db < shard.NumDBs {
				r.db = db
				return nil
			}
		}
		return r.failed(args, "ERR DB index is out of range")
	case "function":
		return r.function(args)
	case "eval", "evalsha":
		return r.script(args)
	}
	e := lookup(args[0])
	if e.data == nil || !e.arityOK(len(args)) {
		return r.failed(args, "ERR the command cannot be loaded")
	}
	r.out = r.a.Run(e.data, args, nil, nil, r.db, wire.RESP2, r.out[:0])
	if r.n++; r.n%1024 == 0 {
		// Settle the accounting and expiry now and then; Redis serves its
		// clients at this point (awaitLoadingTurn).
		r.a.End()
		r.begin()
		r.s.persist.loading.point()
	}
	if cap(r.out) > 1<<20 {
		r.out = nil
	}
	return nil
}

// script runs an EVAL of an AOF written by Redis before 7.0, which
// logged scripts as called: on a client of the loader's own that holds
// every shard, as Redis's AOF client runs it.
func (r *aofReplay) script(args [][]byte) error {
	e := lookup(args[0])
	if !e.arityOK(len(args)) {
		return r.failed(args, shard.ErrArity(e.spec.Name))
	}
	r.a.End()
	defer r.begin()
	if r.fake == nil {
		local, remote := net.Pipe()
		r.closeFake = func() { local.Close(); remote.Close() }
		r.fake = newClient(r.s, local)
		r.fake.fromAOF = true
		r.fake.tx.execing = true // the shards are held already
	}
	c := r.fake
	copy(c.borrowed, r.held)
	c.db = r.db
	c.local = c.local[:0]
	e.run(c, args)
	clear(c.borrowed)
	if len(c.local) > 0 && c.local[0] == '-' {
		return r.failed(args, string(c.local[1:len(c.local)-2]))
	}
	return nil
}

// function runs FUNCTION LOAD, DELETE, FLUSH or RESTORE from the file.
func (r *aofReplay) function(args [][]byte) error {
	sc := &r.s.scripts
	msg := ""
	switch sub := ""; {
	case len(args) < 3 && !(len(args) == 2 && strings.EqualFold(string(args[1]), "flush")):
		msg = "ERR wrong number of arguments"
	default:
		sub = strings.ToLower(string(args[1]))
		switch sub {
		case "load":
			replace := len(args) == 4 && strings.EqualFold(string(args[2]), "replace")
			_, msg = sc.LoadLibrary(string(args[len(args)-1]), replace)
		case "delete":
			if !sc.DeleteLibrary(string(args[2])) {
				msg = "ERR Library not found"
			}
		case "flush":
			sc.FlushFunctions()
		case "restore":
			policy := script.RestoreAppend
			if len(args) == 4 {
				switch strings.ToLower(string(args[3])) {
				case "replace":
					policy = script.RestoreReplace
				case "flush":
					policy = script.RestoreFlush
				}
			}
			msg = sc.RestoreFunctions(args[2], policy)
		default:
			msg = "ERR unknown FUNCTION subcommand"
		}
	}
	if msg != "" {
		return r.failed(args, msg)
	}
	return nil
}

// failed logs a command of the file that failed; Redis's fake client
// ignores most errors, and so does the load: the file goes on.
func (r *aofReplay) failed(args [][]byte, msg string) error {
	r.s.log.Warn("a command of the AOF failed while loading", "file", r.file, "command", string(cString(args[0], 64)), "err", msg)
	return nil
}

var _ io.Reader = (*bufio.Reader)(nil)

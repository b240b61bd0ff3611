package conn

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	dir := s.aofDir()
	if old := s.aofName(); m.Base == nil && len(m.Incr) == 0 && fileExists(filepath.Join(s.cfg.Value("dir"), old)) {
		// A single appendonly.aof of Redis before 7.0: it becomes the
		// base, moved into the directory.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
		if err := os.Rename(filepath.Join(s.cfg.Value("dir"), old), filepath.Join(dir, old)); err != nil {
			return false, err
		}
		m.UpgradeFrom(old)
		s.log.Info("Successfully migrated an old-style AOF into the AOF directory")
	}
	s.aof.man = m
	files := m.Files()
	if len(files) == 0 {
		return false, nil
	}
	for _, f := range files {
		if !fileExists(filepath.Join(dir, f.Name)) {
			s.log.Warn("The AOF file " + f.Name + " doesn't exist")
			return false, errAOFFatal
		}
	}
	s.persist.loading.Store(true)
	defer s.persist.loading.Store(false)
	var held []*shard.Shard
	var loans []*shard.Loan
	for _, w := range s.workers {
		l := shard.NewLoan()
		sh, err := w.Borrow(l)
		if err != nil {
			for _, l := range loans {
				l.Return()
			}
			return false, err
		}
		held, loans = append(held, sh), append(loans, l)
	}
	defer func() {
		for _, l := range loans {
			l.Return()
		}
	}()
	for i, f := range files {
		last := i == len(files)-1
		began := time.Now()
		if err := s.loadAOFFile(held, f, last); err != nil {
			return true, err
		}
		s.log.Info(aof.MsgLoaded(f.Type == aof.TypeBase, f.Name, time.Since(began).Seconds()))
	}
	s.aof.sizesFromManifest(dir)
	return true, nil
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
	br := bufio.NewReaderSize(fh, 1<<20)
	if head, _ := br.Peek(5); aof.IsRDB(head) {
		fh.Close()
		if f.Type == aof.TypeBase && f.Name != s.aofName() {
			s.log.Info(aof.MsgReadingRDBBase)
		} else {
			s.log.Info(aof.MsgReadingRDBPreamble)
		}
		err := s.loadRDB(path, func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
			return held[id].Load(es, now, false)
		}, script.RestoreFlush, true)
		if err != nil {
			s.log.Warn(aof.MsgRDBBaseError(f.Name, f.Name == s.aofName()))
			s.log.Warn(err.Error())
			return errAOFFatal
		}
		return nil
	}
	r := &aofReplay{s: s, held: held, file: f.Name}
	r.a.KeepExpired = true // as Redis loads: keys expire after the load
	r.a.Begin(held, time.Now().UnixMilli())
	ld := aof.Loader{Check: r.check, Apply: r.apply}
	res, err := ld.Load(br)
	r.a.End()
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
	}
	e := lookup(args[0])
	if e.data == nil || !e.arityOK(len(args)) {
		return r.failed(args, "ERR the command cannot be loaded")
	}
	r.out = r.a.Run(e.data, args, nil, nil, r.db, wire.RESP2, r.out[:0])
	if r.n++; r.n%1024 == 0 {
		// Settle the accounting and expiry now and then.
		r.a.End()
		r.a.KeepExpired = true
		r.a.Begin(r.held, time.Now().UnixMilli())
	}
	if cap(r.out) > 1<<20 {
		r.out = nil
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

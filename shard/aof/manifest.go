package aof

import (
	"bufio"
	"bytes"
	"errors"
	"github.com/valkyrie-kv/valkyrie/wire"
	"io"
	"strconv"
	"strings"
)

// FileType is the type letter of a manifest line.
type FileType byte

// The three file types of a manifest.
const (
	TypeBase    FileType = 'b' // the snapshot from the last rewrite
	TypeHistory FileType = 'h' // a former base or incr, waiting to be deleted
	TypeIncr    FileType = 'i' // commands written since the last rewrite
)

// File is one line of the manifest.
type File struct {
	Name string
	Seq  int64
	Type FileType
}

// Manifest is the content of appendonly.aof.manifest, as Redis's
// aofManifest holds it.
type Manifest struct {
	Base    *File  // at most one base file; nil when there is none
	History []File // in manifest order
	Incr    []File // in manifest order, strictly increasing Seq

	// BaseSeq and IncrSeq are the sequence numbers of the latest base and
	// incr files (Redis's curr_base_file_seq and curr_incr_file_seq): the
	// next base or incr file gets the number after. ParseManifest sets them
	// from the base line and the last incr line.
	BaseSeq int64
	IncrSeq int64
}

// File-name pieces, as in aof.c.
const (
	baseSuffix     = ".base"
	incrSuffix     = ".incr"
	rdbSuffix      = ".rdb"
	aofSuffix      = ".aof"
	manifestSuffix = ".manifest"
	tempPrefix     = "temp-"
)

// ManifestName is the manifest's file name in the AOF directory:
// "<appendfilename>.manifest".
func ManifestName(appendFilename string) string {
	return appendFilename + manifestSuffix
}

// TempManifestName is the name the manifest is written under before it is
// fsynced and renamed over ManifestName: "temp-<appendfilename>.manifest".
func TempManifestName(appendFilename string) string {
	return tempPrefix + appendFilename + manifestSuffix
}

// BaseName is the name of base file number seq:
// "<appendfilename>.<seq>.base.rdb", or ".base.aof" without the RDB
// preamble.
func BaseName(appendFilename string, seq int64, rdbPreamble bool) string {
	suffix := aofSuffix
	if rdbPreamble {
		suffix = rdbSuffix
	}
	return appendFilename + "." + strconv.FormatInt(seq, 10) + baseSuffix + suffix
}

// IncrName is the name of incr file number seq:
// "<appendfilename>.<seq>.incr.aof".
func IncrName(appendFilename string, seq int64) string {
	return appendFilename + "." + strconv.FormatInt(seq, 10) + incrSuffix + aofSuffix
}

// TempIncrName is the incr file used while AOF is being switched on
// (CONFIG SET appendonly yes) and the first rewrite has not finished:
// "temp-<appendfilename>.incr". The rewrite renames it to the next IncrName.
func TempIncrName(appendFilename string) string {
	return tempPrefix + appendFilename + incrSuffix
}

// TempRewriteName is the file a background rewrite writes the new base
// into, in the working directory (not the AOF directory), before it is
// renamed to the new BaseName: "temp-rewriteaof-bg-<id>.aof". Redis uses the
// child's pid as id.
func TempRewriteName(id int) string {
	return "temp-rewriteaof-bg-" + strconv.Itoa(id) + aofSuffix
}

// Clone returns a deep copy, so that a change can be prepared on the copy
// and adopted only once the new manifest is on disk (as Redis's
// aofManifestDup is used).
func (m *Manifest) Clone() *Manifest {
	c := *m
	if m.Base != nil {
		b := *m.Base
		c.Base = &b
	}
	c.History = append([]File(nil), m.History...)
	c.Incr = append([]File(nil), m.Incr...)
	return &c
}

// Empty reports whether the manifest lists neither a base nor an incr file
// (Redis then treats the AOF as absent).
func (m *Manifest) Empty() bool {
	return m.Base == nil && len(m.Incr) == 0
}

// Files returns the files to load, in load order: the base (if any), then
// the incr files.
func (m *Manifest) Files() []File {
	out := make([]File, 0, len(m.Incr)+1)
	if m.Base != nil {
		out = append(out, *m.Base)
	}
	return append(out, m.Incr...)
}

// NewBase makes a new base file with the next base sequence number and
// returns its name; the previous base, if any, becomes the first history
// file (getNewBaseFileNameAndMarkPreAsHistory).
func (m *Manifest) NewBase(appendFilename string, rdbPreamble bool) string {
	if m.Base != nil {
		old := *m.Base
		old.Type = TypeHistory
		m.History = append([]File{old}, m.History...)
	}
	m.BaseSeq++
	m.Base = &File{Name: BaseName(appendFilename, m.BaseSeq, rdbPreamble), Seq: m.BaseSeq, Type: TypeBase}
	return m.Base.Name
}

// NewIncr appends a new incr file with the next incr sequence number and
// returns its name (getNewIncrAofName).
func (m *Manifest) NewIncr(appendFilename string) string {
	m.IncrSeq++
	f := File{Name: IncrName(appendFilename, m.IncrSeq), Seq: m.IncrSeq, Type: TypeIncr}
	m.Incr = append(m.Incr, f)
	return f.Name
}

// LastIncr returns the name of the last incr file, creating one with
// NewIncr when there is none (created is then true) (getLastIncrAofName).
func (m *Manifest) LastIncr(appendFilename string) (name string, created bool) {
	if len(m.Incr) == 0 {
		return m.NewIncr(appendFilename), true
	}
	return m.Incr[len(m.Incr)-1].Name, false
}

// MarkIncrHistory turns the incr files covered by a finished rewrite into
// history files, placed before the existing history in their original
// order (markRewrittenIncrAofAsHistory). keepLast keeps the last incr file
// as incr: Redis does so when AOF is on (it is the file being appended to).
// It reports whether anything changed.
func (m *Manifest) MarkIncrHistory(keepLast bool) bool {
	if len(m.Incr) == 0 {
		return false
	}
	n := len(m.Incr)
	if keepLast {
		n--
	}
	moved := make([]File, 0, n+len(m.History))
	for _, f := range m.Incr[:n] {
		f.Type = TypeHistory
		moved = append(moved, f)
	}
	m.History = append(moved, m.History...)
	m.Incr = append([]File(nil), m.Incr[n:]...)
	// Redis marks the manifest dirty even when nothing moved.
	return true
}

// StartRewrite is what a BGREWRITEAOF does to the manifest when it starts
// with AOF on (openNewIncrAofForAppend): a new incr file, whose name it
// returns, takes the writes from now on; the manifest must be persisted
// before the server switches to it. With AOF off it changes nothing; while
// AOF is being switched on, the writes go to TempIncrName instead and the
// manifest is not changed either.
func (m *Manifest) StartRewrite(appendFilename string) string {
	return m.NewIncr(appendFilename)
}

// FinishRewrite applies a successful rewrite as backgroundRewriteDoneHandler
// does: a new base (the rewrite's temp file is renamed to the returned
// base name), the old base to history; when fromTempIncr (AOF was being
// switched on with CONFIG SET appendonly yes) a new incr file whose name is
// returned as incr (TempIncrName is renamed to it); then the incr files
// the rewrite covered become history, all but the last one when an incr
// file is open for appending (aofOpen: AOF on or being switched on), all
// of them otherwise. The caller then persists the manifest and deletes the
// history files (TakeHistory) unless aof-disable-auto-gc is set.
func (m *Manifest) FinishRewrite(appendFilename string, rdbPreamble, fromTempIncr, aofOpen bool) (base, incr string) {
	base = m.NewBase(appendFilename, rdbPreamble)
	if fromTempIncr {
		incr = m.NewIncr(appendFilename)
	}
	m.MarkIncrHistory(aofOpen)
	return base, incr
}

// TakeHistory removes the history files from the manifest and returns them
// (aofDelHistoryFiles, which then deletes them in the background and
// persists the manifest).
func (m *Manifest) TakeHistory() []File {
	h := m.History
	m.History = nil
	return h
}

// UpgradeFrom sets the base to an old-style single AOF file, as Redis does
// when it moves a pre-7.0 appendonly.aof into the AOF directory
// (aofUpgradePrepare): the base is appendFilename itself with seq 1.
func (m *Manifest) UpgradeFrom(appendFilename string) {
	m.Base = &File{Name: appendFilename, Seq: 1, Type: TypeBase}
	m.BaseSeq = 1
}

// Append appends the manifest text as Redis writes it
// (getAofManifestAsString): the base, then the history files, then the incr
// files, one "file <name> seq <seq> type <t>\n" line each, the name quoted
// and escaped only when it holds a space, quote, backslash or unprintable
// byte.
func (m *Manifest) Append(dst []byte) []byte {
	if m.Base != nil {
		dst = appendFileLine(dst, m.Base)
	}
	for i := range m.History {
		dst = appendFileLine(dst, &m.History[i])
	}
	for i := range m.Incr {
		dst = appendFileLine(dst, &m.Incr[i])
	}
	return dst
}

func appendFileLine(dst []byte, f *File) []byte {
	dst = append(dst, "file "...)
	if needsRepr(f.Name) {
		dst = wire.AppendRepr(dst, []byte(f.Name))
	} else {
		dst = append(dst, f.Name...)
	}
	dst = append(dst, " seq "...)
	dst = strconv.AppendInt(dst, f.Seq, 10)
	dst = append(dst, " type "...)
	return append(dst, byte(f.Type), '\n')
}

// The messages of aofLoadManifestFromFile, word for word.
const (
	MsgEmptyManifest  = "Found an empty AOF manifest"
	MsgReadFailed     = "Read AOF manifest failed"
	MsgLineTooLong    = "The AOF manifest file contains too long line"
	MsgInvalidFormat  = "Invalid AOF manifest file format"
	MsgPathName       = "File can't be a path, just a filename"
	MsgDuplicateBase  = "Found duplicate base file information"
	MsgNonMonotonic   = "Found a non-monotonic sequence number"
	MsgUnknownType    = "Unknown AOF file type"
	manifestMaxLine   = 1024 // MANIFEST_MAX_LINE: fgets reads at most this many bytes
	manifestFatalHead = "\n*** FATAL AOF MANIFEST FILE ERROR ***\n"
)

// ManifestError is a manifest Redis refuses to load. Error returns the
// message alone; LogLines returns what Redis logs before it exits.
type ManifestError struct {
	Msg     string // one of the Msg* constants
	LineNum int    // 1-based line (fgets chunk) number; 0 when no line is involved
	Line    string // the offending line, trimmed; valid when HasLine
	HasLine bool   // Redis prints the line only for errors found after trimming it
	Err     error  // the read error behind MsgReadFailed
}

func (e *ManifestError) Error() string { return e.Msg }

func (e *ManifestError) Unwrap() error { return e.Err }

// LogLines returns the messages Redis passes to serverLog (at warning
// level) for this error, in order; each is one log call. Redis then exits
// with status 1.
func (e *ManifestError) LogLines() []string {
	lines := []string{manifestFatalHead}
	if e.HasLine {
		lines = append(lines,
			"Reading the manifest file, at line "+strconv.Itoa(e.LineNum)+"\n",
			">>> '"+e.Line+"'\n")
	}
	return append(lines, e.Msg+"\n")
}

// ErrManifest matches every *ManifestError with errors.Is.
var ErrManifest = errors.New("aof: bad manifest")

// Is makes errors.Is(err, ErrManifest) true.
func (e *ManifestError) Is(target error) bool { return target == ErrManifest }

// ParseManifest reads a manifest the way aofLoadManifestFromFile does and
// accepts exactly what it accepts. Notable rules it keeps: the text is read
// in fgets chunks of at most 1024 bytes, a chunk starting with '#' is a
// comment, any other chunk without a newline (also a last line without
// one) is "too long"; keys are matched case-insensitively and unknown keys
// are ignored; a line needs at least 6 fields and an even count; seq is
// parsed like atoll and must not be 0; type is the first byte of its value;
// a name holding '/' or '\' is refused. A manifest of only comments parses
// to an empty Manifest.
func ParseManifest(r io.Reader) (*Manifest, error) {
	br := bufio.NewReaderSize(r, 4096)
	m := &Manifest{}
	var maxSeq int64
	lineNum := 0
	chunk := make([]byte, 0, manifestMaxLine)
	for {
		var err error
		chunk, err = readChunk(br, chunk[:0], manifestMaxLine)
		if len(chunk) == 0 {
			if err == io.EOF || err == nil {
				if lineNum == 0 {
					return nil, &ManifestError{Msg: MsgEmptyManifest}
				}
				return m, nil
			}
			return nil, &ManifestError{Msg: MsgReadFailed, Err: err}
		}
		if err != nil && err != io.EOF {
			return nil, &ManifestError{Msg: MsgReadFailed, Err: err}
		}
		lineNum++
		if chunk[0] == '#' {
			continue
		}
		cs := cString(chunk)
		if bytes.IndexByte(cs, '\n') < 0 {
			return nil, &ManifestError{Msg: MsgLineTooLong, LineNum: lineNum}
		}
		line := string(bytes.Trim(cs, " \t\r\n"))
		fail := func(msg string) (*Manifest, error) {
			return nil, &ManifestError{Msg: msg, LineNum: lineNum, Line: line, HasLine: true}
		}
		if line == "" {
			return fail(MsgInvalidFormat)
		}
		argv, ok := wire.SplitArgs([]byte(line))
		if !ok || len(argv) < 6 || len(argv)%2 != 0 {
			return fail(MsgInvalidFormat)
		}
		var f File
		var haveName bool
		for i := 0; i < len(argv); i += 2 {
			key, val := cString(argv[i]), argv[i+1]
			switch {
			case strings.EqualFold(string(key), "file"):
				name := cString(val)
				if bytes.IndexByte(name, '/') >= 0 || bytes.IndexByte(name, '\\') >= 0 {
					return fail(MsgPathName)
				}
				f.Name, haveName = string(name), true
			case strings.EqualFold(string(key), "seq"):
				f.Seq = cStrtol(val)
			case strings.EqualFold(string(key), "type"):
				if len(val) > 0 {
					f.Type = FileType(val[0])
				} else {
					f.Type = 0
				}
			}
		}
		if !haveName || f.Seq == 0 || f.Type == 0 {
			return fail(MsgInvalidFormat)
		}
		switch f.Type {
		case TypeBase:
			if m.Base != nil {
				return fail(MsgDuplicateBase)
			}
			b := f
			m.Base = &b
			m.BaseSeq = f.Seq
		case TypeHistory:
			m.History = append(m.History, f)
		case TypeIncr:
			if f.Seq <= maxSeq {
				return fail(MsgNonMonotonic)
			}
			m.Incr = append(m.Incr, f)
			m.IncrSeq = f.Seq
			maxSeq = f.Seq
		default:
			return fail(MsgUnknownType)
		}
	}
}

// readChunk does what fgets with a buffer of max+1 bytes does: it appends
// bytes to dst up to and including the next '\n', or max bytes, whichever
// comes first. At end of input it returns what it read and io.EOF.
func readChunk(br *bufio.Reader, dst []byte, max int) ([]byte, error) {
	for len(dst) < max {
		c, err := br.ReadByte()
		if err != nil {
			return dst, err
		}
		dst = append(dst, c)
		if c == '\n' {
			return dst, nil
		}
	}
	return dst, nil
}

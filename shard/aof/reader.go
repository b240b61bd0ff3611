package aof

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
)

// lineMax is the fgets buffer loadSingleAppendOnlyFile reads lines with
// (AOF_ANNOTATION_LINE_MAX_LEN): a line is read in chunks of at most
// lineMax-1 bytes.
const lineMax = 1024

// Errors of Reader.Next and Load.
var (
	// ErrBadFormat is Redis's fmterr: a line that is not '*<n>' at a
	// command start (or n < 1), or an argument line not starting with '$'.
	// Redis logs MsgBadFormat and exits; aof-load-truncated does not help.
	ErrBadFormat = errors.New("Bad file format reading the append only file")

	// ErrTruncated is the end of the input inside a command (Redis's
	// "unexpected end of file"). Load reports it in Result instead.
	ErrTruncated = errors.New("Unexpected end of file reading the append only file")

	// ErrNulAfterStar is a command line that is "*" followed by a NUL byte
	// while more input follows: fgets then looks like it failed without
	// reaching the end of the file, and Redis logs "Unrecoverable error
	// reading the append only file" and exits, whatever aof-load-truncated
	// says.
	ErrNulAfterStar = errors.New("Unrecoverable error reading the append only file")

	// ErrBadLength is an argument length that is negative (or, read as an
	// unsigned long, beyond any possible size). Redis tries to allocate it
	// and aborts; we stop with this error, which the caller should treat
	// like ErrBadFormat.
	ErrBadLength = errors.New("Bad file format reading the append only file: invalid bulk length")
)

// IsRDB reports whether a file starting with prefix is in RDB format (an
// RDB base file or an old-style RDB-preamble AOF): its first five bytes are
// "REDIS". Redis then loads the RDB and goes on reading commands after it.
func IsRDB(prefix []byte) bool {
	return len(prefix) >= 5 && string(prefix[:5]) == "REDIS"
}

// Reader reads the commands of an AOF command file one by one, as
// loadSingleAppendOnlyFile parses them, with no MULTI/EXEC handling (see
// Load for that). It never allocates much more than the bytes actually
// present: an argument's declared length is read in growing chunks.
type Reader struct {
	br      *bufio.Reader
	off     int64 // bytes consumed, plus the start offset
	eof     bool  // a read has hit the end of the input (C's feof)
	line    []byte
	spans   []int
	scratch []byte // arguments are read here, then copied out
}

// scratchMax is the largest scratch buffer a Reader keeps between
// commands; a command with more argument bytes takes the buffer with it.
const scratchMax = 64 << 10

func (r *Reader) keepScratch(b []byte) {
	if cap(b) <= scratchMax {
		r.scratch = b[:0]
	} else {
		r.scratch = nil
	}
}

// NewReader returns a Reader over r; start is the file offset r starts at
// (the length of an RDB preamble already consumed, else 0), used in
// Offset.
func NewReader(r io.Reader, start int64) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), off: start, line: make([]byte, 0, lineMax)}
}

// Offset is the file offset just after the last byte read: after a
// successful Next, the end of that command (Redis's ftello).
func (r *Reader) Offset() int64 { return r.off }

// readChunk is fgets(buf, lineMax, fp): up to and including '\n', at most
// lineMax-1 bytes. It returns nil at the end of the input with nothing
// read, and a non-EOF read error as is.
func (r *Reader) readChunk() ([]byte, error) {
	b := r.line[:0]
	for len(b) < lineMax-1 {
		c, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				r.eof = true
				if len(b) == 0 {
					return nil, nil
				}
				break
			}
			return nil, err
		}
		r.off++
		b = append(b, c)
		if c == '\n' {
			break
		}
	}
	r.line = b
	return b, nil
}

// readFull reads exactly n bytes onto dst, growing dst step by step so a
// huge n in a short input costs little: no step more than doubles what was
// actually read. ok is false at a premature end of the input.
func (r *Reader) readFull(dst []byte, n int64) (out []byte, ok bool, err error) {
	for n > 0 {
		if len(dst) == cap(dst) {
			step := int64(len(dst))
			if step < 64<<10 {
				step = 64 << 10
			}
			if step > n {
				step = n
			}
			dst = slices.Grow(dst, int(step))
		}
		step := int64(cap(dst) - len(dst))
		if step > n {
			step = n
		}
		k, err := io.ReadFull(r.br, dst[len(dst):len(dst)+int(step)])
		dst = dst[:len(dst)+k]
		r.off += int64(k)
		n -= int64(k)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			r.eof = true
			return dst, false, nil
		}
		if err != nil {
			return dst, false, err
		}
	}
	return dst, true, nil
}

// Next returns the next command's arguments. The slices are freshly
// allocated and stay valid. Annotation lines (starting with '#') between
// commands are skipped. At the clean end of the input Next returns io.EOF;
// an end inside a command gives ErrTruncated; ErrBadFormat, ErrBadLength
// and ErrNulAfterStar report malformed input; other errors come from the
// underlying reader.
func (r *Reader) Next() ([][]byte, error) {
	var line []byte
	for {
		var err error
		line, err = r.readChunk()
		if err != nil {
			return nil, err
		}
		if line == nil {
			return nil, io.EOF
		}
		if line[0] != '#' {
			break
		}
	}
	if line[0] != '*' {
		return nil, ErrBadFormat
	}
	if len(line) == 1 || line[1] == 0 {
		if r.eof {
			return nil, ErrTruncated
		}
		return nil, ErrNulAfterStar
	}
	argc := cAtoi(line[1:])
	if argc < 1 {
		return nil, ErrBadFormat
	}
	spans := r.spans[:0]
	data := r.scratch[:0]
	for j := 0; j < int(argc); j++ {
		line, err := r.readChunk()
		if err != nil {
			return nil, err
		}
		if line == nil {
			return nil, ErrTruncated
		}
		if line[0] != '$' {
			return nil, ErrBadFormat
		}
		n := cStrtol(line[1:])
		if n < 0 {
			return nil, ErrBadLength
		}
		start := len(data)
		if n > 0 {
			var ok bool
			data, ok, err = r.readFull(data, n)
			r.keepScratch(data)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ErrTruncated
			}
		}
		spans = append(spans, start, len(data))
		// The two bytes after the argument are skipped unchecked.
		k, err := r.br.Discard(2)
		r.off += int64(k)
		if err == io.EOF {
			r.eof = true
			return nil, ErrTruncated
		}
		if err != nil {
			return nil, err
		}
	}
	r.spans = spans
	r.keepScratch(data)
	if len(data) <= scratchMax {
		// One exact allocation for the caller; the scratch is reused.
		data = append([]byte(nil), data...)
	} else {
		// Too big to copy: hand the scratch itself over.
		r.scratch = nil
	}
	args := make([][]byte, len(spans)/2)
	for i := range args {
		args[i] = data[spans[2*i]:spans[2*i+1]:spans[2*i+1]]
	}
	return args, nil
}

// Result is what Load found.
type Result struct {
	// Commands is how many commands were given to Apply (MULTI and EXEC
	// included).
	Commands int64
	// End is the offset just after the last byte read.
	End int64
	// Truncated is true when the input ended inside a command, or inside a
	// MULTI that no EXEC closed. Redis then, with aof-load-truncated yes
	// and if this is the last file of the manifest, logs TruncatedLog,
	// truncates the file to ValidUpTo and goes on; otherwise it logs
	// MsgUnexpectedEOF and exits.
	Truncated bool
	// ValidUpTo is Redis's valid_up_to: the offset after the last complete
	// command (even one queued inside an unfinished MULTI), or, when the
	// input ended cleanly inside a MULTI, the offset before that MULTI.
	// Like Redis it starts at 0, not at the start offset, so a truncated
	// tail after an RDB preamble with no complete command gives 0.
	ValidUpTo int64
	// RevertedMulti is true when the input ended cleanly inside a MULTI:
	// Redis logs MsgRevertMulti first.
	RevertedMulti bool
}

// Loader replays an AOF command file with Redis's MULTI/EXEC rules.
type Loader struct {
	// Check, if set, sees every command as soon as it is read, also those
	// inside MULTI, as Redis looks each one up before queueing it (an
	// unknown command is fatal even inside an unfinished MULTI). An error
	// stops Load and is returned.
	Check func(args [][]byte) error
	// Apply gets the commands to run, in order. Commands after a MULTI are
	// held back and given to Apply (MULTI first, EXEC last) only once EXEC
	// is read; a MULTI left open at the end is dropped. An error stops Load
	// and is returned.
	Apply func(args [][]byte) error
	// Start is the file offset the input starts at (after an RDB
	// preamble).
	Start int64
}

// Load reads r to its end. A truncated input is not an error: see
// Result.Truncated. Errors are ErrBadFormat, ErrBadLength, ErrNulAfterStar,
// a read error, or one returned by Check or Apply.
func (l *Loader) Load(r io.Reader) (Result, error) {
	rd := NewReader(r, l.Start)
	var res Result
	var validBeforeMulti int64
	var queued [][][]byte
	inMulti := false
	apply := func(args [][]byte) error {
		res.Commands++
		if l.Apply != nil {
			return l.Apply(args)
		}
		return nil
	}
	for {
		args, err := rd.Next()
		res.End = rd.Offset()
		if err == io.EOF {
			break
		}
		if err == ErrTruncated {
			res.Truncated = true
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if l.Check != nil {
			if err := l.Check(args); err != nil {
				return res, err
			}
		}
		name := string(args[0])
		isMulti := len(name) == 5 && strings.EqualFold(name, "multi")
		isExec := len(name) == 4 && strings.EqualFold(name, "exec")
		if isMulti {
			// Also for a MULTI inside MULTI, as Redis does.
			validBeforeMulti = res.ValidUpTo
		}
		switch {
		case inMulti && isExec:
			for _, q := range queued {
				if err := apply(q); err != nil {
					return res, err
				}
			}
			queued = queued[:0]
			inMulti = false
			if err := apply(args); err != nil {
				return res, err
			}
		case inMulti || isMulti:
			inMulti = true
			queued = append(queued, args)
		default:
			if err := apply(args); err != nil {
				return res, err
			}
		}
		res.ValidUpTo = rd.Offset()
	}
	if inMulti {
		res.Truncated = true
		res.RevertedMulti = true
		res.ValidUpTo = validBeforeMulti
	}
	return res, nil
}

package wire

import (
	"bytes"
	"errors"
	"io"
	"math"

	"github.com/valkyrie-kv/valkyrie/shard/osmem"
)

// Limits bound what a single request may make the Reader allocate.
// The zero value of a field means the Redis 7 default.
type Limits struct {
	MaxBulk   int64 // largest bulk argument (proto-max-bulk-len), 512 MiB
	MaxInline int   // longest inline request or header line, 64 KiB
	MaxQuery  int64 // most unparsed bytes held (client-query-buffer-limit), 1 GiB
}

// ErrQueryBufferLimit is returned by Fill once the bytes received but not
// yet parsed into arguments exceed Limits.MaxQuery. Redis closes
// such a client without a reply.
var ErrQueryBufferLimit = errors.New("wire: query buffer limit reached")

const (
	DefaultMaxBulk   = 512 << 20
	DefaultMaxInline = 64 << 10
	DefaultMaxQuery  = 1 << 30

	maxMultibulk = 1<<31 - 1 // Redis rejects counts above INT_MAX
	initialBuf   = 16 << 10
	keepBuf      = 256 << 10 // a larger buffer shrinks as soon as it is idle
	shrinkWindow = 16        // Fills a smaller oversized buffer must stay unused
	maxArgvHint  = 1024      // never pre-size argv beyond this, as Redis does
	bigArgLen    = 32 << 10  // Redis's PROTO_MBULK_BIG_ARG
)

// Reader parses requests from a byte stream.
//
// The caller alternates two calls: Next, which returns the next complete
// command already in the buffer (or nil when it needs more bytes), and Fill,
// which reads more. A command split across reads is resumed where the
// previous Next stopped, so a large multibulk is never parsed twice.
type Reader struct {
	rd  io.Reader
	err error // sticky read error, reported once the buffer is drained
	lim Limits
	// unauth: the client has not authenticated though it must, so a
	// request may have at most 10 arguments of 16 KiB (Redis's limits).
	unauth bool

	buf  []byte
	r, w int // buf[r:w] holds bytes not yet consumed by a complete command

	// Progress inside a multibulk that is not complete yet.
	pos     int   // next byte to parse, absolute index into buf
	argc    int   // arguments still expected; 0 when between commands
	bulkLen int   // length of the bulk being read, or -1 before its header
	offs    []int // start,end of each argument read so far, relative to r

	argv   [][]byte // arena for the argument lists handed out; reset by Fill
	inline []byte   // arena for unescaped inline arguments; reset by Fill

	// Shrinking: an oversized buffer goes back to initialBuf once a window
	// of shrinkWindow Fills has held no more than initialBuf/2 bytes.
	idleFills int // Fills in the current window
	peak      int // most bytes held after a read during the window

	// filled is set when the last read filled all the room it was given:
	// more bytes are probably waiting, so the buffer grows (up to keepBuf)
	// to take a whole pipeline in one read next time.
	filled bool

	mark int // r as the last Fill left it (SinceFill)
}

// NewReader returns a Reader over rd with the given limits.
func NewReader(rd io.Reader, lim Limits) *Reader {
	if lim.MaxBulk <= 0 {
		lim.MaxBulk = DefaultMaxBulk
	}
	if lim.MaxInline <= 0 {
		lim.MaxInline = DefaultMaxInline
	}
	if lim.MaxQuery <= 0 {
		lim.MaxQuery = DefaultMaxQuery
	}
	return &Reader{rd: rd, lim: lim, buf: make([]byte, initialBuf), bulkLen: -1}
}

// SetMaxBulk changes the bulk length limit for bulk headers not yet parsed.
func (r *Reader) SetMaxBulk(n int64) {
	if n > 0 {
		r.lim.MaxBulk = n
	}
}

// SetUnauthenticated turns the limits for a client that must still
// authenticate on or off, for headers not yet parsed.
func (r *Reader) SetUnauthenticated(on bool) { r.unauth = on }

// SetMaxQuery changes the query buffer limit; it applies from the next Fill.
func (r *Reader) SetMaxQuery(n int64) {
	if n > 0 {
		r.lim.MaxQuery = n
	}
}

// unparsed is what client-query-buffer-limit bounds: the bytes received
// and not yet parsed into arguments. As in Redis, whose query buffer drops
// each argument of a multibulk as soon as it is complete, the finished
// arguments of a command still arriving do not count: only the one being
// read and what follows it (proto-max-bulk-len bounds each argument).
func (r *Reader) unparsed() int { return r.w - max(r.pos, r.r) }

// overLimit reports whether the client passed client-query-buffer-limit:
// more unparsed bytes than the limit, as in Redis, or a command still
// arriving that already holds more than the limit plus one largest bulk.
// Redis has no bound on the second, which lets a client that never ends
// a multibulk of small arguments grow the server without bound; this one
// still accepts any command Redis accepts whose arguments sum to less.
func (r *Reader) overLimit() bool {
	if int64(r.unparsed()) > r.lim.MaxQuery {
		return true
	}
	whole := r.lim.MaxQuery + r.lim.MaxBulk
	if whole < 0 { // overflow: MaxBulk may be huge
		whole = math.MaxInt64
	}
	return int64(r.w-r.r) > whole
}

// Held reports roughly how many bytes of memory the Reader keeps between
// requests: its buffer and its arenas.
func (r *Reader) Held() int {
	return len(r.buf) + 24*cap(r.argv) + cap(r.inline) + 8*cap(r.offs)
}

// Release gives back everything the Reader holds: its buffer and the
// arenas. It does nothing while bytes are pending. The caller uses it on a
// connection gone idle, as Redis's clientsCron frees the query buffer of
// an idle client; the next Fill allocates a buffer of the initial size.
// It returns the bytes dropped.
func (r *Reader) Release() int {
	if r.w != r.r {
		return 0
	}
	n := len(r.buf) + 24*cap(r.argv) + cap(r.inline) + 8*cap(r.offs)
	r.buf = nil
	r.r, r.w, r.pos, r.mark = 0, 0, 0, 0
	r.argv, r.inline, r.offs = nil, nil, nil
	r.filled, r.idleFills, r.peak = false, 0, 0
	return n
}

// Buffered reports how many unconsumed bytes the Reader holds.
func (r *Reader) Buffered() int { return r.w - r.r }

// Size reports the size of the read buffer: 0 once Release dropped it.
func (r *Reader) Size() int { return len(r.buf) }

// Unparsed reports the bytes received and not yet parsed into arguments:
// Redis's query buffer length (qbuf) between commands. The finished
// arguments of a command still arriving are not part of it (see ArgBytes).
func (r *Reader) Unparsed() int { return r.unparsed() }

// ArgBytes reports the summed length of the finished arguments of a
// command still arriving, which Redis counts as argv memory.
func (r *Reader) ArgBytes() int {
	if r.argc == 0 {
		return 0
	}
	n := 0
	for i := 1; i < len(r.offs); i += 2 {
		n += r.offs[i] - r.offs[i-1]
	}
	return n
}

// SinceFill reports the bytes in the buffer from where the last Fill
// found the first unconsumed one: while commands of a segment run, the
// commands already run, the running one and what follows. Redis's query
// buffer likewise keeps the commands of one read until they all ran.
func (r *Reader) SinceFill() int { return r.w - min(r.mark, r.r) }

// Next returns the next complete command in the buffer. It returns nil, nil
// when the buffer holds no complete command; call Fill and try again.
// Empty requests (a blank inline line, "*0") are skipped silently.
// A ProtocolError is final: the stream cannot be resynchronised.
//
// The returned slices alias the Reader's buffer and stay valid until Fill.
func (r *Reader) Next() ([][]byte, error) {
	for {
		if r.argc == 0 {
			if r.pos >= r.w {
				return nil, nil
			}
			var (
				args [][]byte
				err  error
				ok   bool
			)
			if r.buf[r.pos] == '*' {
				ok, err = r.multibulkHeader()
			} else {
				args, ok, err = r.inlineCommand()
			}
			if err != nil || !ok {
				return nil, err
			}
			if args != nil {
				return args, nil
			}
			if r.argc == 0 { // empty request: keep looking
				r.r = r.pos
				continue
			}
		}
		ok, err := r.bulks()
		if err != nil || !ok {
			return nil, err
		}
		return r.finish(), nil
	}
}

// multibulkHeader parses "*<count>\r\n".
func (r *Reader) multibulkHeader() (bool, error) {
	n, next := r.headerInt(r.pos)
	if next == 0 {
		line, ok, err := r.line(r.pos, "too big mbulk count string")
		if err != nil || !ok {
			return false, err
		}
		var valid bool
		if n, valid = ParseInt(line[1:]); !valid {
			return false, ProtocolError("invalid multibulk length")
		}
		next = r.pos + len(line) + 2
	}
	if n > maxMultibulk {
		return false, ProtocolError("invalid multibulk length")
	}
	if n > 10 && r.unauth {
		return false, ProtocolError("unauthenticated multibulk length")
	}
	r.pos = next
	if n <= 0 {
		return true, nil
	}
	r.argc = int(n)
	r.bulkLen = -1
	r.offs = r.offs[:0]
	return true, nil
}

// bulks reads the remaining "$<len>\r\n<data>\r\n" arguments.
func (r *Reader) bulks() (bool, error) {
	for r.argc > 0 {
		if r.bulkLen < 0 {
			if r.pos >= r.w {
				return false, nil
			}
			n, next := int64(0), 0
			if r.buf[r.pos] == '$' {
				n, next = r.headerInt(r.pos)
			}
			if next == 0 {
				line, ok, err := r.line(r.pos, "too big bulk count string")
				if err != nil || !ok {
					return false, err
				}
				// The line may be empty (a bare "\r\n"): Redis then
				// reports the '\r' itself, turned into a space like any CR
				// or LF in an error reply. Other bytes are quoted raw, not
				// UTF-8 encoded.
				if c := r.buf[r.pos]; c != '$' {
					if c == '\r' || c == '\n' {
						c = ' '
					}
					return false, ProtocolError("expected '$', got '" + string([]byte{c}) + "'")
				}
				var valid bool
				if n, valid = ParseInt(line[1:]); !valid || n < 0 {
					return false, ProtocolError("invalid bulk length")
				}
				next = r.pos + len(line) + 2
			}
			if n > r.lim.MaxBulk {
				return false, ProtocolError("invalid bulk length")
			}
			if n > 16384 && r.unauth {
				return false, ProtocolError("unauthenticated bulk length")
			}
			r.pos = next
			r.bulkLen = int(n)
		}
		// Redis skips the two bytes after the data without checking them.
		if r.w-r.pos-2 < r.bulkLen { // not bulkLen+2: MaxBulk may be MaxInt64
			return false, nil
		}
		r.offs = append(r.offs, r.pos-r.r, r.pos-r.r+r.bulkLen)
		r.pos += r.bulkLen + 2
		r.bulkLen = -1
		r.argc--
	}
	return true, nil
}

// finish turns the offsets of a complete multibulk into argument slices.
func (r *Reader) finish() [][]byte {
	start := len(r.argv)
	for i := 0; i < len(r.offs); i += 2 {
		r.argv = append(r.argv, r.buf[r.r+r.offs[i]:r.r+r.offs[i+1]:r.r+r.offs[i+1]])
	}
	r.r = r.pos
	if cap(r.offs) > maxArgvHint*2 {
		r.offs = nil // a huge multibulk's offsets are not kept for the next
	} else {
		r.offs = r.offs[:0]
	}
	return r.argv[start:len(r.argv):len(r.argv)]
}

// headerInt is the fast path of a header line ("*3", "$16") at from: a
// type byte, then 1 to 18 digits with no leading zero (or a lone "0"),
// '\r' and one more byte. It returns the number and where the next line
// starts, or next == 0 for any other line, complete or not, which line
// and ParseInt then judge with all of Redis's rules.
func (r *Reader) headerInt(from int) (n int64, next int) {
	b := r.buf[from+1 : r.w]
	for i, c := range b {
		if d := c - '0'; d <= 9 {
			if i == 18 || i == 1 && b[0] == '0' {
				return 0, 0
			}
			n = n*10 + int64(d)
			continue
		}
		// i+1 is the '\r''s offset from the line start: scan looks no
		// further than MaxInline.
		if c != '\r' || i == 0 || i+1 >= len(b) || i+1 > r.lim.MaxInline {
			return 0, 0
		}
		return n, from + i + 3
	}
	return 0, 0
}

// line returns the header line starting at from, without its terminator.
// Like Redis it looks for '\r' and then skips two bytes, whatever the second.
func (r *Reader) line(from int, tooBig string) ([]byte, bool, error) {
	i := r.scan(from, '\r')
	if i < 0 {
		if r.w-from > r.lim.MaxInline {
			return nil, false, ProtocolError(tooBig)
		}
		return nil, false, nil
	}
	if from+i+1 >= r.w { // wait for the byte after '\r', whatever it is
		return nil, false, nil
	}
	return r.buf[from : from+i], true, nil
}

// scan returns the index, relative to from, of the first delim among the
// next MaxInline+1 bytes, or -1. Redis finds line ends with strchr, which
// stops at a NUL byte, so a NUL before delim hides it: the request then
// never completes and fails once MaxInline bytes are pending.
//
// Looking no further than MaxInline+1 bytes makes the outcome independent
// of how the stream was split into reads: Redis rejects a line as soon as
// more than MaxInline bytes are pending without a terminator, so a
// terminator beyond that point is only ever seen when a single read
// happened to deliver it along with the rest of the line.
func (r *Reader) scan(from int, delim byte) int {
	end := r.w
	if r.w-from > r.lim.MaxInline { // written so that a huge limit cannot overflow
		end = from + r.lim.MaxInline + 1
	}
	window := r.buf[from:end]
	// Header lines ("*3", "$5") are a few bytes: one pass that stops at
	// either byte beats two calls of IndexByte. Inline commands (delim
	// '\n') are longer.
	short := window[:0]
	if delim == '\r' {
		short = window[:min(len(window), shortLine)]
	}
	for i, c := range short {
		switch c {
		case delim:
			return i
		case 0:
			return -1
		}
	}
	if len(short) == len(window) {
		return -1
	}
	rest := window[len(short):]
	i := bytes.IndexByte(rest, delim)
	if i < 0 || bytes.IndexByte(rest[:i], 0) >= 0 {
		return -1
	}
	return len(short) + i
}

// shortLine is how far scan looks byte by byte before it turns to
// IndexByte.
const shortLine = 24

// inlineCommand parses one telnet-style line. It returns args == nil and
// ok == true for a blank line.
func (r *Reader) inlineCommand() ([][]byte, bool, error) {
	i := r.scan(r.pos, '\n')
	if i < 0 {
		if r.w-r.pos > r.lim.MaxInline {
			return nil, false, ProtocolError("too big inline request")
		}
		return nil, false, nil
	}
	line := r.buf[r.pos : r.pos+i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	start := len(r.argv)
	var ok bool
	r.argv, r.inline, ok = splitArgs(line, r.argv, r.inline)
	if !ok {
		r.argv = r.argv[:start]
		return nil, false, ProtocolError("unbalanced quotes in request")
	}
	r.pos += i + 1
	r.r = r.pos
	if len(r.argv) == start {
		return nil, true, nil
	}
	return r.argv[start:len(r.argv):len(r.argv)], true, nil
}

// Fill reads more bytes from the underlying reader. It invalidates every
// argument slice returned so far. It returns the read error, if any, once
// no unread bytes are left to parse.
func (r *Reader) Fill() error {
	if r.err != nil {
		clear(r.argv)
		r.argv = r.argv[:0]
		r.inline = r.inline[:0]
		return r.err
	}
	if r.overLimit() {
		r.err = ErrQueryBufferLimit
		return r.err
	}
	r.makeRoom()
	// The arenas are reused: everything handed out so far is now invalid.
	// Drop them when a burst left them far larger than the buffer.
	// Clearing the used part matters: a stale slice left in the arena
	// would keep a large buffer that makeRoom just dropped alive.
	if cap(r.argv) > len(r.buf) {
		r.argv = nil
	}
	clear(r.argv)
	r.argv = r.argv[:0]
	if cap(r.inline) > 4*len(r.buf) {
		r.inline = nil
	}
	r.inline = r.inline[:0]
	r.mark = r.r
	n, err := r.rd.Read(r.buf[r.w:])
	r.filled = n == len(r.buf)-r.w
	r.w += n
	r.peak = max(r.peak, r.w-r.r)
	if r.overLimit() {
		// Checked after every read, as Redis does, and before the
		// buffer can grow again: the client is closed, its pending
		// commands are not run.
		r.err = ErrQueryBufferLimit
		return r.err
	}
	if err != nil {
		r.err = err
		if n == 0 {
			return err
		}
	}
	return nil
}

// makeRoom makes sure buf[w:] is not empty. It moves the unconsumed bytes
// to the front, shrinks the buffer back once large requests stop coming,
// and otherwise grows it by doubling, never past what the current command
// needs. Growth follows the bytes actually received, so a header announcing
// a huge bulk cannot make the Reader allocate more than about twice what
// the client has sent.
//
// A buffer below keepBuf also doubles after a read that filled it, as
// Redis reads as much as its query buffer holds: a pipeline larger than
// the buffer (16 SETs of 1 KiB) would otherwise always arrive in two
// reads, and run as two segments with two shard round trips and two
// writes.
//
// A buffer above keepBuf shrinks as soon as what remains is small. A
// smaller oversized one is kept while it is used, so that a client sending
// one 64 KiB value after another does not reallocate it for each.
func (r *Reader) makeRoom() {
	need := r.needed()
	if len(r.buf) > 4*initialBuf && need <= initialBuf/2 {
		r.idleFills++
		shrink := len(r.buf) > keepBuf || r.idleFills >= shrinkWindow && r.peak <= initialBuf/2
		if shrink || r.idleFills >= shrinkWindow {
			r.idleFills, r.peak = 0, 0 // start a new window
		}
		if shrink {
			r.resize(initialBuf)
			return
		}
	}
	if r.r > 0 && (r.w == r.r || len(r.buf)-r.w < len(r.buf)/4) {
		copy(r.buf, r.buf[r.r:r.w])
		r.shift()
	}
	greedy := r.filled && len(r.buf) < keepBuf
	if r.w < len(r.buf) && !greedy {
		return
	}
	size := max(2*len(r.buf), initialBuf) // initialBuf after Release
	// A big argument still arriving gets room for exactly itself, as
	// Redis sizes its query buffer for a bulk of PROTO_MBULK_BIG_ARG or
	// more: what a client holds then does not depend on how its bytes
	// happened to arrive (CLIENT LIST tot-mem, maxmemory-clients).
	bigArg := r.argc > 0 && r.bulkLen >= bigArgLen
	if (!greedy || bigArg) && need > len(r.buf) && need < size {
		size = need
	}
	// Never more room than it takes to pass the query buffer limit by
	// one byte: Fill closes the stream once that many are unparsed. The
	// finished arguments of the command being read come on top.
	parsed := int64(max(r.pos, r.r) - r.r)
	if lim := parsed + r.lim.MaxQuery + 1; int64(size) > lim && lim > int64(len(r.buf)) {
		size = int(lim)
	}
	r.resize(size)
}

// resize moves the unconsumed bytes into a new buffer of the given size.
func (r *Reader) resize(size int) {
	if size < len(r.buf) {
		osmem.Released(len(r.buf))
	}
	nb := make([]byte, size)
	copy(nb, r.buf[r.r:r.w])
	r.buf = nb
	r.shift()
}

// shift rebases the indexes after buf[r:w] moved to the front. The
// offsets of a partial multibulk are relative to r and need no change.
func (r *Reader) shift() {
	r.pos -= r.r
	r.w -= r.r
	r.r = 0
}

// needed is how many bytes from r the buffer must hold: the pending bytes,
// or more when a bulk of known length is still arriving.
func (r *Reader) needed() int {
	n := r.w - r.r
	if r.argc > 0 && r.bulkLen >= 0 && r.bulkLen <= math.MaxInt/2 {
		n = max(n, r.pos-r.r+r.bulkLen+2)
	}
	return n
}

// ParseInt parses a decimal integer the way Redis's string2ll does:
// optional '-', no '+', no leading zeros, no spaces, fits in int64.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for i, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		// 19 digits fit in 64 bits; past them, check before multiplying.
		if i >= 19 && v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

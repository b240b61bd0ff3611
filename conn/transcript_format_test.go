package conn

// Parsing and printing of the transcript files described in
// transcript_test.go, and a reader that cuts one raw RESP reply off a
// stream.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// trKind is what a transcript line asks for.
type trKind uint8

const (
	trSend   trKind = iota // ">" or ">>": write bytes
	trReply                // "<" or "<~": read one reply and match it
	trClosed               // "!closed": the server must close the connection
)

// trStep is one directive of a case.
type trStep struct {
	kind trKind
	line int    // 1-based line number in the file
	src  string // the text after the prefix, as written
	data []byte // bytes to send, or the exact reply expected
	segs [][]byte
	// segs is non-nil for a "<~" line: the literal pieces between the
	// wildcards, so len(segs)-1 wildcards.
}

// trCase is one "=== name" block.
type trCase struct {
	name  string
	line  int
	steps []*trStep
}

// trFile is a parsed transcript; lines keeps the text for -update.
type trFile struct {
	path  string
	lines []string
	cases []*trCase
}

// trLoadFile reads and parses a transcript.
func trLoadFile(path string) (*trFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return trParse(path, string(raw))
}

// trParse parses the text of a transcript; errors carry file:line.
func trParse(path, text string) (*trFile, error) {
	lines := strings.Split(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	f := &trFile{path: path, lines: lines}
	var cur *trCase
	names := map[string]int{}
	sent, closed := false, false
	for i, raw := range lines {
		ln := i + 1
		fail := func(format string, args ...any) (*trFile, error) {
			return nil, fmt.Errorf("%s:%d: %s", path, ln, fmt.Sprintf(format, args...))
		}
		line := strings.TrimSuffix(raw, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "===") {
			name := strings.TrimSpace(line[3:])
			if name == "" {
				return fail("case without a name")
			}
			if prev, dup := names[name]; dup {
				return fail("case %q already defined at line %d", name, prev)
			}
			names[name] = ln
			cur = &trCase{name: name, line: ln}
			f.cases = append(f.cases, cur)
			sent, closed = false, false
			continue
		}
		if cur == nil {
			return fail("directive before the first \"=== name\" line")
		}
		if closed {
			return fail("nothing may follow !closed in a case")
		}
		st := &trStep{line: ln}
		var err error
		switch {
		case strings.HasPrefix(line, ">> "):
			st.kind, st.src = trSend, line[3:]
			st.data, err = trUnescape(st.src)
		case strings.HasPrefix(line, "> "):
			st.kind, st.src = trSend, line[2:]
			var args [][]byte
			if args, err = trSplitArgs(st.src); err == nil {
				if len(args) == 0 {
					return fail("\"> \" needs at least one argument")
				}
				st.data = trMultibulk(args)
			}
		case strings.HasPrefix(line, "<~ "):
			st.kind, st.src = trReply, line[3:]
			st.segs, err = trPattern(st.src)
		case strings.HasPrefix(line, "< "):
			st.kind, st.src = trReply, line[2:]
			st.data, err = trUnescape(st.src)
		case line == "!closed":
			st.kind = trClosed
			closed = true
		default:
			return fail("unknown directive %q", line)
		}
		if err != nil {
			return fail("%v", err)
		}
		if st.kind == trSend {
			sent = true
		} else if !sent {
			return fail("expectation before anything was sent")
		}
		cur.steps = append(cur.steps, st)
	}
	if len(f.cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	return f, nil
}

// trIsExpectation reports whether a raw file line is one that -update
// rewrites.
func trIsExpectation(raw string) bool {
	line := strings.TrimSuffix(raw, "\r")
	return strings.HasPrefix(line, "< ") || strings.HasPrefix(line, "<~ ") || line == "!closed"
}

// trUnescape decodes the escapes \r \n \t \\ \" \~ and \xHH; any other
// byte stands for itself.
func trUnescape(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		b, n, err := trEscapeAt(s, i)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		i += n - 1
	}
	return out, nil
}

// trEscapeAt decodes the escape starting at s[i] == '\\' and returns the
// byte and the length of the escape.
func trEscapeAt(s string, i int) (byte, int, error) {
	if i+1 >= len(s) {
		return 0, 0, fmt.Errorf("dangling backslash at column %d", i+1)
	}
	switch c := s[i+1]; c {
	case 'r':
		return '\r', 2, nil
	case 'n':
		return '\n', 2, nil
	case 't':
		return '\t', 2, nil
	case '\\', '"', '~':
		return c, 2, nil
	case 'x':
		if i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				return byte(v), 4, nil
			}
		}
		return 0, 0, fmt.Errorf("bad \\x escape at column %d (want two hex digits)", i+1)
	default:
		return 0, 0, fmt.Errorf("unknown escape \\%c at column %d", c, i+1)
	}
}

// trEscape prints bytes in the escaped form trUnescape reads back.
func trEscape(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		switch {
		case c == '\\':
			sb.WriteString(`\\`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\t':
			sb.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f || (c == ' ' && i == len(b)-1):
			fmt.Fprintf(&sb, `\x%02x`, c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// trSplitArgs splits the argument list of a "> " line: words separated by
// spaces or tabs; a word in double quotes may contain spaces and escapes.
func trSplitArgs(s string) ([][]byte, error) {
	var args [][]byte
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return args, nil
		}
		if s[i] != '"' {
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			args = append(args, []byte(s[i:j]))
			i = j
			continue
		}
		var arg []byte
		i++
		for {
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quoted argument")
			}
			if s[i] == '"' {
				i++
				break
			}
			if s[i] == '\\' {
				b, n, err := trEscapeAt(s, i)
				if err != nil {
					return nil, err
				}
				arg = append(arg, b)
				i += n
				continue
			}
			arg = append(arg, s[i])
			i++
		}
		if i < len(s) && s[i] != ' ' && s[i] != '\t' {
			return nil, fmt.Errorf("closing quote must be followed by a space, column %d", i+1)
		}
		if arg == nil {
			arg = []byte{}
		}
		args = append(args, arg)
	}
}

// trMultibulk encodes a command as a RESP array of bulk strings.
func trMultibulk(args [][]byte) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// trPattern splits a "<~" line at its bare ~ wildcards and unescapes the
// literal pieces in between.
func trPattern(s string) ([][]byte, error) {
	segs := [][]byte{{}}
	for i := 0; i < len(s); i++ {
		last := len(segs) - 1
		switch s[i] {
		case '~':
			segs = append(segs, []byte{})
		case '\\':
			b, n, err := trEscapeAt(s, i)
			if err != nil {
				return nil, err
			}
			segs[last] = append(segs[last], b)
			i += n - 1
		default:
			segs[last] = append(segs[last], s[i])
		}
	}
	return segs, nil
}

// trMatch reports whether b matches the pattern pieces: each wildcard
// stands for any run (possibly empty) of bytes other than CR and LF.
func trMatch(segs [][]byte, b []byte) bool {
	if !bytes.HasPrefix(b, segs[0]) {
		return false
	}
	return trMatchRest(segs[1:], b[len(segs[0]):])
}

func trMatchRest(segs [][]byte, b []byte) bool {
	if len(segs) == 0 {
		return len(b) == 0
	}
	limit := bytes.IndexAny(b, "\r\n")
	if limit < 0 {
		limit = len(b)
	}
	for i := 0; i <= limit; i++ {
		if bytes.HasPrefix(b[i:], segs[0]) && trMatchRest(segs[1:], b[i+len(segs[0]):]) {
			return true
		}
	}
	return false
}

// accepts reports whether an observed event satisfies an expectation step.
func (st *trStep) accepts(ev trEvent) bool {
	switch {
	case ev.err != nil:
		return false
	case st.kind == trClosed:
		return ev.closed
	case ev.closed:
		return false
	case st.segs != nil:
		return trMatch(st.segs, ev.reply)
	default:
		return bytes.Equal(st.data, ev.reply)
	}
}

// want describes an expectation step for failure messages.
func (st *trStep) want() string {
	switch {
	case st.kind == trClosed:
		return "connection closed"
	case st.segs != nil:
		return "pattern " + strconv.Quote(st.src) + " (~ = any bytes but CR/LF)"
	default:
		return strconv.Quote(string(st.data))
	}
}

// trEvent is what reading one reply produced: the reply's raw bytes, the
// server closing the connection, or an error (with any partial bytes).
type trEvent struct {
	reply  []byte
	closed bool
	err    error
}

func (ev trEvent) String() string {
	switch {
	case ev.err != nil && len(ev.reply) > 0:
		return fmt.Sprintf("%q then error: %v", ev.reply, ev.err)
	case ev.err != nil:
		return "error: " + ev.err.Error()
	case ev.closed:
		return "connection closed"
	}
	return strconv.Quote(string(ev.reply))
}

// trSame reports whether two events are identical (and error-free).
func trSame(a, b trEvent) bool {
	if a.err != nil || b.err != nil {
		return false
	}
	return a.closed == b.closed && bytes.Equal(a.reply, b.reply)
}

const (
	trMaxBulk  = 64 << 20 // larger bulk replies are treated as malformed
	trMaxElems = 1 << 20
	trMaxDepth = 64
)

// trReadReply appends one complete RESP2 or RESP3 reply, exactly as
// received, to out. An attribute ("|") is returned together with the
// reply it annotates.
func trReadReply(br *bufio.Reader, out []byte, depth int) ([]byte, error) {
	if depth > trMaxDepth {
		return out, fmt.Errorf("reply nested deeper than %d", trMaxDepth)
	}
	line, err := br.ReadSlice('\n')
	out = append(out, line...)
	if err == bufio.ErrBufferFull {
		return out, fmt.Errorf("reply line longer than %d bytes", br.Size())
	}
	if err != nil {
		return out, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return out, fmt.Errorf("malformed reply line %q", line)
	}
	typ, body := line[0], string(line[1:len(line)-2])
	switch typ {
	case '+', '-', ':', '_', ',', '#', '(':
		return out, nil
	case '$', '!', '=':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil || n < -1 || n > trMaxBulk {
			return out, fmt.Errorf("malformed bulk length in %q", line)
		}
		if n == -1 {
			if typ != '$' {
				return out, fmt.Errorf("null length for type %q", typ)
			}
			return out, nil
		}
		start := len(out)
		out = append(out, make([]byte, n+2)...)
		if _, err := io.ReadFull(br, out[start:]); err != nil {
			return out, err
		}
		if out[len(out)-2] != '\r' || out[len(out)-1] != '\n' {
			return out, fmt.Errorf("bulk of %d bytes not followed by CRLF", n)
		}
		return out, nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil || n < -1 || n > trMaxElems {
			return out, fmt.Errorf("malformed aggregate length in %q", line)
		}
		if n == -1 {
			if typ != '*' {
				return out, fmt.Errorf("null length for type %q", typ)
			}
			return out, nil
		}
		if typ == '%' || typ == '|' {
			n *= 2
		}
		for i := int64(0); i < n; i++ {
			if out, err = trReadReply(br, out, depth+1); err != nil {
				return out, err
			}
		}
		if typ == '|' {
			return trReadReply(br, out, depth+1)
		}
		return out, nil
	}
	return out, fmt.Errorf("unknown reply type in %q", line)
}

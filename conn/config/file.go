package config

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// This file reads redis.conf: the file named on the command line, its
// includes, and the directives given as --name value arguments, which are
// appended to the file's text as further lines (as redis-server does, so
// an error in one of them is reported with a line number past the file's).

// RedisVersion is the version named in start-up error messages.
const RedisVersion = "7.0.15"

// LoadError is a fatal configuration error. Its Error text is what
// redis-server prints to stderr before exiting with status 1.
type LoadError struct {
	Line   int    // 1-based line of the offending text; 0 when not about a line
	Text   string // the trimmed line
	Reason string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("\n*** FATAL CONFIG FILE ERROR (Redis " + RedisVersion + ") ***\n")
	if e.Line > 0 {
		b.WriteString("Reading the configuration file, at line " + strconv.Itoa(e.Line) + "\n")
		b.WriteString(">>> '" + e.Text + "'\n")
	}
	b.WriteString(e.Reason + "\n")
	return b.String()
}

// OpenError is a configuration file (or an include) that cannot be read;
// Redis logs "Fatal error, can't open config file '<path>': <reason>".
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string {
	return "Fatal error, can't open config file '" + e.Path + "': " + errnoText(e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// Directive handles a directive that is not a CONFIG parameter (Valkyrie's
// own start-up settings, such as "shards"). It gets the arguments after the
// name and returns "" or the reason to stop start-up.
type Directive func(args []string) string

// FileOptions says what LoadFile reads.
type FileOptions struct {
	// Path is the configuration file; "" means none.
	Path string
	// Options holds further directives, one per line, read after the file
	// (see CommandLine).
	Options string
	// Extra are directives beyond the CONFIG parameters, by lower-case
	// name. CONFIG REWRITE leaves their lines alone.
	Extra map[string]Directive
}

// deprecated lists directives Redis 7.0 still accepts and ignores, with the
// number of words (name included) they may have.
var deprecated = map[string]int{
	"list-max-ziplist-entries": 2,
	"list-max-ziplist-value":   2,
	"lua-replicate-commands":   2,
}

// LoadFile applies a redis.conf file and command-line directives at start-up
// the way redis-server reads them: line by line, "include" read where it
// stands, a repeated parameter overriding the earlier one (but "save" lines
// accumulating). The first bad line stops it with a *LoadError (or an
// *OpenError for a file it cannot read); then nothing has changed. Hooks
// are not run.
func (t *Table) LoadFile(o FileOptions) error {
	var text string
	if o.Path != "" {
		b, err := os.ReadFile(o.Path)
		if err != nil {
			return &OpenError{o.Path, err}
		}
		text = string(b)
	}
	if o.Options != "" {
		text += "\n" + o.Options
	}
	t.setMu.Lock()
	defer t.setMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	l := &loader{c: &ctx{t: t, work: map[int]value{}, loading: true}, extra: o.Extra}
	if err := l.text(text); err != nil {
		return err
	}
	if lf := cstr(l.c.get("logfile").s); lf != "" {
		// Redis checks it can open the log file before going on.
		if !filepath.IsAbs(lf) {
			lf = filepath.Join(l.c.get("dir").s, lf)
		}
		f, err := os.OpenFile(lf, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return &LoadError{Reason: "Can't open the log file: " + errnoText(err)}
		}
		f.Close()
	}
	t.loaded = map[int]bool{}
	for idx, v := range l.c.work {
		t.vals[idx] = v
		t.loaded[idx] = true
	}
	t.extra = map[string]bool{}
	for name := range o.Extra {
		t.extra[name] = true
	}
	return nil
}

// Loaded reports whether the last LoadFile set the parameter (name or
// alias), even to its default.
func (t *Table) Loaded(name string) bool {
	e, ok := lookup(name)
	if !ok {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.loaded[e.idx]
}

type loader struct {
	c     *ctx
	extra map[string]Directive
	depth int
}

// text applies the lines of one file (or of the file plus the options).
func (l *loader) text(s string) error {
	for i, line := range strings.Split(s, "\n") {
		line = strings.Trim(line, " \t\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		args, ok := SplitArgs(line)
		if !ok {
			return &LoadError{i + 1, line, "Unbalanced quotes in configuration line"}
		}
		if len(args) == 0 {
			continue
		}
		if err := l.directive(args); err != nil {
			if le, ok := err.(*LoadError); ok && le.Line == 0 && le.Text == "" {
				le.Line, le.Text = i+1, line
			}
			return err
		}
	}
	return nil
}

// directive applies one line's words. A *LoadError without a line is
// completed by the caller.
func (l *loader) directive(args []string) error {
	name := strings.ToLower(args[0])
	if e, ok := byName[name]; ok {
		p := &defs[e.idx]
		raw, reason := directiveValue(p, args[1:])
		if reason == "" {
			var v value
			if v, reason = parse(p, raw, l.c); reason == "" {
				l.c.work[e.idx] = v
				return nil
			}
		}
		return &LoadError{Reason: reason}
	}
	if n, ok := deprecated[name]; ok && len(args) == n {
		return nil
	}
	if fn, ok := l.extra[name]; ok {
		if reason := fn(args[1:]); reason != "" {
			return &LoadError{Reason: reason}
		}
		return nil
	}
	if name == "include" && len(args) == 2 {
		return l.include(args[1])
	}
	return &LoadError{Reason: "Bad directive or wrong number of arguments"}
}

// directiveValue turns a directive's arguments into the value CONFIG SET
// would take: one argument, or for a multi-argument parameter the words
// joined by spaces (a single non-empty argument is split first, so that
// both `save 900 1` and `save "900 1"` work).
func directiveValue(p *param, args []string) (string, string) {
	if p.flags&fMulti == 0 {
		if len(args) != 1 {
			return "", "wrong number of arguments"
		}
		return args[0], ""
	}
	if len(args) == 1 && args[0] != "" {
		if split, ok := SplitArgs(args[0]); ok {
			args = split
		}
	}
	return strings.Join(args, " "), ""
}

// include reads another file (or every file matching a glob, none being
// fine) where the directive stands. A relative path is taken from "dir" as
// it stands at this point, since Redis changes directory when it reads
// "dir".
func (l *loader) include(path string) error {
	if l.depth >= 32 {
		return &LoadError{Reason: "Too many nested includes"}
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.c.get("dir").s, path)
	}
	files := []string{path}
	if strings.ContainsAny(path, "*?[") {
		files, _ = filepath.Glob(path)
		slices.Sort(files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return &OpenError{f, err}
		}
		l.depth++
		err = l.text(string(b))
		l.depth--
		if err != nil {
			return err
		}
	}
	return nil
}

// CommandLine splits redis-server style arguments: an optional first
// argument not starting with '-' names the configuration file, and each
// "--name" starts a directive whose value is every following word up to the
// next "--" word (a word right after a bare "--name" is always its value,
// even if it starts with "--"). The directives come back as lines for
// FileOptions.Options, each value quoted so that it reads back unchanged.
// A bare "--save" followed by another option or at the end means `save ""`.
func CommandLine(args []string) (path, options string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	var b strings.Builder
	pending := false // the last "--name" still wants a value
	for j, a := range args {
		if !pending && strings.HasPrefix(a, "--") {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(a[2:])
			b.WriteByte(' ')
			words, _ := SplitArgs(a)
			if len(words) != 1 {
				continue // "--port 6380" in one word: name and value
			}
			pending = true
			last := j == len(args)-1
			if strings.EqualFold(a, "--save") && (last || strings.HasPrefix(args[j+1], "--")) {
				b.WriteString(`""`)
				pending = last
			}
			continue
		}
		b.WriteString(Repr(a))
		b.WriteByte(' ')
		pending = false
	}
	return path, b.String()
}

// SplitArgs splits a line into words like Redis's sdssplitargs: words are
// separated by spaces; "double quotes" take \n \r \t \b \a \xHH and \<c>
// escapes, 'single quotes' only \'; a closing quote must end the word.
// ok is false for unbalanced quotes.
func SplitArgs(line string) (args []string, ok bool) {
	args = []string{}
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return args, true
		}
		var cur []byte
		inDouble, inSingle := false, false
		for done := false; !done; {
			switch {
			case inDouble:
				if i >= len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 3
				case c == '\\' && i+1 < len(line):
					i++
					switch e := line[i]; e {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, e)
					}
				case c == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false // the closing quote must end the word
					}
					done = true
				default:
					cur = append(cur, c)
				}
			case inSingle:
				if i >= len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case c == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, c)
				}
			default:
				if i >= len(line) {
					done = true
					continue
				}
				switch c := line[i]; c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					cur = append(cur, c)
				}
			}
			if i < len(line) {
				i++
			}
		}
		args = append(args, string(cur))
	}
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Repr quotes s like Redis's sdscatrepr, so that SplitArgs reads it back.
func Repr(s string) string { return string(wire.AppendRepr(nil, []byte(s))) }

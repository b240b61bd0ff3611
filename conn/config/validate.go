package config

import (
	"strconv"
	"strings"
)

// value is a parameter's canonical text plus its numeric form (number, 0/1
// for booleans, enum value or event flags).
type value struct {
	s string
	n int64
}

// parse validates raw for p and returns the canonical value, or the reason
// Redis gives after "CONFIG SET failed (...) - ".
func parse(p *param, raw string, c *ctx) (value, string) {
	var v value
	var msg string
	switch p.kind {
	case kindBool:
		v, msg = parseBool(raw)
	case kindNum:
		v, msg = parseNum(p, raw, c)
	case kindEnum:
		v, msg = parseEnum(p, raw)
	case kindString:
		v.s = raw
		if p.flags&fBinary == 0 {
			v.s = cstr(raw)
		}
	case kindSpecial:
		return p.set(p, raw, c)
	}
	if msg == "" && p.check != nil {
		msg = p.check(v, c)
	}
	return v, msg
}

func parseBool(raw string) (value, string) {
	switch strings.ToLower(cstr(raw)) {
	case "yes":
		return value{"yes", 1}, ""
	case "no":
		return value{"no", 0}, ""
	}
	return value{}, "argument must be 'yes' or 'no'"
}

func parseNum(p *param, raw string, c *ctx) (value, string) {
	n, msg := parseNumber(p, raw)
	if msg == "" {
		msg = checkBounds(p, n)
	}
	if msg != "" {
		return value{}, msg
	}
	n = adjust(p.name, n, c)
	return value{formatNum(p, n), n}, ""
}

// adjust reproduces the corrections Redis's apply functions make to a value
// after accepting it; CONFIG GET then shows the corrected value.
func adjust(name string, n int64, c *ctx) int64 {
	switch name {
	case "hz":
		return min(max(n, 1), 500)
	case "repl-backlog-size":
		if !c.loading && n < 16*1024 { // only on CONFIG SET
			return 16 * 1024
		}
	case "watchdog-period":
		// At least two timer periods at the current hz.
		if hz := c.get("hz").n; n != 0 && hz > 0 && n < 1000/hz*2 {
			return 1000 / hz * 2
		}
	}
	return n
}

func parseNumber(p *param, raw string) (int64, string) {
	f := p.flags
	if f&fMemory != 0 {
		if u, ok := memToULL(raw); ok {
			return int64(u), ""
		}
	}
	if f&fPercent != 0 && len(raw) > 1 && raw[len(raw)-1] == '%' {
		if n, ok := string2ll(raw[:len(raw)-1]); ok && n >= 0 {
			return -n, "" // percentages are stored negated
		}
	}
	if f&fOctal != 0 {
		if n, rest, over := strtoll(raw, 8); rest == "" && !over {
			return n, ""
		}
	}
	if f&(fMemory|fPercent|fOctal) == 0 {
		if n, ok := string2ll(raw); ok {
			return n, ""
		}
	}
	switch {
	case f&fMemory != 0 && f&fPercent != 0:
		return 0, "argument must be a memory or percent value"
	case f&fMemory != 0:
		return 0, "argument must be a memory value"
	case f&fOctal != 0:
		return 0, "argument couldn't be parsed as an octal number"
	}
	return 0, "argument couldn't be parsed into an integer"
}

func checkBounds(p *param, n int64) string {
	if p.flags&fUnsigned != 0 {
		u, lo, hi := uint64(n), uint64(p.lo), uint64(p.hi)
		if u <= hi && u >= lo {
			return ""
		}
		if p.flags&fOctal != 0 {
			return "argument must be between " + strconv.FormatUint(lo, 8) +
				" and " + strconv.FormatUint(hi, 8) + " inclusive"
		}
		return "argument must be between " + strconv.FormatUint(lo, 10) +
			" and " + strconv.FormatUint(hi, 10) + " inclusive"
	}
	if p.flags&fPercent != 0 && n < 0 {
		if n < p.lo {
			return "percentage argument must be less or equal to " + strconv.FormatInt(-p.lo, 10)
		}
		return ""
	}
	if n > p.hi || n < p.lo {
		return "argument must be between " + strconv.FormatInt(p.lo, 10) +
			" and " + strconv.FormatInt(p.hi, 10) + " inclusive"
	}
	return ""
}

func formatNum(p *param, n int64) string {
	switch {
	case p.flags&fPercent != 0 && n < 0:
		return strconv.FormatInt(-n, 10) + "%"
	case p.flags&fMemory != 0:
		return strconv.FormatUint(uint64(n), 10)
	case p.flags&fOctal != 0:
		return strconv.FormatInt(n, 8)
	}
	return strconv.FormatInt(n, 10)
}

func parseEnum(p *param, raw string) (value, string) {
	args := []string{raw}
	if p.flags&fMulti != 0 {
		args = splitArgs(raw)
	}
	if len(args) == 0 {
		return value{}, enumError(p)
	}
	var n int64
	for _, a := range args {
		a = cstr(a)
		found := false
		for _, o := range p.enum {
			if strings.EqualFold(o.name, a) {
				n |= o.val
				found = true
				break
			}
		}
		if !found {
			return value{}, enumError(p)
		}
	}
	return value{enumName(p, n), n}, ""
}

func enumError(p *param) string {
	var b strings.Builder
	b.WriteString("argument(s) must be one of the following: ")
	for i, o := range p.enum {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.name)
	}
	s := b.String()
	if len(s) > 255 { // Redis formats it into a 256-byte buffer
		s = s[:255]
	}
	return s
}

// enumName renders n: the first option with exactly that value, or for bit
// flag enums the names of the set bits in table order.
func enumName(p *param, n int64) string {
	var names []string
	left := n
	for _, o := range p.enum {
		if o.val == n {
			return o.name
		}
		if p.flags&fMulti != 0 && o.val != 0 && left&o.val == o.val {
			names = append(names, o.name)
			left &^= o.val
		}
	}
	if len(names) == 0 || left != 0 {
		return "unknown"
	}
	return strings.Join(names, " ")
}

// checkActiveDefrag refuses "yes" as Redis does when built without a
// defrag-capable jemalloc (as the reference build here is); Valkyrie has no
// active defragmentation either.
func checkActiveDefrag(v value, _ *ctx) string {
	if v.n != 0 {
		return "Active defragmentation cannot be enabled: it requires a Redis server " +
			"compiled with a modified Jemalloc like the one shipped by default with " +
			"the Redis source distribution"
	}
	return ""
}

func checkShutdownFlags(v value, _ *ctx) string {
	if v.n&1 != 0 && v.n&2 != 0 {
		return "shutdown options SAVE and NOSAVE can't be used simultaneously"
	}
	return ""
}

func checkHostname(v value, _ *ctx) string {
	if len(v.s) >= 256 {
		return "Hostnames must be less than 256 characters"
	}
	for i := 0; i < len(v.s); i++ {
		c := v.s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '.') {
			return "Hostnames may only contain alphanumeric characters, hyphens or dots"
		}
	}
	return ""
}

func isPath(s string) bool { return strings.ContainsAny(s, "/\\") }

func checkDBFilename(v value, _ *ctx) string {
	if isPath(v.s) {
		return "dbfilename can't be a path, just a filename"
	}
	return ""
}

func checkAOFFilename(v value, _ *ctx) string {
	switch {
	case v.s == "":
		return "appendfilename can't be empty"
	case isPath(v.s):
		return "appendfilename can't be a path, just a filename"
	}
	return ""
}

func checkAOFDirname(v value, _ *ctx) string {
	switch {
	case v.s == "":
		return "appenddirname can't be empty"
	case isPath(v.s):
		return "appenddirname can't be a path, just a dirname"
	}
	return ""
}

// checkProcTitle expands the template the way Redis validates it (with an
// empty title); unknown variables, a dangling '{' or an all-blank result are
// invalid.
func checkProcTitle(v value, c *ctx) string {
	const bad = "template format is invalid or contains unknown variables"
	var b strings.Builder
	t := v.s
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			break
		}
		b.WriteString(t[:i])
		t = t[i+1:]
		if t == "" {
			return bad
		}
		if t[0] == '{' {
			b.WriteByte('{')
			t = t[1:]
			continue
		}
		j := strings.IndexByte(t, '}')
		if j < 0 {
			return bad
		}
		switch t[:j] {
		case "title":
		case "listen-addr", "config-file", "port", "tls-port":
			b.WriteByte('x') // never empty
		case "server-mode":
			if c.get("cluster-enabled").n != 0 {
				b.WriteString("[cluster]")
			}
		case "unixsocket":
			b.WriteString(c.get("unixsocket").s)
		default:
			return bad
		}
		t = t[j+1:]
	}
	if strings.Trim(b.String(), " ") == "" {
		return bad
	}
	return ""
}

package conn

import (
	"errors"
	"strings"
)

// docArg is one argument of a command as COMMAND DOCS describes it. The
// tree is built from a Spec.Syntax string by parseSyntax.
type docArg struct {
	Name  string
	Type  string // key, string, integer, double, pattern, unix-time, pure-token, oneof, block
	Token string // the keyword that introduces the argument, upper case

	// Key is the position of a key argument among the command's key
	// arguments (0, 1, ...), or -1 for other arguments. COMMAND DOCS turns
	// it into key_spec_index.
	Key int

	Optional      bool
	Multiple      bool
	MultipleToken bool // the token is repeated with every value

	Args []*docArg // for oneof and block
}

// flagNames returns the COMMAND DOCS flags of a.
func (a *docArg) flagNames() []string {
	var f []string
	if a.Optional {
		f = append(f, "optional")
	}
	if a.Multiple {
		f = append(f, "multiple")
	}
	if a.MultipleToken {
		f = append(f, "multiple_token")
	}
	return f
}

// synNode is a node of a parsed syntax string: a word, or a bracketed
// group of alternatives ([...] is optional, <...> required).
type synNode struct {
	word     string
	alts     [][]*synNode
	optional bool
	tight    bool // a oneof written "a|b" between single items
}

func (n *synNode) isWord() bool { return n.alts == nil }

// isToken reports whether n is a keyword: a word with upper-case letters
// and no lower-case ones (NX, AUTH2), or punctuation such as "*" or "~".
func (n *synNode) isToken() bool {
	if !n.isWord() || n.word == "..." {
		return false
	}
	upper, lower, alnum := false, false, false
	for i := 0; i < len(n.word); i++ {
		switch c := n.word[i]; {
		case 'A' <= c && c <= 'Z':
			upper, alnum = true, true
		case 'a' <= c && c <= 'z':
			lower, alnum = true, true
		case '0' <= c && c <= '9':
			alnum = true
		}
	}
	return upper && !lower || !alnum
}

// text renders n back to syntax, for comparing repeated parts.
func (n *synNode) text() string {
	if n.isWord() {
		return n.word
	}
	var b strings.Builder
	if n.optional {
		b.WriteByte('[')
	} else {
		b.WriteByte('<')
	}
	for i, alt := range n.alts {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(synSeqText(alt))
	}
	if n.optional {
		b.WriteByte(']')
	} else {
		b.WriteByte('>')
	}
	return b.String()
}

func synSeqText(seq []*synNode) string {
	parts := make([]string, len(seq))
	for i, n := range seq {
		parts[i] = n.text()
	}
	return strings.Join(parts, " ")
}

var errBadSyntax = errors.New("conn: malformed command syntax")

// parseSyntax turns a syntax string such as
//
//	key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]
//
// into COMMAND DOCS arguments. Upper-case words are keywords; a keyword
// followed by one value becomes that value's token, and one followed by
// several becomes a block's token. "x [x ...]" marks x as multiple.
// Types come from the names (see synArgType); oneof and block names follow
// Redis's habits where they can be guessed.
func parseSyntax(s string) ([]*docArg, error) {
	p := &synParser{toks: synTokenize(s)}
	if len(p.toks) == 0 {
		return nil, nil
	}
	alts, err := p.level()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, errBadSyntax
	}
	var args []*docArg
	if len(alts) == 1 {
		args = synSeq(alts[0])
	} else {
		args = []*docArg{synGroup(&synNode{alts: alts})}
	}
	key := 0
	synNumberKeys(args, &key)
	return args, nil
}

// synNumberKeys gives key arguments their position among the keys.
func synNumberKeys(args []*docArg, next *int) {
	for _, a := range args {
		a.Key = -1
		if a.Type == "key" {
			a.Key = *next
			*next++
		}
		synNumberKeys(a.Args, next)
	}
}

// synTokenize splits s into words and the punctuation [ ] < > |.
func synTokenize(s string) []string {
	var toks []string
	start := -1
	flush := func(i int) {
		if start >= 0 {
			toks = append(toks, s[start:i])
			start = -1
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n':
			flush(i)
		case '[', ']', '<', '>', '|':
			flush(i)
			toks = append(toks, string(c))
		default:
			if start < 0 {
				start = i
			}
		}
	}
	flush(len(s))
	return toks
}

type synParser struct {
	toks []string
	i    int
}

// level parses the inside of a bracket, or the whole string, up to the
// closing bracket.
func (p *synParser) level() ([][]*synNode, error) {
	tight := p.tight()
	var out [][]*synNode
	for {
		seq, err := p.seq(tight)
		if err != nil {
			return nil, err
		}
		if len(seq) == 0 {
			return nil, errBadSyntax
		}
		out = append(out, seq)
		if p.i < len(p.toks) && p.toks[p.i] == "|" {
			p.i++
			continue
		}
		return out, nil
	}
}

// tight reports whether the '|'s of the level starting at p.i join single
// items ("key BEFORE|AFTER pivot", "[MAXLEN|MINID [=|~] threshold]"). They
// separate whole sequences instead when one of them reads "value|KEYWORD
// value" ("[EX seconds|PX milliseconds]"). "<a b|c d>" groups explicitly.
func (p *synParser) tight() bool {
	depth, seen := 0, false
	for j := p.i; j < len(p.toks); j++ {
		switch p.toks[j] {
		case "[", "<":
			depth++
		case "]", ">":
			if depth == 0 {
				return seen
			}
			depth--
		case "|":
			if depth > 0 {
				continue
			}
			seen = true
			if j == p.i || j+2 >= len(p.toks) {
				continue
			}
			// "value|KEYWORD value": the choices are sequences.
			if synIsValue(p.toks[j-1]) && synIsKeyword(p.toks[j+1]) && synIsValue(p.toks[j+2]) {
				return false
			}
		}
	}
	return seen
}

// synIsKeyword and synIsValue classify a syntax token.
func synIsKeyword(t string) bool { return (&synNode{word: t}).isToken() && !synIsPunct(t) }
func synIsValue(t string) bool   { return !synIsPunct(t) && t != "..." && !synIsKeyword(t) }
func synIsPunct(t string) bool   { return len(t) == 1 && strings.ContainsAny(t, "[]<>|") }

// seq parses items up to a closing bracket, a separating '|' or the end.
// When tight, "a|b|c" is read as one item, a oneof of single items.
func (p *synParser) seq(tight bool) ([]*synNode, error) {
	var seq []*synNode
	for p.i < len(p.toks) {
		switch p.toks[p.i] {
		case "]", ">":
			return seq, nil
		case "|":
			if !tight || len(seq) == 0 {
				return seq, nil
			}
			p.i++
			n, err := p.item()
			if err != nil {
				return nil, err
			}
			last := seq[len(seq)-1]
			if !last.tight {
				last = &synNode{alts: [][]*synNode{{last}}, tight: true}
				seq[len(seq)-1] = last
			}
			last.alts = append(last.alts, []*synNode{n})
			continue
		}
		n, err := p.item()
		if err != nil {
			return nil, err
		}
		seq = append(seq, n)
	}
	return seq, nil
}

// item parses a word or a bracketed group.
func (p *synParser) item() (*synNode, error) {
	if p.i >= len(p.toks) {
		return nil, errBadSyntax
	}
	t := p.toks[p.i]
	p.i++
	switch t {
	case "]", ">", "|":
		return nil, errBadSyntax
	case "[", "<":
		alts, err := p.level()
		if err != nil {
			return nil, err
		}
		want := "]"
		if t == "<" {
			want = ">"
		}
		if p.i >= len(p.toks) || p.toks[p.i] != want {
			return nil, errBadSyntax
		}
		p.i++
		return &synNode{alts: alts, optional: t == "["}, nil
	}
	return &synNode{word: t}, nil
}

// synUnit is a run of nodes that makes one argument: a single node, or a
// repeated part ("key value [key value ...]").
type synUnit struct {
	nodes    []*synNode
	multiple bool
	optional bool // a bare "[x ...]" with nothing before it
}

// isOptional reports whether u may be left out.
func (u synUnit) isOptional() bool {
	return u.optional || !u.multiple && len(u.nodes) == 1 && !u.nodes[0].isWord() && u.nodes[0].optional
}

// synFold finds "x [x ...]" in seq and merges it into one multiple unit.
func synFold(seq []*synNode) []synUnit {
	var units []synUnit
	for _, n := range seq {
		if !n.isWord() && n.optional && len(n.alts) == 1 {
			alt := n.alts[0]
			if last := alt[len(alt)-1]; last.isWord() && last.word == "..." {
				rep := alt[:len(alt)-1]
				if k := len(rep); k > 0 && k <= len(units) && synPlainTail(units[len(units)-k:], rep) {
					units = append(units[:len(units)-k], synUnit{nodes: rep, multiple: true})
				} else {
					units = append(units, synUnit{nodes: rep, multiple: true, optional: true})
				}
				continue
			}
		}
		units = append(units, synUnit{nodes: []*synNode{n}})
	}
	return units
}

// synPlainTail reports whether units are single nodes spelling rep.
func synPlainTail(units []synUnit, rep []*synNode) bool {
	for i, u := range units {
		if u.multiple || len(u.nodes) != 1 || u.nodes[0].text() != rep[i].text() {
			return false
		}
	}
	return true
}

// synSeq converts a sequence into arguments.
func synSeq(seq []*synNode) []*docArg {
	return synUnits(synFold(seq))
}

// synUnits converts units, letting a keyword take the value after it as
// its token ("EX seconds", "COUNT count", "TYPE NORMAL|MASTER").
func synUnits(units []synUnit) []*docArg {
	var out []*docArg
	for i := 0; i < len(units); i++ {
		u := units[i]
		if !u.multiple && u.nodes[0].isToken() {
			tok := u.nodes[0].word
			if i+1 < len(units) && synTakesToken(units[i+1]) {
				if a := synConvUnit(units[i+1]); a.Token == "" {
					a.Token = tok
					if a.Type == "oneof" { // [AGGREGATE SUM|MIN|MAX]
						a.Name = strings.ToLower(tok)
					}
					out = append(out, a)
					i++
					continue
				}
			}
			out = append(out, synPureToken(tok))
			continue
		}
		out = append(out, synConvUnit(u))
	}
	return out
}

// synTakesToken reports whether u is a value that a keyword before it can
// introduce: a word, a repeated word, or a required group.
func synTakesToken(u synUnit) bool {
	if len(u.nodes) != 1 || u.optional {
		return false
	}
	n := u.nodes[0]
	if n.isWord() {
		return !n.isToken()
	}
	return !n.optional && !u.multiple
}

// synTokenNames are the names Redis gives some keywords.
var synTokenNames = map[string]string{
	"CH": "change", "INCR": "increment", "ALPHA": "sorting",
	"=": "equal", "~": "approximately", "*": "auto_id", "$": "new_id",
}

func synPureToken(tok string) *docArg {
	name, ok := synTokenNames[tok]
	if !ok {
		name = strings.ToLower(tok)
	}
	return &docArg{Name: name, Type: "pure-token", Token: tok}
}

// synConvUnit converts one unit into one argument.
func synConvUnit(u synUnit) *docArg {
	var a *docArg
	switch {
	case u.multiple:
		a = synAlt(u.nodes)
		a.Multiple = true
		// "GET pattern [GET pattern ...]": the keyword comes with each value.
		if len(u.nodes) > 1 && u.nodes[0].isToken() && a.Token == u.nodes[0].word {
			a.MultipleToken = true
		}
		a.Optional = a.Optional || u.optional
	case u.nodes[0].isWord():
		n := u.nodes[0]
		a = &docArg{Name: n.word, Type: synArgType(n.word)}
		if n.isToken() {
			a = synPureToken(n.word)
		}
	default:
		a = synGroup(u.nodes[0])
	}
	return a
}

// synGroup converts a bracketed group.
func synGroup(g *synNode) *docArg {
	var a *docArg
	alts := g.alts
	if len(alts) == 1 {
		a = synAlt(alts[0])
	} else {
		// "FILTERBY MODULE name|ACLCAT cat|PATTERN pattern": a keyword
		// before a keyword in the first choice, and every other choice
		// starting with a keyword, is the token of the whole oneof.
		tok := ""
		if len(alts[0]) >= 2 && alts[0][0].isToken() && alts[0][1].isToken() {
			tok = alts[0][0].word
			for _, alt := range alts[1:] {
				if !alt[0].isToken() || alt[0].word == tok {
					tok = ""
					break
				}
			}
		}
		if tok != "" {
			alts = append([][]*synNode{alts[0][1:]}, alts[1:]...)
		}
		a = &docArg{Type: "oneof", Token: tok}
		for _, alt := range alts {
			a.Args = append(a.Args, synAlt(alt))
		}
		a.Name = synOneofName(a)
	}
	if g.optional {
		a.Optional = true
	}
	return a
}

// synAlt converts a sequence that makes one argument: a single argument,
// or a block of several. A leading keyword is the block's token unless it
// introduces just the first value ("COUNT count [ANY]").
func synAlt(seq []*synNode) *docArg {
	units := synFold(seq)
	if len(units) == 1 {
		return synConvUnit(units[0])
	}
	tok := ""
	if u := units[0]; !u.multiple && u.nodes[0].isToken() {
		rest := units[1:]
		absorbed := synTakesToken(rest[0])
		for _, r := range rest[1:] {
			absorbed = absorbed && r.isOptional()
		}
		if !absorbed {
			tok = u.nodes[0].word
			units = rest
		}
	}
	args := synUnits(units)
	switch {
	case len(args) == 1 && tok == "":
		return args[0]
	case len(args) == 1 && args[0].Token == "":
		args[0].Token = tok
		return args[0]
	}
	name := synBlockName(args)
	if n, ok := synBlockNames[tok+" "+synArgNames(args)]; ok {
		name = n
	}
	return &docArg{Name: name, Type: "block", Token: tok, Args: args}
}

// synBlockNames are the names Redis gives to some blocks, by their token
// and their parts' names.
var synBlockNames = map[string]string{
	" strategy operator threshold count": "trim",
	"FULL count":                         "full",
	"STREAMS key id":                     "streams",
}

func synArgNames(args []*docArg) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Name)
	}
	return b.String()
}

// synBlockName names a block after its parts ("username_password"). One
// with compound parts is "arguments", one with optional parts "options".
func synBlockName(args []*docArg) string {
	names := make([]string, len(args))
	name := ""
	for i, a := range args {
		switch {
		case a.Type == "block" || a.Type == "oneof":
			return "arguments"
		case a.Optional:
			name = "options"
		}
		names[i] = a.Name
	}
	if name != "" {
		return name
	}
	return strings.Join(names, "_")
}

// synOneofNames are the names Redis gives to common sets of choices.
var synOneofNames = map[string]string{
	"nx|xx":                "condition",
	"nx|xx|gt|lt":          "condition",
	"gt|lt":                "comparison",
	"async|sync":           "async",
	"flush|append|replace": "policy",
	"asc|desc":             "order",
	"left|right":           "where",
	"before|after":         "where",
	"min|max":              "where",
	"m|km|ft|mi":           "unit",
	"byscore|bylex":        "sortby",
	"byte|bit":             "index_unit",
	"force|takeover":       "options",
	"maxlen|minid":         "strategy",
	"equal|approximately":  "operator",
	"auto_id|id":           "id_or_auto",

	"node-id|node-id|node-id|stable": "subcommand",
}

// synOneofName names a oneof: after its token, a known set of choices, an
// expiration, or else its choices joined by '_'.
func synOneofName(a *docArg) string {
	if a.Token != "" {
		return strings.ToLower(a.Token)
	}
	names := make([]string, len(a.Args))
	for i, c := range a.Args {
		names[i] = c.Name
		if c.Token == "EX" || c.Token == "PX" {
			return "expiration"
		}
	}
	if n, ok := synOneofNames[strings.Join(names, "|")]; ok {
		return n
	}
	return strings.Join(names, "_")
}

// synArgType guesses an argument's type from its name.
func synArgType(name string) string {
	switch {
	case name == "key" || strings.HasSuffix(name, "key") || synKeyNames[name]:
		return "key"
	case strings.HasPrefix(name, "unix-time"):
		return "unix-time"
	case name == "pattern":
		return "pattern"
	case synIntegerNames[name]:
		return "integer"
	case synDoubleNames[name]:
		return "double"
	}
	return "string"
}

var synKeyNames = map[string]bool{
	"destination": true, "source": true, "src": true, "dst": true,
	"key1": true, "key2": true,
}

var synIntegerNames = synWords(
	"count", "cursor", "db", "offset", "numkeys", "numreplicas", "numparams",
	"seconds", "milliseconds", "ms", "port", "protover", "index", "index1",
	"index2", "slot", "ttl", "limit", "rank", "weight", "version", "bits",
	"bit", "len", "length", "client-id", "destination-db", "start", "end",
	"stop", "start-slot", "end-slot", "decrement", "increment", "frequency",
	"num-matches", "maxlen", "database", "entries_added", "entries_read",
	"config-epoch", "cluster_bus_port",
)

var synDoubleNames = synWords(
	"score", "latitude", "longitude", "radius", "height", "width", "timeout",
)

func synWords(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

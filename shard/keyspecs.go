package shard

import (
	"strconv"
	"strings"
	"sync"
)

// Key specifications: where a command's keys are and what it does to each,
// as Redis 7.0 declares them (COMMAND INFO's key_specs, COMMAND
// GETKEYSANDFLAGS). They are read by COMMAND and by WrittenKeys; the
// router keeps using Spec.FirstKey..LastKey and Command.Keys.

// KeyFlag is what a command does to the keys of one key specification.
type KeyFlag uint16

const (
	KeyRO            KeyFlag = 1 << iota // reads the value
	KeyRW                                // reads and changes the value
	KeyOW                                // overwrites the value without reading it
	KeyRM                                // removes the key
	KeyAccess                            // returns, copies or uses the user data
	KeyUpdate                            // updates data in place
	KeyInsert                            // only adds data
	KeyDelete                            // only removes data
	KeyNotKey                            // a name that is not a key (SPUBLISH's shard channel)
	KeyIncomplete                        // the spec may not find every key
	KeyVariableFlags                     // the flags depend on the arguments
)

// keyFlagNames are the COMMAND INFO names, by bit, in Redis's order.
var keyFlagNames = []string{"RO", "RW", "OW", "RM", "access", "update", "insert",
	"delete", "not_key", "incomplete", "variable_flags"}

// keyWriteFlags are the flags of a key the command may change.
const keyWriteFlags = KeyRW | KeyOW | KeyRM | KeyUpdate | KeyInsert | KeyDelete

// Names returns the COMMAND INFO names of the flags in f.
func (f KeyFlag) Names() []string {
	var out []string
	for i, n := range keyFlagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Writes reports whether a key with these flags may be changed.
func (f KeyFlag) Writes() bool { return f&keyWriteFlags != 0 }

// KeySpec is one key specification. The search begins at Index, or after
// Keyword looked for from StartFrom (negative: from the end, backwards),
// or somewhere unknown when neither is set. The keys are then a range
// (LastKey relative to the first key, negative from the end; every Step;
// Limit > 0 keeps 1/Limit of what follows), or, for KeyNum, a count at
// KeyNumIdx followed by that many keys from FirstKey, or unknown.
type KeySpec struct {
	Flags KeyFlag
	Notes string

	Index     int
	Keyword   string
	StartFrom int
	keyword   string // Keyword in lower case, for equalFold

	Find      FindKind
	LastKey   int
	Step      int
	Limit     int
	KeyNumIdx int
	FirstKey  int
}

// FindKind says how a KeySpec finds its keys once the search has begun.
type FindKind uint8

const (
	FindRange FindKind = iota
	FindKeyNum
	FindUnknown
)

// KnownBegin reports whether the spec says where its search begins.
func (k *KeySpec) KnownBegin() bool { return k.Index > 0 || k.Keyword != "" }

// KeyRef is a key's position in a command line and the flags of the spec
// that found it.
type KeyRef struct {
	Pos   int
	Flags KeyFlag
}

// KeySpecs are the key specifications of one command or subcommand.
type KeySpecs struct {
	Specs []KeySpec
	// flagsOf, for the commands whose keys Redis finds by code because
	// their specs are incomplete or their flags variable (SET, BITFIELD,
	// SORT, SORT_RO, MIGRATE), gives the flags of the key at pos.
	flagsOf func(args [][]byte, pos int) KeyFlag

	hasKeys  bool // some spec names real keys (not not_key)
	varFlags bool // some spec has variable_flags
	write    keyWrite
}

// keyWrite sums up whether a command's keys are written.
type keyWrite uint8

const (
	writeNone keyWrite = iota
	writeAll
	writeSome // depends on the key or on the arguments
)

// KeysByCode reports whether Redis finds this command's keys by code
// when its specs cannot be followed (or always, for variable flags).
func (ks *KeySpecs) KeysByCode() bool { return ks.flagsOf != nil }

// HasKeys reports whether the command names keys at all: Redis answers
// COMMAND GETKEYS with "The command has no key arguments" otherwise.
func (ks *KeySpecs) HasKeys() bool { return ks.hasKeys || ks.flagsOf != nil }

// Find returns the keys of args with their flags, as Redis's COMMAND
// GETKEYSANDFLAGS finds them: by the specs when they are complete and
// their flags fixed, else by code. fallback gives the key positions for
// the latter (Valkyrie's Keys function); without it no keys are found
// then. arity is the command's.
func (ks *KeySpecs) Find(args [][]byte, arity int, fallback func() []int, dst []KeyRef) []KeyRef {
	if ks.hasKeys && !ks.varFlags {
		if out, ok := ks.search(args, arity, dst); ok {
			return out
		}
	}
	if fallback == nil {
		return dst
	}
	for _, p := range fallback() {
		var f KeyFlag
		if ks.flagsOf != nil {
			f = ks.flagsOf(args, p)
		}
		dst = append(dst, KeyRef{Pos: p, Flags: f})
	}
	return dst
}

// search runs the key specs over args. It fails (false) on a spec that
// cannot be followed (unknown, a bad key count, out of range) or that is
// incomplete.
func (ks *KeySpecs) search(args [][]byte, arity int, dst []KeyRef) ([]KeyRef, bool) {
	argc := len(args)
	base := len(dst)
	for i := range ks.Specs {
		s := &ks.Specs[i]
		if s.Flags&KeyNotKey != 0 {
			continue
		}
		first := 0
		switch {
		case s.Index > 0:
			first = s.Index
		case s.Keyword != "":
			first = keywordAfter(args, s.keyword, s.StartFrom)
			if first == 0 {
				continue // no such keyword: no keys from this spec
			}
		default:
			return dst[:base], false
		}
		var last, step int
		switch s.Find {
		case FindRange:
			step = s.Step
			switch {
			case s.LastKey >= 0:
				last = first + s.LastKey
			case s.Limit == 0:
				last = argc + s.LastKey
			default:
				last = first + (argc-first)/s.Limit + s.LastKey
			}
		case FindKeyNum:
			step = s.Step
			at := first + s.KeyNumIdx
			if at >= argc {
				return dst[:base], false
			}
			n, err := strconv.ParseInt(string(args[at]), 10, 64)
			if err != nil || n < 0 || n > int64(argc) {
				return dst[:base], false
			}
			first += s.FirstKey
			last = first + int(n) - 1
		default:
			return dst[:base], false
		}
		if last >= argc || last < first || first >= argc {
			return dst[:base], false
		}
		for p := first; p <= last; p += max(step, 1) {
			if p >= argc && arity >= 0 {
				break
			}
			dst = append(dst, KeyRef{Pos: p, Flags: s.Flags})
		}
		if s.Flags&KeyIncomplete != 0 {
			return dst[:base], false
		}
	}
	return dst, true
}

// keywordAfter returns the position after the first keyword (in lower
// case) found from startFrom (counting from the end when negative, then backwards), or 0.
func keywordAfter(args [][]byte, keyword string, startFrom int) int {
	argc := len(args)
	if startFrom > 0 {
		for i := startFrom; i < argc-1; i++ {
			if equalFold(args[i], keyword) {
				return i + 1
			}
		}
		return 0
	}
	for i := argc + startFrom; i > 0; i-- {
		if i < argc && equalFold(args[i], keyword) {
			return i + 1
		}
	}
	return 0
}

// KeySpecsFor returns the key specifications of the command or subcommand
// with the given full lower-case name ("get", "xgroup|create"), or nil.
func KeySpecsFor(name string) *KeySpecs {
	keySpecsOnce.Do(parseKeySpecs)
	return keySpecsByName[name]
}

// WrittenKeys appends to dst those of the key positions of args (as
// KeyIndexes finds them) that the command may change: keys whose spec has
// one of RW, OW, RM, insert, update or delete. A command without key specs
// is taken to write all its keys when it is a write command.
func (c *Command) WrittenKeys(args [][]byte, dst []int) []int {
	ks := c.keySpecsOf(args)
	if ks == nil {
		if c.writes(args) {
			return c.KeyIndexes(args, dst)
		}
		return dst
	}
	switch ks.write {
	case writeNone:
		return dst
	case writeAll:
		return c.KeyIndexes(args, dst)
	}
	base := len(dst)
	dst = c.KeyIndexes(args, dst)
	pos := dst[base:]
	var buf [16]KeyRef
	refs := ks.Find(args, c.Arity, func() []int { return pos }, buf[:0])
	out := dst[:base] // filtered in place
	for _, p := range pos {
		w, found := false, false
		for _, r := range refs {
			if r.Pos == p {
				found = true
				w = w || r.Flags.Writes()
			}
		}
		if w || !found { // a key the specs do not place may be written
			out = append(out, p)
		}
	}
	return out
}

// keySpecsOf returns the specs that apply to args: the command's, or for
// a container (XGROUP) its subcommand's.
func (c *Command) keySpecsOf(args [][]byte) *KeySpecs {
	keySpecsOnce.Do(parseKeySpecs)
	if len(c.Subcommands) == 0 {
		return keySpecsBySpec[&c.Spec]
	}
	if len(args) < 2 {
		return nil
	}
	for _, s := range c.Subcommands {
		if i := len(c.Name) + 1; len(s.Name) > i && equalFold(args[1], s.Name[i:]) {
			return keySpecsBySpec[s]
		}
	}
	return nil
}

var (
	keySpecsOnce   sync.Once
	keySpecsByName map[string]*KeySpecs
	keySpecsBySpec map[*Spec]*KeySpecs // data commands and their subcommands
)

// parseKeySpecs builds the specs from keySpecTable. A malformed entry is
// a programming error and panics (TestKeySpecTable parses them all).
func parseKeySpecs() {
	keySpecsByName = make(map[string]*KeySpecs, len(keySpecTable))
	for name, text := range keySpecTable {
		ks := &KeySpecs{flagsOf: keyFlagsByCode[name]}
		for i, part := range strings.Split(text, "|") {
			s, err := parseKeySpec(part)
			if err != nil {
				panic("shard: key spec of " + name + ": " + err.Error())
			}
			s.Notes = keySpecNotes[name+"/"+strconv.Itoa(i)]
			ks.Specs = append(ks.Specs, s)
		}
		ks.summarize()
		keySpecsByName[name] = ks
	}
	keySpecsBySpec = make(map[*Spec]*KeySpecs)
	for name, c := range table {
		if ks := keySpecsByName[name]; ks != nil {
			keySpecsBySpec[&c.Spec] = ks
		}
		for _, s := range c.Subcommands {
			sub := strings.ToLower(s.Name)
			if !strings.Contains(sub, "|") {
				sub = name + "|" + sub
			}
			if ks := keySpecsByName[sub]; ks != nil {
				keySpecsBySpec[s] = ks
			}
		}
	}
}

func (ks *KeySpecs) summarize() {
	someW, someR := false, false
	for _, s := range ks.Specs {
		if s.Flags&KeyNotKey == 0 {
			ks.hasKeys = true
		}
		if s.Flags&KeyVariableFlags != 0 {
			ks.varFlags = true
		}
		if s.Flags.Writes() {
			someW = true
		} else {
			someR = true
		}
	}
	switch {
	case ks.varFlags || (someW && someR):
		ks.write = writeSome
	case someW:
		ks.write = writeAll
	}
}

// parseKeySpec reads one spec of keySpecTable: flag names, then where the
// search begins ("@2" an index, "STREAMS@1" a keyword and where to look
// from, "@?" unknown), then optionally how keys are found ("=L,S,N" a
// range of lastkey, step and limit; "#I,F,S" a key count at I, keys from
// F every S; "=?" unknown). Without it the spec is one key: "=0,1,0".
func parseKeySpec(text string) (KeySpec, error) {
	s := KeySpec{Step: 1}
	begun := false
	for _, w := range strings.Fields(text) {
		switch at := strings.IndexByte(w, '@'); {
		case at >= 0:
			if w[at+1:] != "?" {
				n, err := strconv.Atoi(w[at+1:])
				if err != nil {
					return s, err
				}
				if at == 0 {
					s.Index = n
				} else {
					s.Keyword, s.StartFrom = w[:at], n
					s.keyword = strings.ToLower(s.Keyword)
				}
			}
			begun = true
		case w == "=?":
			s.Find = FindUnknown
			s.Step = 0
		case w[0] == '=' || w[0] == '#':
			var n [3]int
			parts := strings.Split(w[1:], ",")
			if len(parts) != 3 {
				return s, strconv.ErrSyntax
			}
			for i, p := range parts {
				v, err := strconv.Atoi(p)
				if err != nil {
					return s, err
				}
				n[i] = v
			}
			if w[0] == '=' {
				s.LastKey, s.Step, s.Limit = n[0], n[1], n[2]
			} else {
				s.Find, s.KeyNumIdx, s.FirstKey, s.Step = FindKeyNum, n[0], n[1], n[2]
			}
		default:
			if begun {
				return s, strconv.ErrSyntax
			}
			f := keyFlagByName(w)
			if f == 0 {
				return s, strconv.ErrSyntax
			}
			s.Flags |= f
		}
	}
	if !begun {
		return s, strconv.ErrSyntax
	}
	return s, nil
}

func keyFlagByName(name string) KeyFlag {
	for i, n := range keyFlagNames {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

package conn

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Access control, as Redis 7.0's ACL.
//
// A user's permissions (aclUserState) never change once published: ACL
// SETUSER builds a new state from a copy and swaps the user's atomic
// pointer, so a connection checks a command without a lock. Each
// connection keeps its user (client.user) and whether it authenticated;
// a connection on a user that may run everything (aclUserState.free),
// the default one out of the box, pays one pointer load and a flag test.

// aclCategories are Redis's ACL categories, in its order; a command's
// categories are a bit mask over this list.
var aclCategories = cmdACLOrder

func aclCategoryBit(name string) uint64 {
	for i, c := range aclCategories {
		if strings.EqualFold(c, name) {
			return 1 << i
		}
	}
	return 0
}

// aclCmd is a command or subcommand as the ACL sees it.
type aclCmd struct {
	id     int
	name   string // full name: "config|get"
	cats   uint64
	noAuth bool
	parent *aclCmd
	subs   []*aclCmd
}

var aclCmds struct {
	once   sync.Once
	top    []*aclCmd
	bySpec map[*shard.Spec]*aclCmd
	byName map[string]*aclCmd
	n      int // ids in use; bit n stands for commands added in the future
}

func aclTable() {
	aclCmds.once.Do(func() {
		aclCmds.bySpec = map[*shard.Spec]*aclCmd{}
		aclCmds.byName = map[string]*aclCmd{}
		top, _ := cmdCommandMetas()
		var add func(m *cmdMeta, parent *aclCmd) *aclCmd
		add = func(m *cmdMeta, parent *aclCmd) *aclCmd {
			a := &aclCmd{id: aclCmds.n, name: m.name, parent: parent, noAuth: m.spec.Flags&shard.NoAuth != 0}
			aclCmds.n++
			for _, c := range m.acl {
				a.cats |= aclCategoryBit(c[1:])
			}
			aclCmds.bySpec[m.spec] = a
			aclCmds.byName[a.name] = a
			for _, s := range m.subs {
				a.subs = append(a.subs, add(s, a))
			}
			return a
		}
		for _, m := range top {
			aclCmds.top = append(aclCmds.top, add(m, nil))
		}
	})
}

// aclLookup finds a command by its ACL name ("get", "config|get").
func aclLookup(name string) *aclCmd {
	aclTable()
	return aclCmds.byName[strings.ToLower(name)]
}

// Key pattern permissions.
const (
	aclRead  = 1
	aclWrite = 2
	aclRW    = aclRead | aclWrite
)

type aclKeyPattern struct {
	flags   uint8
	pattern string
}

func (p aclKeyPattern) String() string {
	switch p.flags {
	case aclRead:
		return "%R~" + p.pattern
	case aclWrite:
		return "%W~" + p.pattern
	}
	return "~" + p.pattern
}

// aclSelector is one set of permissions: the root one of a user, or one of
// its selectors. A command is allowed if any of the user's selectors allows
// it.
type aclSelector struct {
	root      bool
	allCmds   bool // allcommands: no command check at all
	allKeys   bool
	allChans  bool
	bits      []uint64         // allowed command ids, and the future bit
	firstArgs map[int][]string // +cmd|arg of a command without subcommands
	keys      []aclKeyPattern  // without allKeys
	chans     []string         // without allChans
}

func newSelector(root, allChans bool) *aclSelector {
	aclTable()
	return &aclSelector{root: root, allChans: allChans, bits: make([]uint64, aclCmds.n/64+1)}
}

func (s *aclSelector) copy() *aclSelector {
	d := *s
	d.bits = append([]uint64(nil), s.bits...)
	d.keys = append([]aclKeyPattern(nil), s.keys...)
	d.chans = append([]string(nil), s.chans...)
	if s.firstArgs != nil {
		d.firstArgs = make(map[int][]string, len(s.firstArgs))
		for k, v := range s.firstArgs {
			d.firstArgs[k] = append([]string(nil), v...)
		}
	}
	return &d
}

func (s *aclSelector) bit(id int) bool { return s.bits[id/64]&(1<<(id%64)) != 0 }

func (s *aclSelector) setBit(id int, on bool) {
	if on {
		s.bits[id/64] |= 1 << (id % 64)
	} else {
		s.bits[id/64] &^= 1 << (id % 64)
		s.allCmds = false
	}
}

// setCmd allows or denies a command with its subcommands.
func (s *aclSelector) setCmd(c *aclCmd, on bool) {
	s.setBit(c.id, on)
	delete(s.firstArgs, c.id)
	for _, sub := range c.subs {
		s.setBit(sub.id, on)
	}
}

func (s *aclSelector) setCategory(cmds []*aclCmd, cat uint64, on bool) {
	for _, c := range cmds {
		if c.cats&cat != 0 {
			s.setCmd(c, on)
		}
		if len(c.subs) > 0 {
			s.setCategory(c.subs, cat, on)
		}
	}
}

func (s *aclSelector) setAll(on bool) {
	for i := range s.bits {
		if on {
			s.bits[i] = ^uint64(0)
		} else {
			s.bits[i] = 0
		}
	}
	s.allCmds = on
	s.firstArgs = nil
}

func (s *aclSelector) future() bool { return s.bit(aclCmds.n) }

// aclErr* say why SETUSER refused a rule (Redis's errno values).
const (
	aclErrSyntax   = "Syntax error"
	aclErrUnknown  = "Unknown command or category name in ACL"
	aclErrKeysAll  = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	aclErrChansAll = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	aclErrNoPass   = "The password you are trying to remove from the user does not exist"
	aclErrHash     = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	aclErrFirstArg = "Allowing first-arg of a subcommand is not supported"
	aclErrDupUser  = "Duplicate user found. A user can only be defined once in config files"
)

func hasSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\v', '\f', 0:
			return true
		}
	}
	return false
}

// apply applies one selector rule; it returns an aclErr* text on error.
func (s *aclSelector) apply(op string) string {
	lower := strings.ToLower(op)
	switch {
	case lower == "allkeys" || op == "~*":
		s.allKeys, s.keys = true, nil
	case lower == "resetkeys":
		s.allKeys, s.keys = false, nil
	case lower == "allchannels" || op == "&*":
		s.allChans, s.chans = true, nil
	case lower == "resetchannels":
		s.allChans, s.chans = false, nil
	case lower == "allcommands" || lower == "+@all":
		s.setAll(true)
	case lower == "nocommands" || lower == "-@all":
		s.setAll(false)
	case op[0] == '~' || op[0] == '%':
		if s.allKeys {
			return aclErrKeysAll
		}
		flags := uint8(0)
		off := 1
		if op[0] == '%' {
			for ; off < len(op); off++ {
				ch := op[off]
				if ch == 'R' || ch == 'r' {
					if flags&aclRead != 0 {
						return aclErrSyntax
					}
					flags |= aclRead
				} else if ch == 'W' || ch == 'w' {
					if flags&aclWrite != 0 {
						return aclErrSyntax
					}
					flags |= aclWrite
				} else if ch == '~' {
					off++
					break
				} else {
					return aclErrSyntax
				}
			}
			if flags == 0 { // "%R" without "~" is the empty pattern, as in Redis
				return aclErrSyntax
			}
		} else {
			flags = aclRW
		}
		pat := op[off:]
		if hasSpace(pat) {
			return aclErrSyntax
		}
		found := false
		for i := range s.keys {
			if s.keys[i].pattern == pat {
				s.keys[i].flags |= flags
				found = true
			}
		}
		if !found {
			s.keys = append(s.keys, aclKeyPattern{flags: flags, pattern: pat})
		}
		s.allKeys = false
	case op[0] == '&':
		if s.allChans {
			return aclErrChansAll
		}
		pat := op[1:]
		if hasSpace(pat) {
			return aclErrSyntax
		}
		for _, c := range s.chans {
			if c == pat {
				return ""
			}
		}
		s.chans = append(s.chans, pat)
		s.allChans = false
	case op[0] == '+' && (len(op) == 1 || op[1] != '@'):
		i := strings.LastIndexByte(op, '|')
		if i < 0 {
			c := aclLookup(op[1:])
			if c == nil {
				return aclErrUnknown
			}
			s.setCmd(c, true)
			return ""
		}
		c := aclLookup(op[1:i])
		if c == nil {
			return aclErrUnknown
		}
		if c.parent != nil {
			return aclErrFirstArg
		}
		sub := op[i+1:]
		if sub == "" {
			return aclErrSyntax
		}
		if len(c.subs) > 0 {
			sc := aclLookup(op[1:])
			if sc == nil {
				return aclErrUnknown
			}
			s.setCmd(sc, true)
			return ""
		}
		if s.firstArgs == nil {
			s.firstArgs = map[int][]string{}
		}
		for _, a := range s.firstArgs[c.id] {
			if strings.EqualFold(a, sub) {
				return ""
			}
		}
		s.firstArgs[c.id] = append(s.firstArgs[c.id], sub)
	case op[0] == '-' && (len(op) == 1 || op[1] != '@'):
		c := aclLookup(op[1:])
		if c == nil {
			return aclErrUnknown
		}
		s.setCmd(c, false)
	case op[0] == '+' || op[0] == '-': // +@category, -@category
		cat := aclCategoryBit(op[2:])
		if cat == 0 {
			return aclErrUnknown
		}
		s.setCategory(aclCmds.top, cat, op[0] == '+')
	default:
		return aclErrSyntax
	}
	return ""
}

// countCategory counts the commands of a category that s allows (on) and
// denies (off).
func (s *aclSelector) countCategory(cmds []*aclCmd, cat uint64, on, off *int) {
	for _, c := range cmds {
		if c.cats&cat != 0 {
			if s.bit(c.id) {
				*on++
			} else {
				*off++
			}
		}
		if len(c.subs) > 0 {
			s.countCategory(c.subs, cat, on, off)
		}
	}
}

// describeCommands writes the command rules of s as Redis does: +@all or
// -@all, then the categories that describe most of the difference, then
// single commands.
func (s *aclSelector) describeCommands() string {
	var b strings.Builder
	fake := newSelector(false, false)
	additive := !s.future()
	if additive {
		b.WriteString("-@all ")
	} else {
		b.WriteString("+@all ")
		fake.setAll(true)
	}
	temp := s.copy()
	applied := make([]bool, len(aclCategories))
	for {
		best, minDiff, maxSame := -1, int(^uint(0)>>1), 0
		for j := range aclCategories {
			if applied[j] {
				continue
			}
			on, off := 0, 0
			temp.countCategory(aclCmds.top, 1<<j, &on, &off)
			diff, same := on, off
			if additive {
				diff, same = off, on
			}
			if same > diff && (diff < minDiff || (diff == minDiff && same > maxSame)) {
				best, minDiff, maxSame = j, diff, same
			}
		}
		if best < 0 {
			break
		}
		sign, inv := "+@", "-@"
		if !additive {
			sign, inv = "-@", "+@"
		}
		fake.apply(sign + aclCategories[best])
		temp.apply(inv + aclCategories[best])
		b.WriteString(sign + aclCategories[best] + " ")
		applied[best] = true
	}
	s.describeSingle(fake, aclCmds.top, &b)
	out := b.String()
	return out[:len(out)-1]
}

func (s *aclSelector) describeSingle(fake *aclSelector, cmds []*aclCmd, b *strings.Builder) {
	for _, c := range cmds {
		user, f := s.bit(c.id), fake.bit(c.id)
		if user != f {
			if user {
				b.WriteByte('+')
			} else {
				b.WriteByte('-')
			}
			b.WriteString(c.name)
			b.WriteByte(' ')
			fake.setCmd(c, user)
		}
		if len(c.subs) > 0 {
			s.describeSingle(fake, c.subs, b)
		}
		if !user {
			for _, a := range s.firstArgs[c.id] {
				b.WriteString("+" + c.name + "|" + a + " ")
			}
		}
	}
}

func (s *aclSelector) describeKeys() string {
	if s.allKeys {
		return "~*"
	}
	parts := make([]string, len(s.keys))
	for i, k := range s.keys {
		parts[i] = k.String()
	}
	return strings.Join(parts, " ")
}

func (s *aclSelector) describeChannels() string {
	if s.allChans {
		return "&*"
	}
	parts := make([]string, len(s.chans))
	for i, c := range s.chans {
		parts[i] = "&" + c
	}
	return strings.Join(parts, " ")
}

// describe is the selector as ACL LIST shows it.
func (s *aclSelector) describe() string {
	var b strings.Builder
	if s.allKeys {
		b.WriteString("~* ")
	} else {
		for _, k := range s.keys {
			b.WriteString(k.String() + " ")
		}
	}
	if s.allChans {
		b.WriteString("&* ")
	} else {
		b.WriteString("resetchannels ")
		for _, c := range s.chans {
			b.WriteString("&" + c + " ")
		}
	}
	b.WriteString(s.describeCommands())
	return b.String()
}

// Outcomes of a permission check, in Redis's order of relevance.
const (
	aclOK = iota
	aclDeniedCmd
	aclDeniedKey
	aclDeniedAuth
	aclDeniedChannel
)

// aclKeyRef is a key argument and the access a command makes to it.
type aclKeyRef struct {
	pos   int
	flags uint8 // aclRead, aclWrite
}

// aclKeys appends the keys of a call and the access each needs, as
// Redis's ACL finds them: by the command's key specs (by code where Redis
// does, for incomplete specs and variable flags), read access for a key
// whose spec says access, write access for insert, update or delete. A
// key with neither needs no particular access, only a matching pattern.
// A command without key specs needs write access to its keys if it
// writes, read access otherwise.
func aclKeys(call *aclCall, dst []aclKeyRef) []aclKeyRef {
	e, spec, args := call.e, call.spec, call.args
	movable := spec == e.spec && ((e.data != nil && e.data.Keys != nil) || e.keys != nil)
	byCode := func() []int {
		var keys []int
		switch {
		case movable && e.keys != nil:
			keys = e.keys(args)
		case movable:
			keys = e.data.KeyIndexes(args, nil)
		default:
			keys = spec.KeyIndexes(args, nil)
		}
		for _, k := range keys {
			if k <= 0 || k >= len(args) {
				return nil
			}
		}
		return keys
	}
	ks := shard.KeySpecsFor(call.cmd.name)
	if ks == nil {
		switch spec.Name {
		case "spublish", "ssubscribe", "sunsubscribe":
			return dst // not_key: channels, though routed as keys
		}
		flags := uint8(aclRead)
		if spec.Flags&shard.Write != 0 {
			flags = aclWrite
		}
		for _, p := range byCode() {
			dst = append(dst, aclKeyRef{pos: p, flags: flags})
		}
		return dst
	}
	var fallback func() []int
	if movable || ks.KeysByCode() {
		fallback = byCode
	}
	var buf [8]shard.KeyRef
	for _, r := range ks.Find(args, spec.Arity, fallback, buf[:0]) {
		var f uint8
		if r.Flags&shard.KeyAccess != 0 {
			f |= aclRead
		}
		if r.Flags&(shard.KeyInsert|shard.KeyUpdate|shard.KeyDelete) != 0 {
			f |= aclWrite
		}
		dst = append(dst, aclKeyRef{pos: r.Pos, flags: f})
	}
	return dst
}

// aclChannels reports the channel arguments of the pub/sub commands the
// ACL checks, and whether they are patterns.
func aclChannels(name string, args [][]byte) (first int, pattern bool, ok bool) {
	switch name {
	case "publish", "spublish":
		return 1, false, len(args) > 1
	case "subscribe", "ssubscribe":
		return 1, false, true
	case "psubscribe":
		return 1, true, true
	}
	return 0, false, false
}

func (s *aclSelector) keyOK(key []byte, flags uint8) bool {
	if s.allKeys {
		return true
	}
	for _, p := range s.keys {
		if p.flags&flags != flags {
			continue
		}
		if glob.Match(p.pattern, string(key), false) {
			return true
		}
	}
	return false
}

func chanOK(list []string, ch []byte, pattern bool) bool {
	for _, p := range list {
		if pattern {
			if p == string(ch) {
				return true
			}
		} else if glob.Match(p, string(ch), false) {
			return true
		}
	}
	return false
}

// aclCall is one call being checked; the keys are found once for all
// selectors.
type aclCall struct {
	e     *entry
	spec  *shard.Spec
	cmd   *aclCmd
	args  [][]byte
	keys  []aclKeyRef
	found bool
}

func (s *aclSelector) check(call *aclCall) (int, int) {
	cmd := call.cmd
	if !s.allCmds && !cmd.noAuth && !s.bit(cmd.id) {
		idx := 1
		if cmd.parent != nil {
			idx = 2
		}
		ok := false
		if len(call.args) > idx {
			for _, a := range s.firstArgs[cmd.id] {
				if strings.EqualFold(a, string(call.args[idx])) {
					ok = true
					break
				}
			}
		}
		if !ok {
			return aclDeniedCmd, 0
		}
	}
	if !s.allKeys {
		if !call.found {
			call.keys = aclKeys(call, call.keys[:0])
			call.found = true
		}
		for _, k := range call.keys {
			if !s.keyOK(call.args[k.pos], k.flags) {
				return aclDeniedKey, k.pos
			}
		}
	}
	if !s.allChans {
		if first, pattern, ok := aclChannels(cmd.name, call.args); ok {
			last := len(call.args)
			if cmd.name == "publish" || cmd.name == "spublish" {
				last = 2
			}
			for i := first; i < last; i++ {
				if !chanOK(s.chans, call.args[i], pattern) {
					return aclDeniedChannel, i
				}
			}
		}
	}
	return aclOK, 0
}

// aclUserState is a user's permissions at one time; never changed once
// published.
type aclUserState struct {
	on        bool
	nopass    bool
	sanitize  int // 0 unset, 1 sanitize-payload, 2 skip-sanitize-payload
	passwords []string
	sels      []*aclSelector // root first
	// free: the root selector allows every command, key and channel.
	free bool
}

func (st *aclUserState) copy() *aclUserState {
	d := *st
	d.passwords = append([]string(nil), st.passwords...)
	d.sels = make([]*aclSelector, len(st.sels))
	for i, s := range st.sels {
		d.sels[i] = s.copy()
	}
	return &d
}

func (st *aclUserState) seal() *aclUserState {
	r := st.sels[0]
	st.free = r.allCmds && r.allKeys && r.allChans
	return st
}

// check reports whether the user may run the call: aclOK, or the most
// relevant denial over its selectors and the argument it is about.
func (st *aclUserState) check(call *aclCall) (int, int) {
	res, pos := aclDeniedCmd, 0
	for _, s := range st.sels {
		r, p := s.check(call)
		if r == aclOK {
			return aclOK, 0
		}
		if r > res || (r == res && p > pos) {
			res, pos = r, p
		}
	}
	return res, pos
}

func aclHash(pass []byte) string {
	h := sha256.Sum256(pass)
	return hex.EncodeToString(h[:])
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < 'a' || c > 'f') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// apply applies one SETUSER rule to st (a private copy).
func (st *aclUserState) apply(op string, pubsubAll bool) string {
	if op == "" {
		return ""
	}
	lower := strings.ToLower(op)
	switch {
	case lower == "on":
		st.on = true
	case lower == "off":
		st.on = false
	case lower == "skip-sanitize-payload":
		st.sanitize = 2
	case lower == "sanitize-payload":
		st.sanitize = 1
	case lower == "nopass":
		st.nopass, st.passwords = true, nil
	case lower == "resetpass":
		st.nopass, st.passwords = false, nil
	case op[0] == '>' || op[0] == '#':
		var h string
		if op[0] == '>' {
			h = aclHash([]byte(op[1:]))
		} else {
			if !validHash(op[1:]) {
				return aclErrHash
			}
			h = op[1:]
		}
		if !contains(st.passwords, h) {
			st.passwords = append(st.passwords, h)
		}
		st.nopass = false
	case op[0] == '<' || op[0] == '!':
		var h string
		if op[0] == '<' {
			h = aclHash([]byte(op[1:]))
		} else {
			if !validHash(op[1:]) {
				return aclErrHash
			}
			h = op[1:]
		}
		i := indexOf(st.passwords, h)
		if i < 0 {
			return aclErrNoPass
		}
		st.passwords = append(st.passwords[:i:i], st.passwords[i+1:]...)
	case op[0] == '(' && op[len(op)-1] == ')':
		s := newSelector(false, pubsubAll)
		for _, a := range splitArgs(op[1 : len(op)-1]) {
			if msg := s.apply(a); msg != "" {
				return msg
			}
		}
		st.sels = append(st.sels, s)
	case lower == "clearselectors":
		st.sels = st.sels[:1]
	case lower == "reset":
		st.nopass, st.passwords = false, nil
		root := newSelector(true, pubsubAll)
		st.sels = []*aclSelector{root}
		st.on = false
		st.sanitize = 1
	default:
		return st.sels[0].apply(op)
	}
	return ""
}

// splitArgs splits a selector's rules at spaces (Redis's sdssplitargs,
// without quotes, which rules do not use).
func splitArgs(s string) []string { return strings.Fields(s) }

func contains(list []string, s string) bool { return indexOf(list, s) >= 0 }

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// describe is the user's rules as ACL LIST shows them, after the name.
func (st *aclUserState) describe() string {
	var b strings.Builder
	if st.on {
		b.WriteString("on ")
	} else {
		b.WriteString("off ")
	}
	if st.nopass {
		b.WriteString("nopass ")
	}
	switch st.sanitize {
	case 2:
		b.WriteString("skip-sanitize-payload ")
	case 1:
		b.WriteString("sanitize-payload ")
	}
	for _, p := range st.passwords {
		b.WriteString("#" + p + " ")
	}
	for i, s := range st.sels {
		if i == 0 {
			b.WriteString(s.describe())
		} else {
			b.WriteString(" (" + s.describe() + ")")
		}
	}
	return b.String()
}

// aclUser is a user; its state is swapped whole on each change.
type aclUser struct {
	name string
	st   atomic.Pointer[aclUserState]
}

func (u *aclUser) state() *aclUserState { return u.st.Load() }

// passwordOK checks a password in time independent of where it differs.
func (st *aclUserState) passwordOK(pass []byte) bool {
	if st.nopass {
		return true
	}
	h := aclHash(pass)
	ok := false
	for _, p := range st.passwords {
		if subtle.ConstantTimeCompare([]byte(p), []byte(h)) == 1 {
			ok = true
		}
	}
	return ok
}

// aclLogEntry is one ACL LOG entry.
type aclLogEntry struct {
	count    int64
	reason   int
	context  string
	object   string
	username string
	ctime    time.Time
	cinfo    string
}

// aclRegistry is the server's users and security log.
type aclRegistry struct {
	mu    sync.Mutex
	users map[string]*aclUser
	def   *aclUser
	log   []*aclLogEntry // newest first
	// pubsubAll: acl-pubsub-default allchannels; logMax: acllog-max-len.
	pubsubAll atomic.Bool
	logMax    atomic.Int64
}

func newACLRegistry() *aclRegistry {
	r := &aclRegistry{users: map[string]*aclUser{}}
	r.logMax.Store(128)
	r.def = &aclUser{name: "default"}
	r.def.st.Store(defaultUserState())
	r.users["default"] = r.def
	return r
}

// defaultUserState is the default user out of the box: on, nopass, every
// command, key and channel.
func defaultUserState() *aclUserState {
	st := &aclUserState{on: true, nopass: true}
	root := newSelector(true, true)
	root.setAll(true)
	root.allKeys = true
	st.sels = []*aclSelector{root}
	return st.seal()
}

// newUserState is a user that ACL SETUSER creates: off, no password, no
// permission (channels as acl-pubsub-default says).
func (r *aclRegistry) newUserState() *aclUserState {
	return &aclUserState{sels: []*aclSelector{newSelector(true, r.pubsubAll.Load())}}
}

// authRequired reports whether a connection that has not authenticated
// must: the default user has a password or is off.
func (r *aclRegistry) authRequired() bool {
	st := r.def.state()
	return !st.nopass || !st.on
}

func (r *aclRegistry) user(name string) *aclUser {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users[name]
}

// authenticate checks a user name and password: the user, or nil.
func (r *aclRegistry) authenticate(name, pass []byte) *aclUser {
	u := r.user(string(name))
	if u == nil {
		return nil
	}
	st := u.state()
	if !st.on || !st.passwordOK(pass) {
		return nil
	}
	return u
}

// setUser applies rules to a user (made if new) as one change: all or
// nothing. It returns the error reply, or "".
func (r *aclRegistry) setUser(name string, rules []string) string {
	_, _, _, msg := r.changeUser(name, rules)
	return msg
}

// changeUser is setUser; it also returns the user, and its state before
// (nil for a new user) and after the change.
func (r *aclRegistry) changeUser(name string, rules []string) (u *aclUser, old, st *aclUserState, msg string) {
	merged, bad := mergeSelectorArgs(rules)
	if merged == nil {
		return nil, nil, nil, "ERR Unmatched parenthesis in acl selector starting at '" + bad + "'."
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	u = r.users[name]
	if u != nil {
		old = u.state()
		st = old.copy()
	} else {
		st = r.newUserState()
	}
	for _, op := range merged {
		if msg := st.apply(op, r.pubsubAll.Load()); msg != "" {
			return nil, nil, nil, "ERR Error in ACL SETUSER modifier '" + op + "': " + msg
		}
	}
	if u == nil {
		u = &aclUser{name: name}
		r.users[name] = u
	}
	u.st.Store(st.seal())
	return u, old, st, ""
}

// revokedChannels reports whether a change from old to st may take away
// a channel a subscriber of the user uses, and the channel patterns st
// allows (Redis's ACLKillPubsubClientsIfNeeded).
func revokedChannels(old, st *aclUserState) ([]string, bool) {
	var upcoming []string
	for _, s := range st.sels {
		if s.allChans {
			return nil, false
		}
		upcoming = append(upcoming, s.chans...)
	}
	for _, s := range old.sels {
		if s.allChans {
			return upcoming, true
		}
		for _, ch := range s.chans {
			if !contains(upcoming, ch) {
				return upcoming, true
			}
		}
	}
	return nil, false
}

// fullReadAccess reports whether a selector that allows the call lets
// the user read every key (Redis's
// ACLUserCheckCmdWithUnrestrictedKeyAccess for read access).
func (st *aclUserState) fullReadAccess(call *aclCall) bool {
	for _, s := range st.sels {
		if r, _ := s.check(call); r != aclOK {
			continue
		}
		if s.allKeys {
			return true
		}
		for _, p := range s.keys {
			if p.flags&aclRead != 0 && p.pattern == "*" {
				return true
			}
		}
	}
	return false
}

// sortDenied checks SORT's BY and GET patterns, which read keys that the
// arguments do not name: Redis allows them only to a user who may read
// every key. It returns the error, or "".
func sortDenied(st *aclUserState, call *aclCall) string {
	name := call.cmd.name
	if name != "sort" && name != "sort_ro" {
		return ""
	}
	args := call.args
	for j := 2; j < len(args); j++ {
		left, a := len(args)-j-1, args[j]
		switch {
		case equalFold(a, "asc"), equalFold(a, "desc"), equalFold(a, "alpha"):
		case equalFold(a, "limit") && left >= 2:
			if _, ok := wire.ParseInt(args[j+1]); !ok {
				return ""
			}
			if _, ok := wire.ParseInt(args[j+2]); !ok {
				return ""
			}
			j += 2
		case name == "sort" && equalFold(a, "store") && left >= 1:
			j++
		case equalFold(a, "by") && left >= 1:
			if bytes.IndexByte(args[j+1], '*') >= 0 && !st.fullReadAccess(call) {
				return "ERR BY option of SORT denied due to insufficient ACL permissions."
			}
			j++
		case equalFold(a, "get") && left >= 1:
			if !st.fullReadAccess(call) {
				return "ERR GET option of SORT denied due to insufficient ACL permissions."
			}
			j++
		default:
			return "" // the command reports the syntax error
		}
	}
	return ""
}

// mergeSelectorArgs joins the words of a selector split over several
// arguments ("(+get", "~key)"). It returns nil and the argument starting
// an unclosed selector.
func mergeSelectorArgs(args []string) ([]string, string) {
	out := make([]string, 0, len(args))
	open, start := -1, ""
	var cur string
	for j, op := range args {
		if open < 0 && len(op) > 0 && op[0] == '(' && op[len(op)-1] != ')' {
			open, start, cur = j, op, op
			continue
		}
		if open >= 0 {
			cur += " " + op
			if len(op) > 0 && op[len(op)-1] == ')' {
				open = -1
				out = append(out, cur)
			}
			continue
		}
		out = append(out, op)
	}
	if open >= 0 {
		return nil, start
	}
	return out, ""
}

// names returns the user names, sorted as Redis's radix tree keeps them.
func (r *aclRegistry) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.users))
	for n := range r.users {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// addLog records a denial, merging it with a recent matching entry.
func (r *aclRegistry) addLog(e *aclLogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < len(r.log) && i < 10; i++ {
		m := r.log[i]
		d := m.ctime.Sub(e.ctime)
		if d < 0 {
			d = -d
		}
		if m.reason == e.reason && m.context == e.context && d <= time.Minute && m.object == e.object && m.username == e.username {
			m.cinfo, m.ctime = e.cinfo, e.ctime
			m.count++
			copy(r.log[1:i+1], r.log[:i])
			r.log[0] = m
			return
		}
	}
	e.count = 1
	r.log = append(r.log, nil)
	copy(r.log[1:], r.log)
	r.log[0] = e
	if max := r.logMax.Load(); int64(len(r.log)) > max {
		clear(r.log[max:])
		r.log = r.log[:max]
	}
}

// loadFile replaces the users with those of an ACL file, as ACL LOAD does:
// on any error nothing changes and the errors are returned. The default
// user keeps its identity (its connections stay); every other user is new,
// and the connections of the old ones are closed. self is the connection
// running ACL LOAD (nil at start-up).
func (r *aclRegistry) loadFile(path string, self *client) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "Error loading ACLs, opening file '" + path + "': " + aclErrText(err)
	}
	users, errs := r.parseFile(path, string(data))
	if errs != "" {
		return errs + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
	}
	r.mu.Lock()
	old := r.users
	def := users["default"]
	if def == nil {
		r.def.st.Store(defaultUserState())
	} else {
		r.def.st.Store(def.state())
	}
	users["default"] = r.def
	r.users = users
	r.mu.Unlock()
	if self != nil {
		for name, u := range old {
			if name != "default" {
				self.killUserClients(u)
			}
		}
	}
	return ""
}

func aclErrText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	s := err.Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// parseFile reads the users of an ACL file's text.
func (r *aclRegistry) parseFile(path, text string) (map[string]*aclUser, string) {
	users := map[string]*aclUser{}
	var errs strings.Builder
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.Trim(line, " \t\r\n")
		if line == "" {
			continue
		}
		argv := strings.Split(line, " ")
		if argv[0] != "user" || len(argv) < 2 {
			errs.WriteString(path + ":" + strconv.Itoa(n) + " should start with user keyword followed by the username. ")
			continue
		}
		if hasSpace(argv[1]) {
			errs.WriteString("'" + path + ":" + strconv.Itoa(n) + ": username '" + argv[1] + "' contains invalid characters. ")
			continue
		}
		if users[argv[1]] != nil {
			errs.WriteString("WARNING: Duplicate user '" + argv[1] + "' found on line " + strconv.Itoa(n) + ". ")
			continue
		}
		st := r.newUserState()
		u := &aclUser{name: argv[1]}
		users[argv[1]] = u
		merged, _ := mergeSelectorArgs(argv[2:])
		if merged == nil {
			errs.WriteString(path + ":" + strconv.Itoa(n) + ": Unmatched parenthesis in selector definition.")
		}
		syntax := false
		for _, op := range merged {
			op = strings.Trim(op, "\t\r\n")
			if msg := st.apply(op, r.pubsubAll.Load()); msg != "" {
				if msg == aclErrUnknown {
					errs.WriteString(path + ":" + strconv.Itoa(n) + ": Error in applying operation '" + op + "': " + msg + ". ")
				} else if !syntax {
					errs.WriteString(path + ":" + strconv.Itoa(n) + ": " + msg + ". ")
					syntax = true
				}
			}
		}
		u.st.Store(st.seal())
	}
	return users, errs.String()
}

// saveFile writes the users to an ACL file, through a temporary file.
func (r *aclRegistry) saveFile(path string) error {
	var b strings.Builder
	for _, n := range r.names() {
		if u := r.user(n); u != nil {
			b.WriteString("user " + n + " " + u.state().describe() + "\n")
		}
	}
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// LoadUsers defines users from `user` directives of a configuration file,
// each given as its arguments after "user" (name first). Redis applies
// them in order at start-up; "default" is reset first.
func (s *Server) LoadUsers(lines [][]string) error {
	r := s.acl
	seen := map[string]bool{}
	for _, argv := range lines {
		if len(argv) == 0 {
			return errors.New("user directive without a name")
		}
		name := argv[0]
		if seen[name] {
			return errors.New(aclErrDupUser)
		}
		seen[name] = true
		if hasSpace(name) {
			return errors.New("Spaces not allowed in ACL usernames")
		}
		merged, bad := mergeSelectorArgs(argv[1:])
		if merged == nil {
			return errors.New("Unmatched parenthesis in acl selector starting at '" + bad + "'.")
		}
		st := r.newUserState()
		if name == "default" {
			st = &aclUserState{sels: []*aclSelector{newSelector(true, r.pubsubAll.Load())}, sanitize: 1} // reset
		}
		for _, op := range merged {
			if msg := st.apply(op, r.pubsubAll.Load()); msg != "" {
				return errors.New("Error loading ACL rule '" + op + "' for the user named '" + name + "': " + msg)
			}
		}
		if !st.on {
			s.log.Info("The user '" + name + "' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.")
		}
		r.mu.Lock()
		u := r.users[name]
		if u == nil {
			u = &aclUser{name: name}
			r.users[name] = u
		}
		u.st.Store(st.seal())
		r.mu.Unlock()
	}
	return nil
}

// UserDirectives collects the `user` directives of a configuration file
// as Redis reads them: each is checked when read (a rule naming an
// unknown command passes then, as Redis lets modules add commands later),
// and Server.LoadUsersAtStartup applies them once the server exists.
type UserDirectives struct {
	lines [][]string
}

// Add checks one directive's arguments after "user" (the name first) and
// keeps it. It returns Redis's error reason for the configuration line,
// or "".
func (u *UserDirectives) Add(args []string) string {
	line := append([]string{"user"}, args...)
	if len(args) == 0 {
		return "Bad directive or wrong number of arguments"
	}
	for _, l := range u.lines {
		if l[0] == args[0] {
			return "Error in user declaration '" + args[0] + "': " + aclErrDupUser
		}
	}
	merged, bad := mergeSelectorArgs(args[1:])
	if merged == nil {
		// Redis names the word at the rule's index in the whole line, and
		// the reason its last failed lookup left behind.
		return "Error in user declaration '" + line[indexOf(args[1:], bad)] + "': " + aclErrUnknown
	}
	st := &aclUserState{sels: []*aclSelector{newSelector(true, false)}}
	for j, op := range merged {
		if msg := st.apply(op, false); msg != "" && msg != aclErrUnknown {
			// Redis names the j-th word of the whole line, not the rule.
			return "Error in user declaration '" + line[min(j, len(line)-1)] + "': " + msg
		}
	}
	u.lines = append(u.lines, append([]string(nil), args...))
	return ""
}

// Lines returns the directives kept, for Server.LoadUsersAtStartup.
func (u *UserDirectives) Lines() [][]string { return u.lines }

// LoadACLFile loads the aclfile at start-up; its error stops the server.
func (s *Server) LoadACLFile() error {
	if f := s.cfg.Value("aclfile"); f != "" {
		if msg := s.acl.loadFile(f, nil); msg != "" {
			return errors.New(msg)
		}
	}
	return nil
}

// watchACL makes the registry and follows the parameters that change it:
// requirepass sets the default user's password, as Redis 7 does.
func (s *Server) watchACL() {
	s.acl = newACLRegistry()
	r := s.acl
	setPass := func(v string) {
		if v == "" {
			r.setUser("default", []string{"resetpass", "nopass"})
		} else {
			r.setUser("default", []string{"resetpass", ">" + v})
		}
	}
	if v := s.cfg.Value("requirepass"); v != "" {
		setPass(v)
	}
	s.cfg.OnChange("requirepass", setPass)
	r.pubsubAll.Store(s.cfg.Value("acl-pubsub-default") == "allchannels")
	s.cfg.OnChange("acl-pubsub-default", func(v string) { r.pubsubAll.Store(v == "allchannels") })
	r.logMax.Store(s.cfg.Int("acllog-max-len"))
	s.cfg.OnChange("acllog-max-len", func(string) {
		r.logMax.Store(s.cfg.Int("acllog-max-len"))
		r.mu.Lock()
		if m := r.logMax.Load(); int64(len(r.log)) > m {
			clear(r.log[m:])
			r.log = r.log[:m]
		}
		r.mu.Unlock()
	})
}

// LoadUsersAtStartup does what Redis does once the configuration is read:
// users come from the `user` directives (lines: each directive's
// arguments, name first) or from the aclfile, never both.
func (s *Server) LoadUsersAtStartup(lines [][]string) error {
	if s.cfg.Value("aclfile") != "" && len(lines) > 0 {
		return errors.New("users are declared both by user directives and in the aclfile: declare them in one place only")
	}
	if err := s.LoadUsers(lines); err != nil {
		return err
	}
	return s.LoadACLFile()
}

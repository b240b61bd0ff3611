package conn

import (
	"sort"
	"strings"
	"sync"

	"github.com/valkyrie-kv/valkyrie/conn/config"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// COMMAND and its subcommands. Everything they report is derived from the
// command table (Spec fields and the syntax strings), so it cannot drift
// from what the server actually runs.

// commandSub declares a COMMAND subcommand; they all share these flags.
func commandSub(name string, arity int, since, summary, complexity, syntax string, run func(*client, [][]byte)) *subcommand {
	return &subcommand{Spec: shard.Spec{Name: name, Arity: arity, Flags: shard.Loading | shard.Stale,
		Group: "server", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax,
		ACL: []string{"connection"}}, run: run}
}

var commandSubs, commandSpecs = newSubcommands("command",
	commandSub("count", 2, "2.8.13", "Returns a count of commands.", "O(1)", "", cmdCommandCount),
	commandSub("docs", -2, "7.0.0", "Returns documentary information about one, multiple or all commands.",
		"O(N) where N is the number of commands to look up", "[command-name [command-name ...]]", cmdCommandDocs),
	// Redis 7.0 documents no arguments for GETKEYS and GETKEYSANDFLAGS.
	commandSub("getkeys", -4, "2.8.13", "Extracts the key names from an arbitrary command.",
		"O(N) where N is the number of arguments to the command", "",
		func(c *client, args [][]byte) { cmdCommandGetKeys(c, args[2:], false) }),
	commandSub("getkeysandflags", -4, "7.0.0", "Extracts the key names and access flags for an arbitrary command.",
		"O(N) where N is the number of arguments to the command", "",
		func(c *client, args [][]byte) { cmdCommandGetKeys(c, args[2:], true) }),
	commandSub("help", 2, "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", "", cmdCommandHelp),
	commandSub("info", -2, "2.8.13", "Returns information about one, multiple or all commands.",
		"O(N) where N is the number of commands to look up", "[command-name [command-name ...]]", cmdCommandInfo),
	commandSub("list", -2, "7.0.0", "Returns a list of command names.",
		"O(N) where N is the total number of Redis commands",
		"[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]", cmdCommandList),
)

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "command", Arity: -1, Flags: shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.13", Summary: "Returns detailed information about all commands.",
		Complexity: "O(N) where N is the total number of Redis commands", ACL: []string{"connection"},
		Subcommands: commandSpecs}, run: cmdCommand})
}

// cmdMeta is what COMMAND reports about one command or subcommand,
// computed once from its Spec.
type cmdMeta struct {
	spec    *shard.Spec
	name    string // full name: "get", "command|info"
	group   string
	movable bool
	flags   []string
	acl     []string // "@read", ...
	keys    []shard.KeySpec
	// keySpecs, for a command Redis knows, are its key specs with flags;
	// nil for Valkyrie's own, whose keys derive from the Spec.
	keySpecs *shard.KeySpecs
	args     []*docArg
	numKeys  int // key arguments in args
	subs     []*cmdMeta
}

var cmdMetas struct {
	once   sync.Once
	top    []*cmdMeta          // sorted by name
	byName map[string]*cmdMeta // full names, subcommands included
}

// cmdCommandMetas returns the metadata of the whole table. The table is
// complete once the package's init functions have run.
func cmdCommandMetas() ([]*cmdMeta, map[string]*cmdMeta) {
	cmdMetas.once.Do(func() {
		cmdMetas.byName = make(map[string]*cmdMeta)
		for _, e := range allEntries() {
			m := newCmdMeta(e.spec, nil, (e.data != nil && e.data.Keys != nil) || e.keys != nil)
			cmdMetas.top = append(cmdMetas.top, m)
			cmdMetas.byName[m.name] = m
			for _, s := range m.subs {
				cmdMetas.byName[s.name] = s
			}
		}
	})
	return cmdMetas.top, cmdMetas.byName
}

func newCmdMeta(s *shard.Spec, parent *cmdMeta, movable bool) *cmdMeta {
	m := &cmdMeta{spec: s, name: strings.ToLower(s.Name), group: s.Group}
	if parent != nil {
		if !strings.Contains(m.name, "|") {
			m.name = parent.name + "|" + m.name
		}
		if m.group == "" {
			m.group = parent.group
		}
	}
	// Only a command without subcommands has computed key positions: a
	// container's Keys func just routes to its subcommands' fixed ones.
	container := len(s.Subcommands) > 0
	m.movable = movable && !container
	m.flags = s.Flags.Names()
	if m.movable {
		// Redis lists movablekeys just before allow_busy.
		at := len(m.flags)
		if at > 0 && m.flags[at-1] == "allow_busy" {
			at--
		}
		m.flags = append(m.flags[:at], append([]string{"movablekeys"}, m.flags[at:]...)...)
	}
	m.acl = cmdACLCategories(s, m.group, container)
	if s.Syntax != "" {
		if args, err := parseSyntax(s.Syntax); err == nil {
			m.args = args
			m.numKeys = cmdCountKeys(args)
		}
	}
	if ks := shard.KeySpecsFor(m.name); ks != nil {
		m.keySpecs, m.keys = ks, ks.Specs
	} else {
		m.keys = cmdKeySpecs(s, m.args, m.movable)
	}
	if len(m.keys) == 0 && m.numKeys > 0 {
		// A command without key positions names no keys: its "key"
		// (CLUSTER KEYSLOT key) is a string to Redis.
		cmdUnkey(m.args)
		m.numKeys = 0
	}
	for _, sub := range s.Subcommands {
		m.subs = append(m.subs, newCmdMeta(sub, m, false))
	}
	sort.Slice(m.subs, func(i, j int) bool { return m.subs[i].name < m.subs[j].name })
	return m
}

func cmdUnkey(args []*docArg) {
	for _, a := range args {
		if a.Type == "key" {
			a.Type, a.Key = "string", -1
		}
		cmdUnkey(a.Args)
	}
}

func cmdCountKeys(args []*docArg) int {
	n := 0
	for _, a := range args {
		if a.Type == "key" {
			n++
		}
		n += cmdCountKeys(a.Args)
	}
	return n
}

// cmdKeySpecs builds key specifications, without flags, for a command
// that has none in shard's table, from FirstKey, LastKey and Step: one
// range, or one spec per key when the syntax names each of a fixed
// number of keys (RENAME key newkey), as Redis does. A command with
// computed key positions whose syntax reads "numkeys key [key ...]" also
// gets a keynum spec.
func cmdKeySpecs(s *shard.Spec, args []*docArg, movable bool) []shard.KeySpec {
	var out []shard.KeySpec
	if s.FirstKey > 0 {
		step := max(s.Step, 1)
		n := 0
		if s.LastKey >= s.FirstKey {
			n = (s.LastKey-s.FirstKey)/step + 1
		}
		if n > 1 && n == cmdCountKeys(args) {
			for i := 0; i < n; i++ {
				out = append(out, shard.KeySpec{Index: s.FirstKey + i*step, Step: 1})
			}
		} else {
			last := s.LastKey
			if last >= 0 {
				last -= s.FirstKey
			}
			out = append(out, shard.KeySpec{Index: s.FirstKey, LastKey: last, Step: step})
		}
	}
	if movable {
		if i := cmdNumKeysIndex(args); i > 0 {
			out = append(out, shard.KeySpec{Index: i, Find: shard.FindKeyNum, FirstKey: 1, Step: 1})
		} else if i, kw := cmdKeywordKeys(args); kw != "" {
			out = append(out, shard.KeySpec{Keyword: kw, StartFrom: i, LastKey: -1, Step: 1, Limit: 2})
		}
	}
	return out
}

// cmdKeywordKeys finds a block "KEYWORD key [key ...] value [value ...]"
// and returns its keyword and where the search for it starts: after the
// fixed arguments that come first.
func cmdKeywordKeys(args []*docArg) (int, string) {
	pos, fixed := 1, true
	for _, a := range args {
		if a.Type == "block" && a.Token != "" && len(a.Args) == 2 && a.Args[0].Type == "key" && a.Args[0].Multiple && a.Args[1].Multiple {
			return pos, a.Token
		}
		if a.Optional || a.Multiple || a.Type == "oneof" {
			fixed = false
		}
		if fixed {
			pos += cmdArgWidth(a)
		}
	}
	return 0, ""
}

// cmdArgWidth is the number of words a required argument takes.
func cmdArgWidth(a *docArg) int {
	n := 0
	if a.Token != "" {
		n++
	}
	switch a.Type {
	case "pure-token":
		return 1
	case "block":
		for _, c := range a.Args {
			n += cmdArgWidth(c)
		}
		return n
	}
	return n + 1
}

// cmdNumKeysIndex returns the position of a "numkeys" argument followed
// by its keys, when only fixed arguments come before it, or 0.
func cmdNumKeysIndex(args []*docArg) int {
	pos := 1
	for i, a := range args {
		if a.Name == "numkeys" && a.Token == "" && i+1 < len(args) && args[i+1].Type == "key" && args[i+1].Multiple {
			return pos
		}
		if a.Optional || a.Multiple || a.Type == "block" || a.Type == "oneof" {
			return 0
		}
		pos++
		if a.Token != "" && a.Type != "pure-token" {
			pos++
		}
	}
	return 0
}

// cmdACLOrder is the order in which Redis lists ACL categories.
var cmdACLOrder = []string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
	"bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
	"blocking", "dangerous", "connection", "transaction", "scripting",
}

// cmdGroupACL is the category implied by a COMMAND DOCS group.
var cmdGroupACL = map[string]string{
	"string": "string", "generic": "keyspace", "hash": "hash", "list": "list",
	"set": "set", "sorted_set": "sortedset", "bitmap": "bitmap",
	"hyperloglog": "hyperloglog", "connection": "connection", "pubsub": "pubsub",
	"scripting": "scripting", "transactions": "transaction", "stream": "stream",
	"geo": "geo",
}

// cmdACLCategories derives a command's ACL categories the way Redis does:
// explicit ones, the group's, and those implied by the flags, with @slow
// for everything that is not @fast. A container command (one with
// subcommands) gets no group category, as in Redis.
func cmdACLCategories(s *shard.Spec, group string, container bool) []string {
	has := map[string]bool{}
	var extra []string
	for _, c := range s.ACL {
		c = strings.ToLower(strings.TrimPrefix(c, "@"))
		if !has[c] {
			has[c] = true
			extra = append(extra, c)
		}
	}
	if g, ok := cmdGroupACL[group]; ok && !container {
		has[g] = true
	}
	f := s.Flags
	if f&shard.Write != 0 {
		has["write"] = true
	}
	if f&shard.ReadOnly != 0 && !has["scripting"] {
		has["read"] = true
	}
	if f&shard.Admin != 0 {
		has["admin"], has["dangerous"] = true, true
	}
	if f&shard.PubSub != 0 {
		has["pubsub"] = true
	}
	if f&shard.Fast != 0 {
		has["fast"] = true
	}
	if f&shard.Blocking != 0 {
		has["blocking"] = true
	}
	if !has["fast"] {
		has["slow"] = true
	}
	var out []string
	for _, c := range cmdACLOrder {
		if has[c] {
			out = append(out, "@"+c)
			delete(has, c)
		}
	}
	for _, c := range extra { // categories Redis does not know, last
		if has[c] {
			out = append(out, "@"+c)
		}
	}
	return out
}

// hasACL reports whether m is in the category cat (without '@').
func (m *cmdMeta) hasACL(cat string) bool {
	for _, c := range m.acl {
		if c[1:] == cat {
			return true
		}
	}
	return false
}

// cmdDocKeySpecs gives, by argument name, the key_spec_index of the
// arguments that belong to a spec other than the one their position
// suggests: SORT's BY and GET patterns name keys (its second spec, whose
// keys derive from the sorted data), and its STORE destination is its
// third spec.
var cmdDocKeySpecs = map[string]map[string]int{
	"sort":    {"pattern": 1, "destination": 2},
	"sort_ro": {"pattern": 1},
}

// keyIndex is the key_spec_index of argument a, or -1.
func (m *cmdMeta) keyIndex(a *docArg) int {
	if i, ok := cmdDocKeySpecs[m.name][a.Name]; ok {
		return i
	}
	if a.Type != "key" {
		return -1
	}
	switch {
	case len(m.keys) == 0:
		return -1
	case len(m.keys) == m.numKeys:
		return a.Key
	}
	return 0
}

func cmdCommand(c *client, args [][]byte) {
	if len(args) == 1 {
		top, _ := cmdCommandMetas()
		c.replyArray(len(top))
		for _, m := range top {
			c.replyCommandInfo(m)
		}
		return
	}
	commandSubs.dispatch(c, args)
}

func cmdCommandCount(c *client, args [][]byte) {
	top, _ := cmdCommandMetas()
	c.replyInt(int64(len(top)))
}

// cmdCommandInfo answers COMMAND INFO: every command without names, else
// one entry per name, null for names it does not know.
func cmdCommandInfo(c *client, args [][]byte) {
	top, byName := cmdCommandMetas()
	if len(args) == 2 {
		c.replyArray(len(top))
		for _, m := range top {
			c.replyCommandInfo(m)
		}
		return
	}
	c.replyArray(len(args) - 2)
	for _, name := range args[2:] {
		if m := byName[strings.ToLower(string(name))]; m != nil {
			c.replyCommandInfo(m)
		} else {
			c.replyNull()
		}
	}
}

// cmdCommandDocs answers COMMAND DOCS: a map from name to docs, leaving
// out names it does not know.
func cmdCommandDocs(c *client, args [][]byte) {
	top, byName := cmdCommandMetas()
	found := top
	if len(args) > 2 {
		found = nil
		for _, name := range args[2:] {
			if m := byName[strings.ToLower(string(name))]; m != nil {
				found = append(found, m)
			}
		}
	}
	c.replyMap(len(found))
	for _, m := range found {
		c.replyBulkString(m.name)
		c.replyCommandDocs(m)
	}
}

func cmdCommandHelp(c *client, args [][]byte) {
	c.replyHelp("COMMAND",
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full Redis command.",
		"GETKEYSANDFLAGS <full-command>",
		"    Return the keys and the access flags from a full Redis command.",
	)
}

// cmdCommandList answers COMMAND LIST [FILTERBY MODULE|ACLCAT|PATTERN arg]:
// the names of all commands and subcommands that pass the filter.
func cmdCommandList(c *client, args [][]byte) {
	top, _ := cmdCommandMetas()
	keep := func(*cmdMeta) bool { return true }
	switch {
	case len(args) == 2:
	case len(args) == 5 && equalFold(args[2], "filterby"):
		arg := string(args[4])
		switch {
		case equalFold(args[3], "module"):
			keep = func(*cmdMeta) bool { return false } // no modules
		case equalFold(args[3], "aclcat"):
			cat := strings.ToLower(arg)
			keep = func(m *cmdMeta) bool { return m.hasACL(cat) }
		case equalFold(args[3], "pattern"):
			keep = func(m *cmdMeta) bool { return config.Match(arg, m.name, true) }
		default:
			c.replyError(shard.ErrSyntax)
			return
		}
	default:
		c.replyError(shard.ErrSyntax)
		return
	}
	var names []string
	for _, m := range top {
		if keep(m) {
			names = append(names, m.name)
		}
		for _, s := range m.subs {
			if keep(s) {
				names = append(names, s.name)
			}
		}
	}
	c.replyArray(len(names))
	for _, n := range names {
		c.replyBulkString(n)
	}
}

// cmdCommandGetKeys answers COMMAND GETKEYS and GETKEYSANDFLAGS for the
// command line cmd, with Redis's checks in Redis's order. Like Redis it
// follows the key specs, and finds keys by code (the command's Keys
// function) where Redis does: for specs that are incomplete or whose
// flags vary.
func cmdCommandGetKeys(c *client, cmd [][]byte, withFlags bool) {
	e := lookup(cmd[0])
	if e == nil {
		c.replyError("ERR Invalid command specified")
		return
	}
	_, byName := cmdCommandMetas()
	spec := e.spec
	movable := (e.data != nil && e.data.Keys != nil) || e.keys != nil
	m := byName[strings.ToLower(spec.Name)]
	if len(spec.Subcommands) > 0 && len(cmd) > 1 {
		m = byName[spec.Name+"|"+strings.ToLower(string(cmd[1]))]
		if m == nil {
			c.replyError("ERR Invalid command specified")
			return
		}
		// A subcommand's keys are where its own Spec says.
		spec, movable = m.spec, false
	}
	var ks *shard.KeySpecs
	if m != nil {
		ks = m.keySpecs
	}
	hasKeys := spec.FirstKey > 0 || movable
	if ks != nil {
		hasKeys = ks.HasKeys() || movable
	}
	if !hasKeys {
		c.replyError("ERR The command has no key arguments")
		return
	}
	if a := spec.Arity; (a > 0 && a != len(cmd)) || len(cmd) < -a {
		c.replyError("ERR Invalid number of arguments specified for command")
		return
	}
	byCode := func() []int {
		var keys []int
		switch {
		case movable && e.keys != nil:
			keys = e.keys(cmd)
		case movable:
			keys = e.data.KeyIndexes(cmd, nil)
		default:
			keys = spec.KeyIndexes(cmd, nil)
		}
		for _, k := range keys {
			if k <= 0 || k >= len(cmd) { // a Keys func that found no sense in cmd
				return nil
			}
		}
		return keys
	}
	var refs []shard.KeyRef
	if ks == nil {
		for _, k := range byCode() {
			refs = append(refs, shard.KeyRef{Pos: k})
		}
	} else {
		var fallback func() []int
		if movable || ks.KeysByCode() {
			fallback = byCode
		}
		refs = ks.Find(cmd, spec.Arity, fallback, nil)
	}
	if len(refs) == 0 {
		if spec.Flags&shard.NoMandatoryKeys != 0 {
			c.replyArray(0)
		} else {
			c.replyError("ERR Invalid arguments specified for command")
		}
		return
	}
	c.replyArray(len(refs))
	for _, r := range refs {
		if withFlags {
			c.replyArray(2)
			c.replyBulk(cmd[r.Pos])
			c.replyCmdFlags(r.Flags.Names())
		} else {
			c.replyBulk(cmd[r.Pos])
		}
	}
}

// replyCommandInfo appends m's COMMAND INFO entry: name, arity, flags,
// first key, last key, step, ACL categories, tips, key specs, subcommands.
func (c *client) replyCommandInfo(m *cmdMeta) {
	s := m.spec
	first, last, step := s.FirstKey, s.LastKey, s.Step
	if first <= 0 {
		first, last, step = 0, 0, 0
	} else if step < 1 {
		step = 1
	}
	c.replyArray(10)
	c.replyBulkString(m.name)
	c.replyInt(int64(s.Arity))
	c.replyCmdFlags(m.flags)
	c.replyInt(int64(first))
	c.replyInt(int64(last))
	c.replyInt(int64(step))
	c.replyCmdFlags(m.acl)
	c.replySet(0) // tips
	c.replySet(len(m.keys))
	for i := range m.keys {
		c.replyKeySpec(&m.keys[i])
	}
	if len(m.subs) == 0 {
		c.replySet(0) // Redis's empty subcommand list is a set
		return
	}
	c.replyArray(len(m.subs))
	for _, sub := range m.subs {
		c.replyCommandInfo(sub)
	}
}

// replyKeySpec appends one key specification of COMMAND INFO.
func (c *client) replyKeySpec(k *shard.KeySpec) {
	if k.Notes != "" {
		c.replyMap(4)
		c.replyBulkString("notes")
		c.replyBulkString(k.Notes)
	} else {
		c.replyMap(3)
	}
	c.replyBulkString("flags")
	c.replyCmdFlags(k.Flags.Names())
	c.replyBulkString("begin_search")
	c.replyMap(2)
	c.replyBulkString("type")
	switch {
	case k.Index > 0:
		c.replyBulkString("index")
		c.replyBulkString("spec")
		c.replyMap(1)
		c.replyBulkString("index")
		c.replyInt(int64(k.Index))
	case k.Keyword != "":
		c.replyBulkString("keyword")
		c.replyBulkString("spec")
		c.replyMap(2)
		c.replyBulkString("keyword")
		c.replyBulkString(k.Keyword)
		c.replyBulkString("startfrom")
		c.replyInt(int64(k.StartFrom))
	default:
		c.replyBulkString("unknown")
		c.replyBulkString("spec")
		c.replyMap(0)
	}
	c.replyBulkString("find_keys")
	c.replyMap(2)
	c.replyBulkString("type")
	switch k.Find {
	case shard.FindKeyNum:
		c.replyBulkString("keynum")
		c.replyBulkString("spec")
		c.replyMap(3)
		c.replyBulkString("keynumidx")
		c.replyInt(int64(k.KeyNumIdx))
		c.replyBulkString("firstkey")
		c.replyInt(int64(k.FirstKey))
		c.replyBulkString("keystep")
		c.replyInt(int64(k.Step))
	case shard.FindRange:
		c.replyBulkString("range")
		c.replyBulkString("spec")
		c.replyMap(3)
		c.replyBulkString("lastkey")
		c.replyInt(int64(k.LastKey))
		c.replyBulkString("keystep")
		c.replyInt(int64(k.Step))
		c.replyBulkString("limit")
		c.replyInt(int64(k.Limit))
	default:
		c.replyBulkString("unknown")
		c.replyBulkString("spec")
		c.replyMap(0)
	}
}

// replyCmdFlags appends a set of simple strings.
func (c *client) replyCmdFlags(items []string) {
	c.replySet(len(items))
	for _, it := range items {
		c.replySimple(it)
	}
}

// replyCommandDocs appends m's COMMAND DOCS map.
func (c *client) replyCommandDocs(m *cmdMeta) {
	s := m.spec
	n := 1 // group
	for _, v := range []string{s.Summary, s.Since, s.Complexity} {
		if v != "" {
			n++
		}
	}
	if len(m.args) > 0 {
		n++
	}
	if len(m.subs) > 0 {
		n++
	}
	c.replyMap(n)
	if s.Summary != "" {
		c.replyBulkString("summary")
		c.replyBulkString(s.Summary)
	}
	if s.Since != "" {
		c.replyBulkString("since")
		c.replyBulkString(s.Since)
	}
	c.replyBulkString("group")
	c.replyBulkString(m.group)
	if s.Complexity != "" {
		c.replyBulkString("complexity")
		c.replyBulkString(s.Complexity)
	}
	if len(m.args) > 0 {
		c.replyBulkString("arguments")
		c.replyDocArgs(m, m.args)
	}
	if len(m.subs) > 0 {
		c.replyBulkString("subcommands")
		c.replyMap(len(m.subs))
		for _, sub := range m.subs {
			c.replyBulkString(sub.name)
			c.replyCommandDocs(sub)
		}
	}
}

func (c *client) replyDocArgs(m *cmdMeta, args []*docArg) {
	c.replyArray(len(args))
	for _, a := range args {
		flags := a.flagNames()
		key := m.keyIndex(a)
		n := 2
		if key >= 0 {
			n++
		}
		if a.Token != "" {
			n++
		}
		if len(flags) > 0 {
			n++
		}
		if len(a.Args) > 0 {
			n++
		}
		c.replyMap(n)
		c.replyBulkString("name")
		c.replyBulkString(a.Name)
		c.replyBulkString("type")
		c.replyBulkString(a.Type)
		if key >= 0 {
			c.replyBulkString("key_spec_index")
			c.replyInt(int64(key))
		}
		if a.Token != "" {
			c.replyBulkString("token")
			c.replyBulkString(a.Token)
		}
		if len(flags) > 0 {
			c.replyBulkString("flags")
			c.replyCmdFlags(flags)
		}
		if len(a.Args) > 0 {
			c.replyBulkString("arguments")
			c.replyDocArgs(m, a.Args)
		}
	}
}

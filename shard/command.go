package shard

import (
	"sort"
	"strings"
)

// Flag describes a command the way COMMAND INFO does.
type Flag uint32

const (
	Write Flag = 1 << iota
	ReadOnly
	DenyOOM
	Admin
	PubSub
	NoScript
	Blocking
	Loading
	Stale
	SkipMonitor
	SkipSlowlog
	Fast
	NoAuth
	MayReplicate
	NoMandatoryKeys
	NoAsyncLoading
	NoMulti
	AllowBusy

	// AllShards is Valkyrie's own: the command sees every shard at once
	// (DBSIZE, FLUSHDB, KEYS). It is not reported by COMMAND INFO.
	AllShards
	// Asking is Redis's CMD_ASKING (RESTORE-ASKING): in a cluster, the
	// command runs on a slot being imported. Standalone, it changes nothing.
	Asking
)

// flagNames are the COMMAND INFO names, by bit; Redis keeps may_replicate
// to itself ("" here).
var flagNames = []string{
	"write", "readonly", "denyoom", "admin", "pubsub", "noscript", "blocking",
	"loading", "stale", "skip_monitor", "skip_slowlog", "fast", "no_auth",
	"", "no_mandatory_keys", "no_async_loading", "no_multi", "allow_busy",
	"", "asking", // AllShards is not reported
}

// Names returns the COMMAND INFO names of the flags in f.
func (f Flag) Names() []string {
	var out []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 && n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Spec is a command's metadata: everything COMMAND reports and everything
// the router needs to find the keys.
type Spec struct {
	Name  string // lower case; "parent|sub" for a subcommand
	Arity int    // > 0 exact count, < 0 at least -Arity (command name included)
	Flags Flag

	// Key positions: FirstKey..LastKey every Step; LastKey < 0 counts from
	// the end. FirstKey 0 means no keys.
	FirstKey, LastKey, Step int

	Group      string // COMMAND DOCS group: "string", "generic", "server", ...
	Since      string
	Summary    string
	Complexity string
	Syntax     string   // argument syntax after the name, for COMMAND DOCS
	ACL        []string // extra ACL categories, without '@'

	Subcommands []*Spec

	stat int // slot in the commandstats tables (cmdstats.go)
}

// Command is a data command: its Spec and the handler a shard runs.
type Command struct {
	Spec
	Run func(*Ctx)
	// Keys, when set, finds the key positions for commands whose keys are
	// not at fixed places (numkeys arguments, STORE options).
	Keys func(args [][]byte, dst []int) []int
	// NewWaiter, for blocking commands, describes what the command waits
	// for; the connection fills in the DB and protocol.
	NewWaiter func(args [][]byte) *Waiter
	// NeedsAllShards, when set, says per call whether the command must see
	// every shard (SORT with BY or GET patterns naming other keys).
	NeedsAllShards func(args [][]byte) bool
	// Route, when set, picks the shard for a command that has no keys but
	// belongs to one shard (SCAN, by its cursor).
	Route func(args [][]byte, shards int) int
}

// KeyIndexes appends to dst the argument positions of the keys in args.
func (c *Command) KeyIndexes(args [][]byte, dst []int) []int {
	if c.Keys != nil {
		return c.Keys(args, dst)
	}
	return c.Spec.KeyIndexes(args, dst)
}

// KeyIndexes appends the key positions given by FirstKey, LastKey, Step.
func (s *Spec) KeyIndexes(args [][]byte, dst []int) []int {
	if s.FirstKey <= 0 {
		return dst
	}
	last := s.LastKey
	if last < 0 {
		last += len(args)
	}
	step := max(s.Step, 1)
	for i := s.FirstKey; i <= last && i < len(args); i += step {
		dst = append(dst, i)
	}
	return dst
}

var table = map[string]*Command{}

// register adds commands to the table. A duplicate name is a programming
// error and panics at start-up.
func register(cmds ...*Command) {
	for _, c := range cmds {
		c.Name = strings.ToLower(c.Name)
		if _, dup := table[c.Name]; dup {
			panic("shard: command registered twice: " + c.Name)
		}
		if c.Run == nil {
			panic("shard: command without handler: " + c.Name)
		}
		table[c.Name] = c
	}
}

// Lookup returns the data command with the given lower-case name, or nil.
func Lookup(name string) *Command { return table[name] }

// Commands returns every data command, sorted by name.
func Commands() []*Command {
	out := make([]*Command, 0, len(table))
	for _, c := range table {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// writes reports whether the command writes when called with args: its
// Write flag, or for a container (XGROUP) its subcommand's.
func (c *Command) writes(args [][]byte) bool {
	if c.Flags&Write != 0 {
		return true
	}
	if len(c.Subcommands) == 0 || len(args) < 2 {
		return false
	}
	for _, s := range c.Subcommands {
		if i := len(c.Name) + 1; len(s.Name) > i && equalFold(args[1], s.Name[i:]) {
			return s.Flags&Write != 0
		}
	}
	return false
}

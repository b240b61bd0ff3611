package conn

import (
	"sort"
	"strings"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// entry is one row of the command table: a data command that a shard runs,
// or a connection command that runs on the connection's goroutine.
type entry struct {
	spec *shard.Spec
	data *shard.Command
	run  func(c *client, args [][]byte)
	// barrier commands change how later commands run (SELECT, HELLO) or
	// read state that earlier ones change, so the pipeline segment before
	// them is settled first.
	barrier bool
	// direct commands record their own reply slots (WATCH, EXEC).
	direct func(c *client, args [][]byte)
	// txControl commands run at once inside MULTI instead of queueing.
	txControl bool
	// keys finds the key positions of a connection command whose keys
	// move (EVAL, FCALL), for COMMAND GETKEYS.
	keys func(args [][]byte) []int
	// protected commands (DEBUG) run only where enable-debug-command
	// allows (cmd_debug.go).
	protected bool
	// quick commands wait for nothing but their shard: a connection may
	// run them while it holds its socket's reads (client.go, holdReads).
	quick bool
}

func (e *entry) arityOK(n int) bool {
	a := e.spec.Arity
	return a == n || (a < 0 && n >= -a)
}

// localCommand is a connection command as its family file declares it.
type localCommand struct {
	shard.Spec
	run       func(c *client, args [][]byte)
	barrier   bool
	direct    func(c *client, args [][]byte)
	txControl bool
	keys      func(args [][]byte) []int
	protected bool
	quick     bool
}

var commands = map[string]*entry{}

// registerLocal adds connection commands; a name already taken by a data
// command or another connection command panics at start-up.
func registerLocal(cmds ...*localCommand) {
	for _, lc := range cmds {
		lc.Name = strings.ToLower(lc.Name)
		add(&entry{spec: &lc.Spec, run: lc.run, barrier: lc.barrier, direct: lc.direct, txControl: lc.txControl, keys: lc.keys, protected: lc.protected, quick: lc.quick})
	}
}

func add(e *entry) {
	if _, dup := commands[e.spec.Name]; dup {
		panic("conn: command registered twice: " + e.spec.Name)
	}
	commands[e.spec.Name] = e
}

// The data commands join the table when the package starts; the shard
// package registered them in its own init, which runs first.
func init() {
	for _, c := range shard.Commands() {
		add(&entry{spec: &c.Spec, data: c, quick: c.NewWaiter == nil && c.Flags&shard.AllShards == 0})
	}
}

// lookup finds a command by name in any letter case without allocating.
func lookup(name []byte) *entry {
	var buf [32]byte
	if len(name) > len(buf) {
		if !renamed {
			return nil // no built-in name is that long
		}
		return commands[strings.ToLower(string(name))] // a rename-command name
	}
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return commands[string(buf[:len(name)])]
}

// allEntries returns the table sorted by name.
func allEntries() []*entry {
	out := make([]*entry, 0, len(commands))
	for _, e := range commands {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spec.Name < out[j].spec.Name })
	return out
}

// unknownCommand builds Redis's reply for a command it does not know. Like
// Redis it quotes arguments until 128 bytes of them have been quoted, and
// (being C) stops each one at a NUL byte.
func unknownCommand(args [][]byte) string {
	b := []byte("ERR unknown command '")
	b = append(b, cString(args[0], 128)...)
	b = append(b, "', with args beginning with: "...)
	quoted := 0
	for _, a := range args[1:] {
		if quoted >= 128 {
			break
		}
		a = cString(a, 128-quoted)
		b = append(b, '\'')
		b = append(b, a...)
		b = append(b, '\'', ' ')
		quoted += len(a) + 3
	}
	return string(b)
}

// cString returns b up to its first NUL byte and at most n bytes.
func cString(b []byte, n int) []byte {
	for i, ch := range b {
		if ch == 0 {
			b = b[:i]
			break
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	return b
}

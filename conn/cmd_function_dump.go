package conn

import (
	"sort"
	"strings"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// FUNCTION DUMP and FUNCTION RESTORE, in Redis 7.0's payload format: for
// each library the RDB opcode of a function library followed by its code
// as an RDB string, then the RDB version and the CRC64 of everything
// before it, both little endian, as in a key's DUMP payload.

// RDB opcodes of a function library.
const (
	rdbOpFunction2 = 245 // the library code (Redis 7.0 GA)
	rdbOpFunction  = 246 // name, engine, description and body (7.0 rc1, rc2)
)

var (
	functionDumpSpec = &subcommand{Spec: shard.Spec{Name: "dump", Arity: 2, Flags: shard.NoScript, Group: "scripting", Since: "7.0.0",
		Summary: "Dump all functions into a serialized binary payload", Complexity: "O(N) where N is the number of functions"},
		run: cmdFunctionDump}
	functionRestoreSpec = &subcommand{Spec: shard.Spec{Name: "restore", Arity: -3, Flags: shard.NoScript | shard.Write | shard.DenyOOM, Group: "scripting", Since: "7.0.0",
		Summary: "Restore all the functions on the given payload", Complexity: "O(N) where N is the number of functions on the payload",
		Syntax: "serialized-value [FLUSH|APPEND|REPLACE]"},
		run: cmdFunctionRestore}
)

func cmdFunctionDump(c *client, args [][]byte) {
	r := &c.srv.scripts.funcs
	r.mu.Lock()
	libs := make([]*library, 0, len(r.libs))
	for _, lib := range r.libs {
		libs = append(libs, lib)
	}
	r.mu.Unlock()
	// Redis writes its libraries in hash table order; name order is as
	// good and stable.
	sort.Slice(libs, func(i, j int) bool { return libs[i].name < libs[j].name })
	var p []byte
	for _, lib := range libs {
		p = rdb.AppendRawString(append(p, rdbOpFunction2), lib.code)
	}
	c.replyBulk(rdb.Seal(p))
}

// functionSyntaxError is Redis's reply to a FUNCTION subcommand given
// more arguments than it takes but within its arity.
func functionSyntaxError(c *client, args [][]byte) {
	c.replyError("ERR unknown subcommand or wrong number of arguments for '" +
		string(cString(args[1], 128)) + "'. Try FUNCTION HELP.")
}

type restorePolicy uint8

const (
	restoreAppend restorePolicy = iota
	restoreReplace
	restoreFlush
)

func cmdFunctionRestore(c *client, args [][]byte) {
	if len(args) > 4 {
		functionSyntaxError(c, args)
		return
	}
	policy := restoreAppend
	if len(args) == 4 {
		switch p := string(args[3]); {
		case strings.EqualFold(p, "append"):
		case strings.EqualFold(p, "replace"):
			policy = restoreReplace
		case strings.EqualFold(p, "flush"):
			policy = restoreFlush
		default:
			c.replyError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
			return
		}
	}
	payload := args[2]
	if _, err := rdb.Verify(payload); err != nil {
		c.replyError(shard.ErrBadPayload)
		return
	}
	e := &c.srv.scripts
	libs, funcs, msg := e.decodeLibraries(payload)
	if msg == "" {
		msg = e.funcs.join(libs, funcs, policy)
	}
	if msg != "" {
		c.replyError(msg)
		return
	}
	c.replyOK()
}

// decodeLibraries compiles every library of a verified payload, as a set
// of its own: they must not collide with each other. As in Redis, the
// libraries are read from the whole payload until no more than its
// 10-byte footer is left, so a malformed one may run into the footer.
func (e *scriptEngine) decodeLibraries(payload []byte) ([]*library, map[string]*function, string) {
	var libs []*library
	names := map[string]bool{}
	funcs := map[string]*function{}
	for rest := payload; len(rest) > 10; {
		op := rest[0]
		rest = rest[1:]
		var code, msg string
		switch op {
		case rdbOpFunction2:
			var err error
			if code, rest, err = rdb.ReadString(rest); err != nil {
				msg = "ERR Failed loading library payload"
			}
		case rdbOpFunction:
			code, rest, msg = readOldLibrary(rest)
		default:
			msg = "ERR given type is not a function"
		}
		if msg != "" {
			return nil, nil, msg
		}
		name, msg := parseShebang(code)
		if msg != "" {
			return nil, nil, msg
		}
		if names[name] {
			return nil, nil, "ERR Library '" + name + "' already exists"
		}
		lib, msg := e.compileLibrary(name, code)
		if msg != "" {
			return nil, nil, msg
		}
		for _, f := range lib.funcs {
			if funcs[strings.ToLower(f.name)] != nil {
				return nil, nil, "ERR Function " + f.name + " already exists"
			}
		}
		for _, f := range lib.funcs {
			funcs[strings.ToLower(f.name)] = f
		}
		names[name] = true
		libs = append(libs, lib)
	}
	return libs, funcs, ""
}

// readOldLibrary reads a library in the format of Redis 7.0's release
// candidates (name, engine, optional description, body) and returns the
// code it stands for: the body under a shebang line naming the engine and
// the library.
func readOldLibrary(b []byte) (string, []byte, string) {
	name, b, err := rdb.ReadString(b)
	if err != nil {
		return "", b, "ERR Failed loading library name"
	}
	engine, b, err := rdb.ReadString(b)
	if err != nil {
		return "", b, "ERR Failed loading engine name"
	}
	hasDesc, b, err := rdb.ReadLength(b)
	if err != nil {
		return "", b, "ERR Failed loading library description indicator"
	}
	if hasDesc != 0 {
		if _, b, err = rdb.ReadString(b); err != nil {
			return "", b, "ERR Failed loading library description"
		}
	}
	body, b, err := rdb.ReadString(b)
	if err != nil {
		return "", b, "ERR Failed loading library blob"
	}
	return "#!" + engine + " name=" + name + "\n" + body, b, ""
}

// join installs restored libraries, whose functions are funcs, by
// policy: FLUSH replaces every library; APPEND fails if a library
// exists; REPLACE replaces the libraries of the same names. Either way it
// fails, changing nothing, if a function name is taken by a library that
// stays.
func (r *functionRegistry) join(libs []*library, funcs map[string]*function, policy restorePolicy) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if policy == restoreFlush {
		r.libs = make(map[string]*library, len(libs))
		r.funcs = funcs
		for _, lib := range libs {
			r.libs[lib.name] = lib
		}
		r.gen.Add(1)
		return ""
	}
	var replaced map[*library]bool
	for _, lib := range libs {
		old := r.libs[lib.name]
		if old == nil {
			continue
		}
		if policy != restoreReplace {
			return "ERR Library " + lib.name + " already exists"
		}
		if replaced == nil {
			replaced = map[*library]bool{}
		}
		replaced[old] = true
	}
	for _, lib := range libs {
		for _, f := range lib.funcs {
			if g := r.funcs[strings.ToLower(f.name)]; g != nil && !replaced[g.lib] {
				return "ERR Function " + f.name + " already exists"
			}
		}
	}
	if r.libs == nil {
		r.libs, r.funcs = map[string]*library{}, map[string]*function{}
	}
	for old := range replaced {
		for _, f := range old.funcs {
			delete(r.funcs, strings.ToLower(f.name))
		}
		delete(r.libs, old.name)
	}
	for _, lib := range libs {
		for _, f := range lib.funcs {
			r.funcs[strings.ToLower(f.name)] = f
		}
		r.libs[lib.name] = lib
	}
	r.gen.Add(1)
	return ""
}

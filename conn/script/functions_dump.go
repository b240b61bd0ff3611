package script

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

// DumpFunctions returns FUNCTION DUMP's payload.
func (e *Engine) DumpFunctions() []byte {
	r := &e.funcs
	r.mu.Lock()
	libs := make([]*Library, 0, len(r.libs))
	for _, lib := range r.libs {
		libs = append(libs, lib)
	}
	r.mu.Unlock()
	// Redis writes its libraries in hash table order; name order is as
	// good and stable.
	sort.Slice(libs, func(i, j int) bool { return libs[i].name < libs[j].name })
	var p []byte
	for _, lib := range libs {
		p = rdb.AppendFunction(p, lib.code)
	}
	return rdb.Seal(p)
}

// RestorePolicy is FUNCTION RESTORE's way with existing libraries.
type RestorePolicy uint8

const (
	RestoreAppend RestorePolicy = iota
	RestoreReplace
	RestoreFlush
)

// RestoreFunctions installs the libraries of a FUNCTION DUMP payload by
// policy; it returns an error reply, or "".
func (e *Engine) RestoreFunctions(payload []byte, policy RestorePolicy) string {
	if _, err := rdb.Verify(payload); err != nil {
		return shard.ErrBadPayload
	}
	libs, funcs, msg := e.decodeLibraries(payload)
	if msg == "" {
		msg = e.funcs.join(libs, funcs, policy)
	}
	return msg
}

// decodeLibraries compiles every library of a verified payload, as a set
// of its own: they must not collide with each other. As in Redis, the
// libraries are read from the whole payload until no more than its
// 10-byte footer is left, so a malformed one may run into the footer.
func (e *Engine) decodeLibraries(payload []byte) ([]*Library, map[string]*Function, string) {
	var libs []*Library
	names := map[string]bool{}
	funcs := map[string]*Function{}
	for rest := payload; len(rest) > 10; {
		op := rest[0]
		rest = rest[1:]
		var code, msg string
		switch op {
		case rdb.OpFunction2: // the library code (Redis 7.0 GA)
			var err error
			if code, rest, err = rdb.ReadString(rest); err != nil {
				msg = "ERR Failed loading library payload"
			}
		case rdb.OpFunction: // name, engine, description and body (7.0 rc1, rc2)
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
func (r *functionRegistry) join(libs []*Library, funcs map[string]*Function, policy RestorePolicy) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if policy == RestoreFlush {
		r.libs = make(map[string]*Library, len(libs))
		r.funcs = funcs
		for _, lib := range libs {
			r.libs[lib.name] = lib
		}
		r.gen.Add(1)
		return ""
	}
	var replaced map[*Library]bool
	for _, lib := range libs {
		old := r.libs[lib.name]
		if old == nil {
			continue
		}
		if policy != RestoreReplace {
			return "ERR Library " + lib.name + " already exists"
		}
		if replaced == nil {
			replaced = map[*Library]bool{}
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
		r.libs, r.funcs = map[string]*Library{}, map[string]*Function{}
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

package config

import (
	"os"
	"slices"
	"strings"
	"sync"
)

// defs is the parameter table; byName maps every lower-case name and alias
// to its entry, and allNames lists those names, sorted, for glob matching.
var (
	defs     = params()
	byName   = map[string]entry{}
	allNames []string
)

// entry is one CONFIG-visible name: a parameter's own name or its alias.
// Redis treats the two as distinct entries (both are listed by CONFIG GET *,
// and naming both in one CONFIG SET is not a duplicate).
type entry struct {
	idx  int
	name string
}

func init() {
	for i, p := range defs {
		for _, n := range []string{p.name, p.alias} {
			if n == "" {
				continue
			}
			if _, dup := byName[n]; dup {
				panic("config: duplicate parameter " + n)
			}
			byName[n] = entry{i, n}
			allNames = append(allNames, n)
		}
	}
	slices.Sort(allNames)
}

func lookup(name string) (entry, bool) {
	e, ok := byName[strings.ToLower(name)]
	return e, ok
}

// Table holds the current value of every parameter. Create it with New; all
// methods are safe for concurrent use.
type Table struct {
	setMu sync.Mutex   // serializes Set and Load
	mu    sync.RWMutex // guards vals and hooks
	vals  []value
	// hooks by parameter index
	onChange map[int][]func(string)
	onApply  map[int][]func(string) error
	// extra names the directives of LoadFile's Extra, which CONFIG
	// REWRITE keeps as they are.
	extra  map[string]bool
	loaded map[int]bool // parameters LoadFile set
	// staged holds a Set's new values while its OnApply hooks run (Staged)
	staged map[int]string
}

// ctx is the view a setter gets: pending values of the current Set/Load
// layered over the table.
type ctx struct {
	t        *Table
	work     map[int]value
	loading  bool // Load: config-file semantics
	saveSeen bool
}

func (c *ctx) get(name string) value {
	e, _ := lookup(name)
	if v, ok := c.work[e.idx]; ok {
		return v
	}
	return c.t.vals[e.idx]
}

// New returns a table holding Redis 7.0's defaults; "dir" is the process's
// working directory.
func New() *Table {
	t := &Table{
		vals:     make([]value, len(defs)),
		onChange: map[int][]func(string){},
		onApply:  map[int][]func(string) error{},
	}
	c := &ctx{t: t}
	for i := range defs {
		p := &defs[i]
		if p.name == "dir" {
			wd, _ := os.Getwd()
			t.vals[i] = value{s: wd}
			continue
		}
		if p.kind == kindSpecial && p.def == "" {
			continue // e.g. replicaof: no master
		}
		v, msg := parse(p, p.def, c)
		if msg != "" {
			panic("config: bad default for " + p.name + ": " + msg)
		}
		t.vals[i] = v
	}
	return t
}

// Get returns name,value pairs for every parameter matching any of the
// patterns, like CONFIG GET. A pattern without glob characters ("*?[") is an
// exact, case-insensitive lookup and is echoed back as given (hidden
// parameters are reachable only this way); glob patterns match the
// lower-case names case-insensitively. Aliases are reported under the alias.
// Each name appears at most once. Results follow the patterns in turn, glob
// matches in name order (Redis uses its hash table's order).
func (t *Table) Get(patterns ...string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	seen := map[string]bool{}
	for _, pat := range patterns {
		if !strings.ContainsAny(pat, "[*?") {
			k := strings.ToLower(pat)
			if e, ok := byName[k]; ok && !seen[k] {
				seen[k] = true
				out = append(out, pat, t.vals[e.idx].s)
			}
			continue
		}
		for _, n := range allNames {
			e := byName[n]
			if defs[e.idx].flags&fHidden != 0 || seen[n] {
				continue
			}
			if Match(pat, n, true) {
				seen[n] = true
				out = append(out, n, t.vals[e.idx].s)
			}
		}
	}
	return out
}

// Set applies name,value pairs atomically like CONFIG SET from a non-local
// client: every pair is validated before anything changes, and on error the
// table is untouched. The error text is Redis's reply without the leading
// '-' or CRLF.
func (t *Table) Set(pairs ...string) error { return t.SetFrom(false, pairs...) }

// SetFrom is Set on behalf of a client; local reports whether it is
// connected over loopback or a unix socket, which matters when
// enable-protected-configs is "local".
func (t *Table) SetFrom(local bool, pairs ...string) error {
	if len(pairs) < 2 {
		return Error("ERR wrong number of arguments for 'config|set' command")
	}
	if len(pairs)%2 != 0 {
		return Error("ERR syntax error")
	}
	t.setMu.Lock()
	changes, err := t.prepare(local, pairs)
	if err == nil {
		t.stage(changes)
		err = t.apply(changes)
		t.stage(nil)
	}
	var fire []func()
	if err == nil {
		t.mu.Lock()
		for _, ch := range changes {
			t.vals[ch.idx] = ch.new
			for _, fn := range t.onChange[ch.idx] {
				fire = append(fire, func() { fn(ch.new.s) })
			}
		}
		t.mu.Unlock()
	}
	t.setMu.Unlock()
	for _, f := range fire {
		f()
	}
	return err
}

// DeniedWhileLoading reports whether CONFIG SET of the name,value pairs
// gets -LOADING while the server loads: as in Redis, the first parameter
// that fails its checks decides, and one Redis flags deny-loading
// (appendonly, dir, repl-diskless-load) fails with LOADING unless it is
// refused as immutable or protected first.
func (t *Table) DeniedWhileLoading(local bool, pairs ...string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := 0; i+1 < len(pairs); i += 2 {
		e, ok := lookup(pairs[i])
		if !ok {
			return false
		}
		f := defs[e.idx].flags
		if f&fImmutable != 0 || f&fProtected != 0 && !t.protectedAllowed(local) {
			return false
		}
		if f&fDenyLoading != 0 {
			return true
		}
	}
	return false
}

// change is a parameter whose value a Set alters.
type change struct {
	idx      int
	name     string // entry name first used for it
	old, new value
}

// prepare validates pairs the way configSetCommand does: names first (the
// first unknown, immutable, protected or duplicate one fails the call), then
// values in order.
func (t *Table) prepare(local bool, pairs []string) ([]change, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := len(pairs) / 2
	ents := make([]entry, n)
	for i := range n {
		name := pairs[2*i]
		e, ok := lookup(name)
		if !ok {
			return nil, newError("ERR Unknown option or number of arguments for CONFIG SET - '" + name + "'")
		}
		p := &defs[e.idx]
		if p.flags&fImmutable != 0 {
			return nil, setError(name, "can't set immutable config")
		}
		if p.flags&fProtected != 0 && !t.protectedAllowed(local) {
			return nil, setError(name, "can't set protected config")
		}
		for _, prev := range ents[:i] {
			if prev.name == e.name {
				return nil, setError(name, "duplicate parameter")
			}
		}
		ents[i] = e
	}
	c := &ctx{t: t, work: map[int]value{}}
	for i, e := range ents {
		v, msg := parse(&defs[e.idx], pairs[2*i+1], c)
		if msg != "" {
			return nil, setError(e.name, msg)
		}
		c.work[e.idx] = v
	}
	var changes []change
	for _, e := range ents {
		v, pending := c.work[e.idx]
		if !pending {
			continue // already recorded under its other name
		}
		delete(c.work, e.idx)
		if old := t.vals[e.idx]; old.s != v.s {
			changes = append(changes, change{e.idx, e.name, old, v})
		}
	}
	return changes, nil
}

func (t *Table) protectedAllowed(local bool) bool {
	e, _ := lookup("enable-protected-configs")
	switch t.vals[e.idx].n {
	case 1:
		return true
	case 2:
		return local
	}
	return false
}

// apply runs OnApply hooks for the changes; if one fails, hooks already run
// are called again with the old values and the Set fails.
func (t *Table) apply(changes []change) error {
	t.mu.RLock()
	hooks := make([][]func(string) error, len(changes))
	for i, ch := range changes {
		hooks[i] = slices.Clone(t.onApply[ch.idx])
	}
	t.mu.RUnlock()
	for i, ch := range changes {
		for k, fn := range hooks[i] {
			if err := fn(ch.new.s); err != nil {
				for _, undo := range hooks[i][:k] {
					_ = undo(ch.old.s)
				}
				for j := i - 1; j >= 0; j-- {
					for _, undo := range hooks[j] {
						_ = undo(changes[j].old.s)
					}
				}
				return setError(ch.name, err.Error())
			}
		}
	}
	return nil
}

// Load applies name,value pairs at startup, as redis.conf or command-line
// options would: immutable and protected parameters may be set, a name may
// repeat (the last wins, except that "save" lines accumulate), and hooks are
// not run. On error nothing changes; the error reads "<name>: <reason>".
func (t *Table) Load(pairs ...string) error {
	if len(pairs)%2 != 0 {
		return Error("wrong number of arguments")
	}
	t.setMu.Lock()
	defer t.setMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &ctx{t: t, work: map[int]value{}, loading: true}
	for i := 0; i < len(pairs); i += 2 {
		e, ok := lookup(pairs[i])
		if !ok {
			return Error(pairs[i] + ": Bad directive or wrong number of arguments")
		}
		v, msg := parse(&defs[e.idx], pairs[i+1], c)
		if msg != "" {
			return Error(e.name + ": " + msg)
		}
		c.work[e.idx] = v
	}
	for idx, v := range c.work {
		t.vals[idx] = v
	}
	return nil
}

// Value returns the canonical value of a parameter (name or alias, any
// case), or "" if there is no such parameter.
// stage records changes' new values for Staged while OnApply hooks run;
// nil ends that.
func (t *Table) stage(changes []change) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.staged = nil
	if len(changes) > 0 {
		t.staged = make(map[int]string, len(changes))
		for _, ch := range changes {
			t.staged[ch.idx] = ch.new.s
		}
	}
}

// Staged is Value as it will be once the Set whose OnApply hooks are
// running succeeds: a hook that checks several parameters together (the
// TLS files) sees all of that Set's new values, not only its own.
func (t *Table) Staged(name string) string {
	e, ok := lookup(name)
	if !ok {
		return ""
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if v, ok := t.staged[e.idx]; ok {
		return v
	}
	return t.vals[e.idx].s
}

func (t *Table) Value(name string) string {
	e, ok := lookup(name)
	if !ok {
		return ""
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.vals[e.idx].s
}

// Int returns a numeric parameter's value. Memory sizes are in bytes (values
// above 2^63-1, possible for maxmemory, wrap negative); a percentage (as
// maxmemory-clients accepts) is returned negated, e.g. -10 for "10%". For an
// enum it is the option's index in Redis's option list (synonyms share one;
// shutdown-on-sig* OR bit flags save=1, nosave=2, now=4, force=8), for
// notify-keyspace-events Redis's event flag bits, for a boolean 1 or 0.
// Other parameters give 0.
func (t *Table) Int(name string) int64 {
	e, ok := lookup(name)
	if !ok {
		return 0
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.vals[e.idx].n
}

// Bool reports whether a yes/no parameter is "yes".
func (t *Table) Bool(name string) bool {
	e, ok := lookup(name)
	if !ok || defs[e.idx].kind != kindBool {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.vals[e.idx].n != 0
}

// OnChange registers fn to run, outside any lock, after a Set changed the
// parameter (name or alias); fn gets the new canonical value. Callbacks of
// concurrent Sets may interleave. It panics on an unknown name.
func (t *Table) OnChange(name string, fn func(value string)) {
	idx := mustLookup(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onChange[idx] = append(t.onChange[idx], fn)
}

// OnApply registers fn to run during a Set that changes the parameter,
// after all values validated but before any is stored, like Redis's apply
// functions (rebinding a port, resizing a backlog...). A non-nil error fails
// the whole Set with "ERR CONFIG SET failed (possibly related to argument
// '<name>') - <err>", after hooks that already ran are called again with the
// old values. fn must not call Set or Load. It panics on an unknown name.
func (t *Table) OnApply(name string, fn func(value string) error) {
	idx := mustLookup(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onApply[idx] = append(t.onApply[idx], fn)
}

func mustLookup(name string) int {
	e, ok := lookup(name)
	if !ok {
		panic("config: unknown parameter " + name)
	}
	return e.idx
}

// Error is a CONFIG error; its text is the Redis error reply without the
// leading '-' and trailing CRLF.
type Error string

func (e Error) Error() string { return string(e) }

func setError(name, reason string) Error {
	msg := "ERR CONFIG SET failed (possibly related to argument '" + name + "')"
	if reason != "" {
		msg += " - " + reason
	}
	return newError(msg)
}

// newError blanks CR and LF as Redis does so the reply stays one line.
func newError(msg string) Error {
	return Error(strings.NewReplacer("\r", " ", "\n", " ").Replace(msg))
}

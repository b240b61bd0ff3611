package script

import (
	"bytes"
	"slices"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// Undeclared keys. Standalone Redis lets a script touch any key, and job
// queues and lock libraries build key names inside their scripts. A
// script runs holding (borrowing) shards so that no other client sees it
// half done; which shards it holds is learned per script (or function):
//
//   - Until one run has finished, it holds every shard.
//   - If a run touched only keys passed in KEYS, later runs hold only the
//     owners of their KEYS, and the other shards keep serving.
//   - If a run of such a script then needs another shard, it borrows it on
//     the spot when that shard's ID is above every ID it holds (the
//     ascending order that keeps borrowers from waiting on each other).
//     Otherwise, if it has not written yet, it stops with no effect and
//     runs again holding every shard. A script that has written waits for
//     the lower shard, but at most LowerShardWait (the shard's holder may
//     be waiting for one of the script's), and gets an error if it could
//     not take it.
//   - Any run that touches a key not in KEYS marks the script, and from
//     then on it holds every shard, as Redis does for all scripts.

// KeyScope is what runs of one script have shown about its keys.
type KeyScope struct {
	learned atomic.Bool // a run has finished
	wide    atomic.Bool // a run touched a key not in KEYS, or every shard
}

// HoldsAll reports whether the next run must hold every shard; if not,
// it holds the owners of its KEYS.
func (k *KeyScope) HoldsAll() bool { return !k.learned.Load() || k.wide.Load() }

// learn records a finished run.
func (k *KeyScope) learn(undeclared bool) {
	if undeclared {
		k.wide.Store(true)
	}
	k.learned.Store(true)
}

const errUndeclaredShard = "ERR Script attempted to access a key on a shard it could not take after writing: " +
	"it will hold every shard from its next run; pass every key a script uses in KEYS to avoid this"

// LowerShardWait bounds the wait of a script that has written for a shard
// below one it holds (a variable for tests).
var LowerShardWait = time.Second

// reach makes sure the script holds every shard cmd needs, borrowing
// more when that is safe, and notes keys not in KEYS. It returns an
// error reply, or "". When the script must start again holding every
// shard it raises an error that pcall cannot catch.
func (r *scriptRun) reach(L *lua.LState, cmd *shard.Command, args [][]byte) string {
	n := len(r.shards)
	need := r.need[:0]
	switch {
	case cmd.Flags&shard.AllShards != 0 || (cmd.NeedsAllShards != nil && cmd.NeedsAllShards(args)):
		r.undeclared = true
		for id := 0; id < n; id++ {
			need = append(need, id)
		}
	case cmd.Route != nil:
		need = append(need, cmd.Route(args, n))
	default:
		r.keyIdx = cmd.KeyIndexes(args, r.keyIdx[:0])
		for _, k := range r.keyIdx {
			if !r.declared(args[k]) {
				r.undeclared = true
			}
			need = append(need, shard.Owner(args[k], n))
		}
		if len(r.keyIdx) == 0 && r.holding() < 0 {
			need = append(need, 0) // a keyless command runs on any shard
		}
	}
	// Ascending, so that every shard above those held is borrowed in
	// the order that cannot deadlock.
	slices.Sort(need)
	need = slices.Compact(need)
	r.need = need
	for _, id := range need {
		if r.shards[id] != nil {
			continue
		}
		if msg := r.acquire(L, id); msg != "" {
			return msg
		}
	}
	return ""
}

// declared reports whether key is one of the script's KEYS.
func (r *scriptRun) declared(key []byte) bool {
	for _, k := range r.keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// holding returns the highest ID of a held shard, or -1.
func (r *scriptRun) holding() int {
	for id := len(r.shards) - 1; id >= 0; id-- {
		if r.shards[id] != nil {
			return id
		}
	}
	return -1
}

// acquire borrows shard id for the rest of the run, or stops the run to
// start again holding every shard (see the comment at the top).
func (r *scriptRun) acquire(L *lua.LState, id int) string {
	r.undeclared = true
	if r.inExec {
		return errUndeclaredShard // EXEC holds every shard already
	}
	if id > r.holding() {
		s, err := r.h.Take(id, 0, r.since.UnixNano())
		if err != nil {
			return "ERR server is shutting down"
		}
		r.across.Join(s) // r.shards[id] is s now
		return ""
	}
	if r.sideEffects {
		// Out of order: wait, but not forever, since the shard's holder
		// may be waiting for one of ours.
		s, err := r.h.Take(id, LowerShardWait, r.since.UnixNano())
		switch {
		case err != nil:
			return "ERR server is shutting down"
		case s == nil:
			return errUndeclaredShard
		}
		r.across.Join(s)
		return ""
	}
	r.restart = true
	L.RaiseError("the script needs every shard: starting it again")
	return ""
}

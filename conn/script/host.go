package script

import (
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Host is the connection a script runs for: it holds the shards and the
// command table. The engine calls it on the connection's goroutine, while
// the run lasts.
type Host interface {
	// Command finds a command called from a script, a container's
	// subcommand resolved; its Kind is Unknown when there is none.
	Command(args [][]byte) Command
	// Denied checks the call against the ACL permissions of the user
	// running the script: the error to raise, or "".
	Denied(cmd Command, args [][]byte) string
	// Allows reports whether the ACL lets the user running the script run
	// the call, without logging anything (redis.acl_check_cmd).
	Allows(cmd Command, args [][]byte) bool
	// Rejected counts a call refused before it ran (its rejected_calls).
	Rejected(cmd Command, args [][]byte)
	// Local runs a connection command (Kind Local) in database *db with
	// protocol proto, counts it in the command stats and appends its
	// reply to out. SELECT changes *db, the script's database.
	Local(cmd Command, args [][]byte, db *int, proto wire.Proto, out []byte) []byte
	// Take borrows shard id for the rest of the run, waiting at most
	// within (0: as long as it takes), and marks it busy since busySince
	// (Unix ns). It returns nil when the shard was not free in time, and
	// an error when the server is shutting down.
	Take(id int, within time.Duration, busySince int64) (*shard.Shard, error)
	// Busy marks the shards held busy since ns (Unix ns), or not (0).
	Busy(ns int64)
	// Stopping reports whether the server is shutting down.
	Stopping() bool
	// WritesRefused returns the error that refuses every write now (a
	// failed BGSAVE: MISCONF; too few replicas: NOREPLICAS), or "".
	WritesRefused() string
	// FlushedAll is called after a FLUSHALL the script ran succeeded,
	// with every shard held: the server cancels a BGSAVE and saves as
	// Redis's flushallCommand does.
	FlushedAll()
	// CountError counts an error reply in the error stats.
	CountError(msg string)
	// Panicked logs a command that panicked when a script called it.
	Panicked(cmd string, p any, stack []byte)
}

// Kind says how a script may run a command.
type Kind uint8

const (
	Unknown Kind = iota // no such command or subcommand
	Data                // a data command: runs on the shards held
	Local               // a connection command: Host.Local runs it
	Denied              // never from a script, like noscript (WATCH, MULTI, ...)
	Barrier             // a connection command that changes the connection (HELLO, ...): refused
)

// Command is what the engine needs to know of a command.
type Command struct {
	Kind Kind
	Spec *shard.Spec    // the command's, or the subcommand's: arity and flags
	Data *shard.Command // Kind Data: the command the shards run
	Ref  any            // the host's own handle, given back to Local and Rejected
}

// Call is one run of a script or function as the host starts it, holding
// the shards in Shards.
type Call struct {
	Script   *Script   // EVAL: the cached script
	Func     *Function // FCALL: the function
	Cmd      [][]byte  // FCALL: the command, a copy, for FUNCTION STATS
	Keys     [][]byte
	Args     [][]byte
	ReadOnly bool           // EVAL_RO, FCALL_RO or a no-writes script
	DB       int            // the connection's database
	Proto    wire.Proto     // the connection's protocol, for the reply
	Shards   []*shard.Shard // by ID: those held, nil for the others; Host.Take fills it
	Stamp    int64          // when the command arrived (shard.Across.Stamp)
	InExec   bool           // inside EXEC, which holds every shard
	OOM      bool           // over maxmemory when the run began
	Client   *shard.Client  // who runs it, for SLOWLOG (shard.Across.Client)
	Track    *shard.Tracker // the caller's tracker while tracking is on
	Remember bool           // reads remember Keys (shard.Across.Remember)
}

// Result is how a run ended, beyond its reply.
type Result struct {
	// Restart: the run stopped, with no effect and no reply, to be run
	// again holding every shard.
	Restart bool
	// Counted: the reply is an error already counted in the error stats
	// (by redis.call), not to be counted again.
	Counted bool
	// Gates: the blocked moves the script's writes woke, whose retries
	// the reply waits for (shard.Across.TakeGates).
	Gates []chan struct{}
}

// Redis's replies to a call refused for the server's state, which the
// host gives commands too.
const (
	ErrOOM        = "OOM command not allowed when used memory > 'maxmemory'."
	ErrNoReplicas = "NOREPLICAS Not enough good replicas to write."
	ErrMisconf    = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. " +
		"Commands that may modify the data set are disabled, because this instance is configured to report errors " +
		"during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs " +
		"for details about the RDB error."
)

package script

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// fakeHost is a Host with connection commands only and no shards.
type fakeHost struct {
	cmds       map[string]Command
	noReplicas bool
	dbs        []int // the database of each Local call
	rejected   []string
	errs       []string
	busy       []int64
}

func (h *fakeHost) Command(args [][]byte) Command            { return h.cmds[strings.ToLower(string(args[0]))] }
func (h *fakeHost) FlushedAll()                              {}
func (h *fakeHost) Denied(cmd Command, args [][]byte) string { return "" }

func (h *fakeHost) Allows(cmd Command, args [][]byte) bool { return true }

func (h *fakeHost) Rejected(cmd Command, args [][]byte) {
	h.rejected = append(h.rejected, cmd.Spec.Name)
}
func (h *fakeHost) Local(cmd Command, args [][]byte, db *int, proto wire.Proto, out []byte) []byte {
	h.dbs = append(h.dbs, *db)
	if cmd.Spec.Name == "select" {
		*db = 5
		return wire.AppendOK(out)
	}
	return wire.AppendSimple(out, "PONG")
}
func (h *fakeHost) Take(int, time.Duration, int64) (*shard.Shard, error) {
	return nil, errors.New("no shards")
}
func (h *fakeHost) Busy(ns int64)  { h.busy = append(h.busy, ns) }
func (h *fakeHost) Stopping() bool { return false }
func (h *fakeHost) WritesRefused() string {
	if h.noReplicas {
		return ErrNoReplicas
	}
	return ""
}
func (h *fakeHost) CountError(msg string)        { h.errs = append(h.errs, msg) }
func (h *fakeHost) Panicked(string, any, []byte) {}

func newFakeHost() *fakeHost {
	return &fakeHost{cmds: map[string]Command{
		"ping":   {Kind: Local, Spec: &shard.Spec{Name: "ping", Arity: -1}},
		"select": {Kind: Local, Spec: &shard.Spec{Name: "select", Arity: 2}},
		"watch":  {Kind: Denied, Spec: &shard.Spec{Name: "watch", Arity: -2}},
		"hello":  {Kind: Barrier, Spec: &shard.Spec{Name: "hello", Arity: -1}},
		"evil":   {Kind: Local, Spec: &shard.Spec{Name: "evil", Arity: 1, Flags: shard.Write}},
	}}
}

// The engine runs a script's calls through its Host only: lookups,
// connection commands (SELECT changing the script's database, not the
// caller's), refusals counted as rejected, errors counted once the run
// ends, and the shards marked busy for its length.
func TestRunThroughHost(t *testing.T) {
	var e Engine
	cases := []struct {
		body, reply string
		rejected    []string
		errs        int
	}{
		{"return redis.call('PING')", "+PONG\r\n", nil, 0},
		{"redis.call('SELECT', '5') return redis.call('PING')", "+PONG\r\n", nil, 0},
		{"return redis.pcall('NOSUCH')", "-ERR Unknown Redis command called from script\r\n", nil, 1},
		{"return redis.pcall('PING', 'a', 'b', 'c')", "+PONG\r\n", nil, 0},
		{"return redis.pcall('SELECT')", "-ERR Wrong number of args calling Redis command from script\r\n", []string{"select"}, 1},
		{"return redis.pcall('WATCH', 'k')", "-ERR This Redis command is not allowed from script\r\n", []string{"watch"}, 1},
		{"return redis.pcall('HELLO')", "-ERR This Redis command is not allowed from script\r\n", nil, 1},
		{"return redis.pcall('EVIL')", "-NOREPLICAS Not enough good replicas to write.\r\n", []string{"evil"}, 1},
	}
	for _, c := range cases {
		h := newFakeHost()
		h.noReplicas = true
		s, msg := e.Load(c.body)
		if s == nil {
			t.Fatal(msg)
		}
		out, res := e.Run(h, &Call{Script: s, DB: 2, Proto: wire.RESP2}, nil)
		if string(out) != c.reply || res.Restart {
			t.Errorf("%s: %q %+v, want %q", c.body, out, res, c.reply)
		}
		if strings.Join(h.rejected, ",") != strings.Join(c.rejected, ",") || len(h.errs) != c.errs {
			t.Errorf("%s: rejected %v, errors %v", c.body, h.rejected, h.errs)
		}
		if len(h.busy) != 2 || h.busy[0] == 0 || h.busy[1] != 0 {
			t.Errorf("%s: busy marks %v", c.body, h.busy)
		}
		if strings.Contains(c.body, "SELECT', '5'") && (len(h.dbs) != 2 || h.dbs[0] != 2 || h.dbs[1] != 5) {
			t.Errorf("%s: databases %v, want [2 5]", c.body, h.dbs)
		}
	}
	if e.Running() != 0 {
		t.Errorf("%d runs left running", e.Running())
	}
}

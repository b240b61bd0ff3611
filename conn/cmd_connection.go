package conn

import (
	"math"
	"strconv"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

func init() {
	registerLocal(
		&localCommand{Spec: shard.Spec{Name: "ping", Arity: -1, Flags: Fast,
			Group: "connection", Since: "1.0.0", Summary: "Returns the server's liveliness response.",
			Complexity: "O(1)", Syntax: "[message]"}, run: cmdPing, quick: true},
		&localCommand{Spec: shard.Spec{Name: "echo", Arity: 2, Flags: Fast | shard.Loading | shard.Stale,
			Group: "connection", Since: "1.0.0", Summary: "Returns the given string.",
			Complexity: "O(1)", Syntax: "message"}, run: cmdEcho, quick: true},
		&localCommand{Spec: shard.Spec{Name: "quit", Arity: -1, Flags: shard.AllowBusy | shard.NoAuth | shard.Fast | shard.Loading | shard.Stale | shard.NoScript,
			Group: "connection", Since: "1.0.0", Summary: "Closes the connection.", Complexity: "O(1)"}, run: cmdQuit, txControl: true},
		&localCommand{Spec: shard.Spec{Name: "select", Arity: 2, Flags: Fast | shard.Loading | shard.Stale,
			Group: "connection", Since: "1.0.0", Summary: "Changes the selected database.",
			Complexity: "O(1)", Syntax: "index"}, run: cmdSelect, barrier: true},
		&localCommand{Spec: shard.Spec{Name: "time", Arity: 1, Flags: Fast | shard.Loading | shard.Stale,
			Group: "server", Since: "2.6.0", Summary: "Returns the server time.", Complexity: "O(1)"}, run: cmdTime},
		&localCommand{Spec: shard.Spec{Name: "reset", Arity: 1, Flags: shard.NoScript | shard.Loading | shard.Stale | shard.NoAuth | shard.AllowBusy | shard.Fast,
			Group: "connection", Since: "6.2.0", Summary: "Resets the connection.", Complexity: "O(1)"}, run: cmdReset, barrier: true, txControl: true},
	)
}

// Fast is short for the flag most connection commands carry.
const Fast = shard.Fast

func cmdPing(c *client, args [][]byte) {
	if c.proto == wire.RESP2 && c.subscribed() && len(args) <= 2 {
		c.pingSubscribed(args)
		return
	}
	switch len(args) {
	case 1:
		c.replySimple("PONG")
	case 2:
		c.replyBulk(args[1])
	default:
		c.replyError(shard.ErrArity("ping"))
	}
}

func cmdEcho(c *client, args [][]byte) { c.replyBulk(args[1]) }

func cmdQuit(c *client, args [][]byte) {
	c.replyOK()
	c.closeAfter = true
}

func cmdSelect(c *client, args [][]byte) {
	n, ok := wire.ParseInt(args[1])
	if !ok {
		c.replyError(shard.ErrNotInt)
		return
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		c.replyError("ERR value is out of range, value must between -2147483648 and 2147483647")
		return
	}
	if n < 0 || n >= shard.NumDBs {
		c.replyError(shard.ErrDBIndex)
		return
	}
	c.db = int(n)
	c.info.mu.Lock()
	c.info.db = c.db
	c.info.mu.Unlock()
	c.replyOK()
}

func cmdTime(c *client, args [][]byte) {
	now := time.Now()
	var tmp [20]byte
	c.replyArray(2)
	c.replyBulk(strconv.AppendInt(tmp[:0], now.Unix(), 10))
	c.replyBulk(strconv.AppendInt(tmp[:0], int64(now.Nanosecond()/1000), 10))
}

func cmdReset(c *client, args [][]byte) {
	c.discardTx()
	c.unwatch()
	c.stopMonitor()
	c.disableTracking()
	if c.sub != nil {
		c.srv.hub.Drop(c.sub)
	}
	c.db = 0
	c.proto = wire.RESP2
	c.defaultAuth()
	c.info.mu.Lock()
	c.info.db, c.info.proto, c.info.name = 0, wire.RESP2, ""
	c.ident.SetName("")
	c.info.mu.Unlock()
	c.replySimple("RESET")
}

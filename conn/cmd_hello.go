package conn

import (
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// RedisVersion is the Redis release whose behaviour Valkyrie follows; it
// is what HELLO and INFO report so that clients enable the right features.
const RedisVersion = "7.0.15"

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "hello", Arity: -1,
		Flags: shard.NoScript | shard.Loading | shard.Stale | shard.NoAuth | shard.Fast | shard.AllowBusy,
		Group: "connection", Since: "6.0.0", Summary: "Handshakes with the Redis server.", Complexity: "O(1)",
		Syntax: "[protover [AUTH username password] [SETNAME clientname]]"}, run: cmdHello, barrier: true})
}

func cmdHello(c *client, args [][]byte) {
	proto := c.proto
	i := 1
	if len(args) > 1 {
		v, ok := wire.ParseInt(args[1])
		if !ok {
			c.replyError("ERR Protocol version is not an integer or out of range")
			return
		}
		if v < 2 || v > 3 {
			c.replyError("NOPROTO unsupported protocol version")
			return
		}
		proto = wire.Proto(v)
		i = 2
	}
	var name []byte
	setName := false
	for ; i < len(args); i++ {
		more := len(args) - 1 - i
		switch {
		case equalFold(args[i], "auth") && more >= 2:
			if !c.authenticate(args[i+1], args[i+2], args) {
				c.replyError(errWrongPass)
				return
			}
			i += 2
		case equalFold(args[i], "setname") && more >= 1:
			name, setName = args[i+1], true
			if msg := validName(name); msg != "" {
				c.replyError(msg)
				return
			}
			i++
		default:
			c.replyError("ERR Syntax error in HELLO option '" + string(cString(args[i], len(args[i]))) + "'")
			return
		}
	}
	if !c.authed && c.srv.acl.authRequired() {
		c.replyError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	c.proto = proto
	c.info.mu.Lock()
	c.info.proto = proto
	if setName {
		c.info.name = string(name)
		c.ident.SetName(c.info.name)
	}
	c.info.mu.Unlock()

	c.replyMap(7)
	c.replyBulkString("server")
	c.replyBulkString("redis")
	c.replyBulkString("version")
	c.replyBulkString(RedisVersion)
	c.replyBulkString("proto")
	c.replyInt(int64(proto))
	c.replyBulkString("id")
	c.replyInt(c.id)
	c.replyBulkString("mode")
	c.replyBulkString("standalone")
	c.replyBulkString("role")
	c.replyBulkString("master")
	c.replyBulkString("modules")
	c.replyArray(0)
}

// validName checks a client name as Redis does: printable ASCII without
// spaces. It returns the error reply, or "" when the name is fine.
func validName(name []byte) string {
	for _, ch := range name {
		if ch < '!' || ch > '~' {
			return "ERR Client names cannot contain spaces, newlines or special characters."
		}
	}
	return ""
}

// equalFold reports whether b equals the lower-case ASCII word w in any case.
func equalFold(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != w[i] {
			return false
		}
	}
	return true
}

package conn

import "github.com/valkyrie-kv/valkyrie/shard"

// PFSELFTEST checks Valkyrie's HyperLogLog register code and estimator
// (shard.HLLSelfTest). It touches no keys, so it runs on the connection's
// goroutine and holds up no shard for its second or so; Redis stops the
// whole server for it.

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "pfselftest", Arity: 1, Flags: shard.Admin,
		Group: "hyperloglog", Since: "2.8.9", Summary: "An internal command for testing HyperLogLog values",
		Complexity: "N/A"}, run: cmdPFSelfTest})
}

func cmdPFSelfTest(c *client, _ [][]byte) {
	if msg := shard.HLLSelfTest(); msg != "" {
		c.replyError(msg)
		return
	}
	c.replyOK()
}

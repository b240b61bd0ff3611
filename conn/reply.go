package conn

import "github.com/valkyrie-kv/valkyrie/wire"

// Reply helpers for connection commands: they append to the local buffer.

func (c *client) replyOK()                 { c.local = wire.AppendOK(c.local) }
func (c *client) replyError(msg string)    { c.local = wire.AppendError(c.local, msg) }
func (c *client) replyInt(n int64)         { c.local = wire.AppendInt(c.local, n) }
func (c *client) replyBulk(b []byte)       { c.local = wire.AppendBulk(c.local, b) }
func (c *client) replyBulkString(s string) { c.local = wire.AppendBulkString(c.local, s) }
func (c *client) replySimple(s string)     { c.local = wire.AppendSimple(c.local, s) }
func (c *client) replyNull()               { c.local = wire.AppendNull(c.local, c.proto) }
func (c *client) replyArray(n int)         { c.local = wire.AppendArray(c.local, n) }
func (c *client) replyMap(n int)           { c.local = wire.AppendMap(c.local, n, c.proto) }
func (c *client) replySet(n int)           { c.local = wire.AppendSet(c.local, n, c.proto) }

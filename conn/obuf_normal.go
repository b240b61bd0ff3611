package conn

import (
	"errors"

	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
)

// The normal class of client-output-buffer-limit. Valkyrie never holds
// more than about one segment's replies for a connection (a shard stops a
// batch at 4 MiB and the connection waits for the socket before going
// on), so memory is bounded without it; with it, as in Redis, a client
// whose pending replies pass the hard limit, or the soft limit for longer
// than its seconds, is disconnected instead of being waited for.

// setNormalLimit follows the parameter; a class of all zeros is none.
func (s *Server) setNormalLimit(v string) {
	l := pubsub.ParseClassLimit(v, "normal")
	if l == nil || l.Hard <= 0 && l.Soft <= 0 {
		l = nil
	}
	s.normalLimit.Store(l)
}

// overOutputLimit reports whether n bytes about to be written pass the
// normal class's limit; if so it counts and logs the disconnection, which
// the caller makes.
func (c *client) overOutputLimit(n int) bool {
	l := c.srv.normalLimit.Load()
	if l == nil || !l.Reached(int64(n), &c.softSince) {
		return false
	}
	c.srv.stats.obufDisconnects.Add(1)
	c.srv.log.Warn("Client closed for overcoming of output buffer limits.", "client", c.id, "pending", n)
	return true
}

var errOutputLimit = errors.New("conn: client output buffer limit reached")

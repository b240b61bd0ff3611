package conn

import (
	"errors"

	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
)

// The normal class of client-output-buffer-limit. A connection's output
// buffer is, as in Redis, the replies it made since its last read plus
// those still queued for the socket (outqueue.go): a client whose buffer
// passes the hard limit, or the soft limit for longer than its seconds, is
// closed, with nothing more sent. The server's cron checks the soft limit
// of queued replies too, so that a client that stopped sending commands
// is closed all the same.

// setNormalLimit follows the parameter; a class of all zeros is none.
func (s *Server) setNormalLimit(v string) {
	l := pubsub.ParseClassLimit(v, "normal")
	if l == nil || l.Hard <= 0 && l.Soft <= 0 {
		l = nil
	}
	s.normalLimit.Store(l)
}

// overOutputLimit reports whether an output buffer of n bytes passes the
// normal class's limit; if so it counts and logs the disconnection, which
// the caller makes.
func (c *client) overOutputLimit(n int64) bool {
	l := c.srv.normalLimit.Load()
	if l == nil {
		return false
	}
	c.oq.mu.Lock()
	reached := l.Reached(n, &c.oq.softSince)
	c.oq.mu.Unlock()
	if !reached {
		return false
	}
	c.obufClosed(n)
	return true
}

// obufClosed counts and logs a disconnection for the output limit.
func (c *client) obufClosed(n int64) {
	c.srv.stats.obufDisconnects.Add(1)
	c.srv.log.Warn("Client closed for overcoming of output buffer limits.", "client", c.id, "pending", n)
}

// dropOutput closes the connection at once, forgetting the replies it
// has queued (an output limit, CLIENT KILL, eviction). Any goroutine not
// holding the server's lock may call it. As Redis frees such a client at
// once, it leaves CLIENT LIST before its client can see the close.
func (c *client) dropOutput() {
	c.srv.mu.Lock()
	if c.srv.clients[c.id] == c {
		delete(c.srv.clients, c.id)
		c.srv.leaving[c.id] = c
	}
	c.srv.mu.Unlock()
	c.closing.Store(true)
	c.oq.drop()
	c.hangUp()
}

var errOutputLimit = errors.New("conn: client output buffer limit reached")

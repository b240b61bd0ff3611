package conn

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// MONITOR. A monitoring connection keeps its subscriber writer (the
// output queue pub/sub uses), and the server's list of those queues is
// what the feed writes to: shards push the line of every command they
// run, connections the lines of the commands they run themselves. When
// nobody monitors, the feed is off and costs one atomic load.

// monitors is the server's list of monitoring queues: written under mu,
// read through an atomic snapshot by whoever feeds.
type monitors struct {
	mu    sync.Mutex
	list  atomic.Pointer[[]*pubsub.Queue]
	clock *shard.Monitor
}

func (s *Server) startMonitors() {
	s.mon.clock = shard.NewMonitor(s.feedMonitors)
	for _, sh := range s.shards {
		sh.SetMonitor(s.mon.clock)
	}
}

// feedMonitors sends line to every monitor.
func (s *Server) feedMonitors(line []byte) {
	if p := s.mon.list.Load(); p != nil {
		for _, q := range *p {
			q.Push(line)
		}
	}
}

// isMonitor reports whether q is a monitoring connection's queue.
func (s *Server) isMonitor(q *pubsub.Queue) bool {
	p := s.mon.list.Load()
	return p != nil && slices.Contains(*p, q)
}

func (s *Server) addMonitor(q *pubsub.Queue) {
	m := &s.mon
	m.mu.Lock()
	defer m.mu.Unlock()
	var list []*pubsub.Queue
	if p := m.list.Load(); p != nil {
		list = slices.Clone(*p)
	}
	if !slices.Contains(list, q) {
		list = append(list, q)
	}
	m.list.Store(&list)
	m.clock.SetActive(true)
}

func (s *Server) removeMonitor(q *pubsub.Queue) {
	m := &s.mon
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.list.Load()
	if p == nil || !slices.Contains(*p, q) {
		return
	}
	list := slices.DeleteFunc(slices.Clone(*p), func(x *pubsub.Queue) bool { return x == q })
	m.list.Store(&list)
	m.clock.SetActive(len(list) > 0)
}

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "monitor", Arity: 1,
		Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "1.0.0", Summary: "Listen for all requests received by the server in real time",
		Complexity: ""}, run: cmdMonitorInExec, direct: cmdMonitor, barrier: true})
}

// cmdMonitorInExec is MONITOR queued in a transaction, refused as Redis
// refuses it there.
func cmdMonitorInExec(c *client, args [][]byte) {
	c.replyError("ERR MONITOR isn't allowed for DENY BLOCKING client")
}

// cmdMonitor starts monitor mode. The replies to the commands before it,
// and its +OK, go to the connection's queue before it joins the feed, so
// that no line of the feed overtakes them (pubsubDirect does the same for
// subscriptions).
func cmdMonitor(c *client, args [][]byte) {
	if c.monitoring {
		return // already monitoring: Redis ignores it, with no reply
	}
	c.settle()
	c.startPubSub()
	if !c.muted() {
		c.out = wire.AppendOK(c.out)
	}
	// Join the feed and queue the replies in one step under the queue's
	// lock: feed lines pushed meanwhile wait behind them, and the client
	// cannot read +OK before the feed includes it.
	q := c.sub.Queue()
	ok := q.PushAfter(c.out, func() { c.srv.addMonitor(q) })
	c.resetOut()
	c.sent()
	if !ok {
		c.srv.removeMonitor(q)
		c.closeAfter = true
		return
	}
	c.monitoring = true
}

// stopMonitor ends monitor mode (RESET, hang-up).
func (c *client) stopMonitor() {
	if c.monitoring {
		c.monitoring = false
		c.srv.removeMonitor(c.sub.Queue())
	}
}

// feedMonitor sends the line of a command the connection ran itself (or
// a script it runs called), unless its flags keep it out.
func (c *client) feedMonitor(spec *shard.Spec, args [][]byte) {
	if !c.srv.mon.clock.Active() {
		return
	}
	who := c.ident.Addr
	if c.inScript {
		who = "lua"
	}
	c.srv.mon.clock.Feed(spec, c.db, who, redactArgs(spec.Name, args))
}

// feedMonitorFirst sends the line of EVAL, EVALSHA or FCALL before it
// runs (they skip the feed after), so that the commands the script calls
// follow it.
func (c *client) feedMonitorFirst(args [][]byte) {
	if c.srv.mon.clock.Active() {
		c.srv.mon.clock.Feed(nil, c.db, c.ident.Addr, args)
	}
}

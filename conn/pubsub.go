package conn

import (
	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// Pub/Sub glue: the hub, the subscriber records and the output queue live
// in package pubsub; here are the commands and what a connection does
// with them. Once a connection has subscribed (or monitors), every byte it
// sends goes through its queue (client.write).

// keyspaceEvents is a shard's batch of keyspace notifications as the hub
// takes it: the channel names are made on the hub's goroutine.
type keyspaceEvents []shard.Event

func (evs keyspaceEvents) Emit(publish func(channel, message string)) {
	for i := range evs {
		e := &evs[i]
		if e.Flags&shard.NotifyKeyspace != 0 {
			publish(shard.KeyspaceChannel(e), e.Type)
		}
		if e.Flags&shard.NotifyKeyevent != 0 {
			publish(shard.KeyeventChannel(e), e.Key)
		}
	}
}

// eventSink is the shards' event sink: it never blocks (Hub.TryEvents).
func (s *Server) eventSink(evs []shard.Event) { s.hub.TryEvents(keyspaceEvents(evs)) }

// startPubSub gives the connection its subscriber record and writer, in
// the pubsub output buffer class (a subscriber's or a monitor's).
func (c *client) startPubSub() {
	c.startQueue()
	c.sub.Queue().SetNormal(false)
}

// startQueue gives the connection its subscriber record and writer, in
// the normal output buffer class if it had none (CLIENT TRACKING's
// pushes need the queue, but do not make the client a subscriber).
func (c *client) startQueue() {
	if c.sub == nil {
		// Replies still queued for the socket go first: the new
		// queue's writer takes the socket once they are written. The
		// connection does not wait for that here: it may hold shards
		// (EXEC) or its push lock (adoptPushes), and its client may
		// never read.
		q := pubsub.NewQueueAfter(c.nc, &c.srv.queueCfg, c.oq.writerDone())
		q.SetNormal(true)
		c.sub = pubsub.NewSubscriber(q)
		c.sub.SetBusy(c.busyBefore)
		c.subPtr.Store(c.sub)
	}
}

// busyBefore reports, from any goroutine, whether the connection may hold
// commands that arrived before a time (Unix ns): it is working on a
// segment read earlier, or bytes wait in its socket. A PUBLISH waits for
// those (pubsub.Hub.PublishAt), so that an UNSUBSCRIBE sent before it
// counts, as it would in Redis's single thread.
func (c *client) busyBefore(before int64) bool {
	if at := c.segmentAt.Load(); at < 0 {
		return false // blocked: what it read meanwhile runs after, as in Redis
	} else if at != 0 {
		return at <= before
	}
	return c.src.unread()
}

// pubsub returns the connection's subscriber record, or nil; any goroutine
// may call it.
func (c *client) pubsub() *pubsub.Subscriber { return c.subPtr.Load() }

// endPubSub forgets the connection's subscriptions and stops its writer
// after flushing. The connection goroutine's last act (Server.forget).
func (c *client) endPubSub() {
	if c.sub == nil {
		return
	}
	c.srv.hub.Drop(c.sub)
	c.sub.Queue().Stop()
}

// subscribed reports whether the connection is in RESP2 subscriber mode's
// sense subscribed to anything.
func (c *client) subscribed() bool { return c.sub != nil && c.sub.Total() > 0 }

// subModeAllowed reports whether a command may run in RESP2 subscriber
// mode.
func subModeAllowed(name string) bool {
	switch name {
	case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset":
		return true
	}
	return false
}

func subModeError(name string) string {
	return "ERR Can't execute '" + name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

// Commands.

const psFlags = shard.PubSub | shard.NoScript | shard.Loading | shard.Stale

func init() {
	sub := func(name string, arity int, kind pubsub.Kind, unsub bool, since, summary, syntax string, keys bool) *localCommand {
		lc := &localCommand{Spec: shard.Spec{Name: name, Arity: arity, Flags: psFlags, Group: "pubsub", Since: since,
			Summary: summary, Complexity: "O(N) where N is the number of channels to subscribe to.", Syntax: syntax}}
		if keys {
			lc.FirstKey, lc.LastKey, lc.Step = 1, -1, 1
		}
		lc.direct = func(c *client, args [][]byte) { c.pubsubDirect(kind, unsub, args) }
		lc.run = func(c *client, args [][]byte) { c.pubsubInline(kind, unsub, args) }
		return lc
	}
	pubsubSubs, pubsubSpecs := newSubcommands("pubsub",
		&subcommand{Spec: shard.Spec{Name: "channels", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "2.8.0",
			Summary: "Returns the active channels.", Complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", Syntax: "[pattern]"},
			run: func(c *client, args [][]byte) { c.pubsubChannels(pubsub.Channel, args) }},
		&subcommand{Spec: shard.Spec{Name: "shardchannels", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "7.0.0",
			Summary: "Returns the active shard channels.", Complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", Syntax: "[pattern]"},
			run: func(c *client, args [][]byte) { c.pubsubChannels(pubsub.Shard, args) }},
		&subcommand{Spec: shard.Spec{Name: "numsub", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "2.8.0",
			Summary: "Returns a count of subscribers to channels.", Complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels", Syntax: "[channel [channel ...]]"},
			run: func(c *client, args [][]byte) { c.pubsubNumsub(pubsub.Channel, args) }},
		&subcommand{Spec: shard.Spec{Name: "shardnumsub", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "7.0.0",
			Summary: "Returns the count of subscribers of shard channels.", Complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", Syntax: "[shardchannel [shardchannel ...]]"},
			run: func(c *client, args [][]byte) { c.pubsubNumsub(pubsub.Shard, args) }},
		&subcommand{Spec: shard.Spec{Name: "numpat", Arity: 2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "2.8.0",
			Summary: "Returns a count of unique pattern subscriptions.", Complexity: "O(1)"},
			run: func(c *client, args [][]byte) {
				c.replyInt(c.srv.hub.NumPat())
			}},
		&subcommand{Spec: shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale, Group: "pubsub", Since: "6.2.0",
			Summary: "Returns helpful text about the different subcommands.", Complexity: "O(1)"},
			run: func(c *client, args [][]byte) {
				c.replyHelp("PUBSUB",
					"CHANNELS [<pattern>]",
					"    Return the currently active channels matching a <pattern> (default: '*').",
					"NUMPAT",
					"    Return number of subscriptions to patterns.",
					"NUMSUB [<channel> ...]",
					"    Return the number of subscribers for the specified channels, excluding",
					"    pattern subscriptions(default: no channels).",
					"SHARDCHANNELS [<pattern>]",
					"    Return the currently active shard level channels matching a <pattern> (default: '*').",
					"SHARDNUMSUB [<shardchannel> ...]",
					"    Return the number of subscribers for the specified shard level channel(s)")
			}},
	)
	registerLocal(
		sub("subscribe", -2, pubsub.Channel, false, "2.0.0", "Listens for messages published to channels.", "channel [channel ...]", false),
		sub("unsubscribe", -1, pubsub.Channel, true, "2.0.0", "Stops listening to messages posted to channels.", "[channel [channel ...]]", false),
		sub("psubscribe", -2, pubsub.Pattern, false, "2.0.0", "Listens for messages published to channels that match one or more patterns.", "pattern [pattern ...]", false),
		sub("punsubscribe", -1, pubsub.Pattern, true, "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", "[pattern [pattern ...]]", false),
		sub("ssubscribe", -2, pubsub.Shard, false, "7.0.0", "Listens for messages published to shard channels.", "shardchannel [shardchannel ...]", true),
		sub("sunsubscribe", -1, pubsub.Shard, true, "7.0.0", "Stops listening to messages posted to shard channels.", "[shardchannel [shardchannel ...]]", true),
		&localCommand{Spec: shard.Spec{Name: "publish", Arity: 3, Flags: shard.PubSub | shard.Loading | shard.Stale | shard.Fast | shard.MayReplicate,
			Group: "pubsub", Since: "2.0.0", Summary: "Posts a message to a channel.",
			Complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
			Syntax:     "channel message"},
			run: func(c *client, args [][]byte) {
				c.publish(pubsub.Channel, args)
				// As Redis: replicas get it (their subscribers too), the AOF not.
				c.srv.journal.RecordForReplicas(args...)
			}},
		&localCommand{Spec: shard.Spec{Name: "spublish", Arity: 3, Flags: shard.PubSub | shard.Loading | shard.Stale | shard.Fast | shard.MayReplicate,
			Group: "pubsub", Since: "7.0.0", Summary: "Post a message to a shard channel",
			Complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
			Syntax:     "shardchannel message", FirstKey: 1, LastKey: 1, Step: 1},
			run: func(c *client, args [][]byte) {
				c.publish(pubsub.Shard, args)
				c.srv.journal.RecordForReplicas(args...)
			}},
		&localCommand{Spec: shard.Spec{Name: "pubsub", Arity: -2, Group: "pubsub", Since: "2.8.0",
			Summary: "A container for Pub/Sub commands.", Complexity: "Depends on subcommand.",
			Subcommands: pubsubSpecs}, run: func(c *client, args [][]byte) { pubsubSubs.dispatch(c, args) }},
	)
}

func psNames(args [][]byte) []string {
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = string(a)
	}
	return names
}

// pubsubDirect runs (P|S)(UN)SUBSCRIBE outside a transaction: replies
// queued before it are flushed into the connection's queue, then the hub
// registers the subscriptions and queues the confirmations in the same
// step, so no message can overtake them.
func (c *client) pubsubDirect(kind pubsub.Kind, unsub bool, args [][]byte) {
	if unsub && c.sub == nil {
		c.replyLocal(func() { c.pubsubInline(kind, unsub, args) })
		return
	}
	c.settle()
	if unsub {
		c.startQueue() // it has one: leaving does not make it a subscriber
	} else {
		c.startPubSub()
	}
	if c.write() != nil {
		c.closeAfter = true
		return
	}
	if _, ok := c.srv.hub.Subscribe(c.sub, kind, unsub, c.proto, psNames(args[1:]), false); !ok {
		c.closeAfter = true
	}
}

// pubsubInline runs them inside EXEC (or before the connection has a
// subscriber record): the confirmations join the local reply.
func (c *client) pubsubInline(kind pubsub.Kind, unsub bool, args [][]byte) {
	if c.sub == nil && unsub {
		// Nothing to leave: answer without bothering the hub.
		c.local = append(c.local, pubsub.UnsubscribeReply(kind, c.proto, psNames(args[1:]))...)
		return
	}
	if !unsub {
		c.startPubSub()
	}
	out, ok := c.srv.hub.Subscribe(c.sub, kind, unsub, c.proto, psNames(args[1:]), true)
	if !ok {
		c.closeAfter = true
		return
	}
	c.local = append(c.local, out...)
}

func (c *client) publish(kind pubsub.Kind, args [][]byte) {
	n, ok := c.srv.hub.PublishAt(kind, string(args[1]), string(args[2]), c.readAt, c.sub)
	if !ok {
		c.replyInt(0)
		return
	}
	c.replyInt(n)
}

func (c *client) pubsubChannels(kind pubsub.Kind, args [][]byte) {
	if len(args) > 3 {
		c.replyError("ERR unknown subcommand or wrong number of arguments for '" + string(args[1]) + "'. Try PUBSUB HELP.")
		return
	}
	pattern := ""
	if len(args) == 3 {
		pattern = string(args[2])
	}
	names := c.srv.hub.Channels(kind, pattern)
	c.replyArray(len(names))
	for _, n := range names {
		c.replyBulkString(n)
	}
}

func (c *client) pubsubNumsub(kind pubsub.Kind, args [][]byte) {
	names := psNames(args[2:])
	counts := c.srv.hub.NumSub(kind, names)
	c.replyArray(2 * len(names))
	for i, n := range names {
		c.replyBulkString(n)
		var k int64
		if i < len(counts) {
			k = counts[i]
		}
		c.replyInt(k)
	}
}

// pingSubscribed is PING in RESP2 subscriber mode: ["pong", message].
func (c *client) pingSubscribed(args [][]byte) {
	c.replyArray(2)
	c.replyBulkString("pong")
	if len(args) > 1 {
		c.replyBulk(args[1])
	} else {
		c.replyBulkString("")
	}
}

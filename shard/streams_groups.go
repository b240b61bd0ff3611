package shard

import (
	"math"
	"strconv"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Consumer group commands: XGROUP, XREADGROUP (and XREAD, which shares its
// parsing and serving), XACK, XPENDING, XCLAIM, XAUTOCLAIM. XINFO's group
// parts are in streams.go. Blocking reads are in streams_blocking.go.

func init() {
	keyed := func(name string, arity int, flags Flag, since, summary, complexity, syntax string) *Spec {
		return &Spec{Name: "xgroup|" + name, Arity: arity, Flags: flags, FirstKey: 2, LastKey: 2, Step: 1,
			Group: "stream", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax}
	}
	stream := func(name string, arity int, flags Flag, since, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "stream", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax}, Run: run}
	}
	register(
		&Command{Spec: Spec{Name: "xgroup", Arity: -2, Group: "stream", Since: "5.0.0",
			Summary: "A container for consumer groups commands", Complexity: "Depends on subcommand.",
			Subcommands: []*Spec{
				keyed("create", -5, Write|DenyOOM, "5.0.0", "Create a consumer group.", "O(1)",
					"key groupname <id|$> [MKSTREAM] [ENTRIESREAD entries_read]"),
				keyed("createconsumer", 5, Write|DenyOOM, "6.2.0", "Create a consumer in a consumer group.", "O(1)",
					"key groupname consumername"),
				keyed("delconsumer", 5, Write, "5.0.0", "Delete a consumer from a consumer group.", "O(1)",
					"key groupname consumername"),
				keyed("destroy", 4, Write, "5.0.0", "Destroy a consumer group.",
					"O(N) where N is the number of entries in the group's pending entries list (PEL).", "key groupname"),
				{Name: "xgroup|help", Arity: 2, Flags: Loading | Stale, Group: "stream", Since: "5.0.0",
					Summary: "Show helpful text about the different subcommands", Complexity: "O(1)"},
				keyed("setid", -5, Write, "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.", "O(1)",
					"key groupname <id|$> [ENTRIESREAD entries_read]"),
			}},
			Run: cmdXGroup, Keys: xinfoKeys},
		&Command{Spec: Spec{Name: "xreadgroup", Arity: -7, Flags: Write | Blocking, Group: "stream", Since: "5.0.0",
			Summary:    "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
			Complexity: "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.",
			Syntax:     "<GROUP group consumer> [COUNT count] [BLOCK milliseconds] [NOACK] <STREAMS key [key ...] id [id ...]>"},
			Run: func(c *Ctx) { xread(c, true) }, Keys: xreadKeys, NewWaiter: newXReadWaiter},
		stream("xack", -4, Write|Fast, "5.0.0",
			"Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
			"O(1) for each message ID processed.", "key group id [id ...]", cmdXAck),
		stream("xpending", -3, ReadOnly, "5.0.0",
			"Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
			"O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
			"key group [[IDLE min-idle-time] start end count [consumer]]", cmdXPending),
		stream("xclaim", -6, Write|Fast, "5.0.0",
			"Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
			"O(log N) with N being the number of messages in the PEL of the consumer group.",
			"key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]", cmdXClaim),
		stream("xautoclaim", -6, Write|Fast, "6.2.0",
			"Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
			"O(1) if COUNT is small.", "key group consumer min-idle-time start [COUNT count] [JUSTID]", cmdXAutoClaim),
	)
}

const (
	errXGroupNoKey    = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
	errBusyGroup      = "BUSYGROUP Consumer Group name already exists"
	errEntriesRead    = "ERR value for ENTRIESREAD must be positive or -1"
	errXReadGroupDol  = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
	errMissingGroup   = "ERR Missing GROUP option for XREADGROUP"
	errGroupGone      = "NOGROUP the consumer group this client was blocked on no longer exists"
	errStreamKeyGone  = "UNBLOCKED the stream key no longer exists"
	errAutoClaimCount = "ERR COUNT must be > 0"
)

func errNoGroupKey(key, group []byte) string {
	return "NOGROUP No such consumer group '" + string(group) + "' for key name '" + string(key) + "'"
}

func errNoKeyOrGroup(key, group []byte) string {
	return "NOGROUP No such key '" + string(key) + "' or consumer group '" + string(group) + "'"
}

// deferred runs body, which writes n items, and puts header(n) before
// what it wrote.
func (c *Ctx) deferred(header func(n int), body func() int) {
	start := len(c.Out)
	n := body()
	tail := append([]byte(nil), c.Out[start:]...)
	c.Out = c.Out[:start]
	header(n)
	c.Out = append(c.Out, tail...)
}

var xgroupHelp = []string{
	"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"CREATE <key> <groupname> <id|$> [option]",
	"    Create a new consumer group. Options are:",
	"    * MKSTREAM",
	"      Create the empty stream if it does not exist.",
	"    * ENTRIESREAD entries_read",
	"      Set the group's entries_read counter (internal use).",
	"CREATECONSUMER <key> <groupname> <consumer>",
	"    Create a new consumer in the specified group.",
	"DELCONSUMER <key> <groupname> <consumer>",
	"    Remove the specified consumer.",
	"DESTROY <key> <groupname>",
	"    Remove the specified group.",
	"SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
	"    Set the current group ID and entries_read counter.",
	"HELP",
	"    Prints this help.",
}

func cmdXGroup(c *Ctx) {
	sub := c.Args[1]
	var name string
	for _, n := range [...]string{"create", "setid", "destroy", "createconsumer", "delconsumer", "help"} {
		if equalFold(sub, n) {
			name = n
		}
	}
	if name == "" {
		c.Error("ERR unknown subcommand '" + truncate(argText(sub), 128) + "'. Try XGROUP HELP.")
		return
	}
	arity := map[string]int{"create": -5, "setid": -5, "destroy": 4, "createconsumer": 5, "delconsumer": 5, "help": 2}[name]
	if arity > 0 && len(c.Args) != arity || arity < 0 && len(c.Args) < -arity {
		c.Error(ErrArity("xgroup|" + name))
		return
	}
	if name == "help" {
		c.Array(len(xgroupHelp))
		for _, l := range xgroupHelp {
			c.Simple(l)
		}
		return
	}
	syntaxErr := func() {
		c.Error("ERR unknown subcommand or wrong number of arguments for '" + truncate(argText(sub), 128) + "'. Try XGROUP HELP.")
	}
	mkstream := false
	entriesRead := int64(invalidEntriesRead)
	for i := 5; i < len(c.Args); {
		a := c.Args[i]
		switch {
		case name == "create" && equalFold(a, "mkstream"):
			mkstream = true
			i++
		case (name == "create" || name == "setid") && equalFold(a, "entriesread") && i+1 < len(c.Args):
			n, ok := wire.ParseInt(c.Args[i+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			if n < 0 && n != invalidEntriesRead {
				c.Error(errEntriesRead)
				return
			}
			entriesRead = n
			i += 2
		default:
			syntaxErr()
			return
		}
	}
	key, gname := c.Args[2], c.Args[3]
	s, found, ok := c.streamAt(key)
	if !ok {
		return
	}
	var g *streamGroup
	if !mkstream {
		if !found {
			c.Error(errXGroupNoKey)
			return
		}
		if g = s.group(gname); g == nil && (name == "setid" || name == "createconsumer" || name == "delconsumer") {
			c.Error(errNoGroupKey(key, gname))
			return
		}
	}
	db := c.db(key)
	switch {
	case name == "create" && len(c.Args) <= 8:
		var id StreamID
		if a := c.Args[4]; len(a) == 1 && a[0] == '$' {
			if found {
				id = s.lastID
			}
		} else if id, _, ok = c.parseStreamID(a, 0, true, false); !ok {
			return
		}
		if !found {
			s = &Stream{born: c.stamp}
			c.store(key, s, false)
		}
		if s.createGroup(gname, id, entriesRead) == nil {
			c.Error(errBusyGroup)
			return
		}
		c.OK()
		c.changed = true
	case name == "setid" && (len(c.Args) == 5 || len(c.Args) == 7):
		var id StreamID
		if a := c.Args[4]; len(a) == 1 && a[0] == '$' {
			id = s.lastID
		} else if id, _, ok = c.parseStreamID(a, 0, false, false); !ok {
			return
		}
		g.lastID, g.entriesRead = id, entriesRead
		c.OK()
		c.changed = true
	case name == "destroy":
		if g == nil {
			c.Int(0)
			return
		}
		s.destroyGroup(gname)
		c.Int(1)
		c.changed = true
		c.signal(key) // blocked XREADGROUP clients get -NOGROUP
	case name == "createconsumer":
		if g.createConsumer(c.Args[4], c.Now) == nil {
			c.Int(0)
			return
		}
		c.Int(1)
		c.changed = true
	case name == "delconsumer":
		cons := g.consumer(c.Args[4], false, c.Now)
		if cons == nil {
			c.Int(0)
			return
		}
		pending := int64(len(cons.pel))
		g.deleteConsumer(cons)
		c.Int(pending)
		c.changed = true
	default:
		syntaxErr()
		return
	}
	_ = db
}

// xreadOpts are the parsed options of XREAD and XREADGROUP.
type xreadOpts struct {
	count           int64
	block           int64 // -1: no BLOCK
	group, consumer []byte
	noack           bool
	at, n           int // the keys are Args[at:at+n], their IDs follow
}

// parseXRead parses XREAD's or XREADGROUP's options, replying on error.
func (c *Ctx) parseXRead(group bool) (o xreadOpts, ok bool) {
	o.block = -1
	for i := 1; i < len(c.Args); i++ {
		more := len(c.Args) - i - 1
		a := c.Args[i]
		switch {
		case equalFold(a, "block") && more > 0:
			if c.script {
				// Redis names the command as the script spelled it.
				c.Error("ERR " + string(c.Args[0]) + " command is not allowed with BLOCK option from scripts")
				return o, false
			}
			i++
			t, ok := wire.ParseInt(c.Args[i])
			if !ok {
				c.Error(errTimeoutInt)
				return o, false
			}
			if t < 0 {
				c.Error(errTimeoutNeg)
				return o, false
			}
			if t > 0 && t > math.MaxInt64-c.Now {
				c.Error("ERR timeout is out of range")
				return o, false
			}
			o.block = t
		case equalFold(a, "count") && more > 0:
			i++
			v, ok := wire.ParseInt(c.Args[i])
			if !ok {
				c.Error(ErrNotInt)
				return o, false
			}
			o.count = max(v, 0)
		case equalFold(a, "streams") && more > 0:
			if more%2 != 0 {
				c.Error(errXReadUnbalanced)
				return o, false
			}
			o.at, o.n = i+1, more/2
			i = len(c.Args)
		case equalFold(a, "group") && more >= 2:
			if !group {
				c.Error(errXReadGroupOpt)
				return o, false
			}
			o.group, o.consumer = c.Args[i+1], c.Args[i+2]
			i += 2
		case equalFold(a, "noack"):
			if !group {
				c.Error(errXReadNoAck)
				return o, false
			}
			o.noack = true
		default:
			c.Error(ErrSyntax)
			return o, false
		}
	}
	if o.at == 0 {
		c.Error(ErrSyntax)
		return o, false
	}
	if group && o.group == nil {
		c.Error(errMissingGroup)
		return o, false
	}
	return o, true
}

// xreadGT marks the ">" ID of XREADGROUP.
var xreadGT = maxStreamID

// xread runs XREAD or XREADGROUP.
func xread(c *Ctx, group bool) {
	if group {
		// XREADGROUP records what it did to the group (xreadServe),
		// never its call.
		c.propagateNone()
	}
	o, ok := c.parseXRead(group)
	if !ok {
		return
	}
	var small [8]StreamID
	ids := small[:0]
	for i := 0; i < o.n; i++ {
		key, arg := c.Args[o.at+i], c.Args[o.at+o.n+i]
		var s *Stream
		var found, looked bool
		if late := o.block >= 0 && c.streamWentAway(key); late && group {
			if v, found := c.lookup(key); !found || !hasGroupNamed(v, o.group) {
				c.Error(errStreamKeyGone)
				return
			}
		} else if late {
			// Another type took the stream's place after this read
			// arrived: it waits as on a missing key (stream_gone.go).
			v, _ := c.lookup(key)
			s, found = v.(*Stream)
			looked = true
		}
		if !looked {
			var ok bool
			if s, found, ok = c.streamAt(key); !ok {
				return
			}
		}
		if group && (!found || s.group(o.group) == nil) {
			c.Error("NOGROUP No such key '" + string(key) + "' or consumer group '" + string(o.group) + "' in XREADGROUP with GROUP option")
			return
		}
		var id StreamID
		switch {
		case len(arg) == 1 && arg[0] == '$':
			if group {
				c.Error(errXReadGroupDol)
				return
			}
			if found && !c.streamBornAfter(s) {
				id = s.lastID
			}
		case len(arg) == 1 && arg[0] == '>':
			if !group {
				c.Error(errXReadGT)
				return
			}
			id = xreadGT
		default:
			if id, _, ok = c.parseStreamID(arg, 0, true, false); !ok {
				return
			}
		}
		ids = append(ids, id)
	}
	served := 0
	c.deferred(func(n int) {
		if n == 0 {
			return
		}
		if c.Proto == wire.RESP3 {
			c.Map(n)
		} else {
			c.Array(n)
		}
	}, func() int {
		for i := 0; i < o.n; i++ {
			if c.xreadServe(c.Args[o.at+i], ids[i], &o, false) {
				served++
			}
		}
		return served
	})
	if served > 0 {
		return
	}
	if o.block >= 0 && c.Waiter != nil {
		c.Waiter.xread.ids = append(c.Waiter.xread.ids[:0], ids...)
		c.block()
		return
	}
	c.NullArray()
}

// xreadServe replies [key, entries] (a map item in RESP3) for one stream
// of XREAD or XREADGROUP if it has something for the reader: entries
// after gt, the consumer's history for an explicit ID with a group, the
// entries after the group's last ID for ">". wrap adds the one-item
// array (or map) around it, for a blocked reader, and then always replies
// (its waiter's Ready judged that the key serves it).
func (c *Ctx) xreadServe(key []byte, gt StreamID, o *xreadOpts, wrap bool) bool {
	v, found := c.lookup(key)
	if !found {
		return false
	}
	s, isStream := v.(*Stream)
	if !isStream {
		return false
	}
	var g *streamGroup
	history := false
	if o.group != nil {
		if g = s.group(o.group); g == nil {
			return false
		}
		switch {
		case gt != xreadGT:
			history = true
		case wrap:
			// Served from the wait (Ready saw the last generated ID
			// pass the group's): reply even if the new entries were
			// deleted since, as Redis does.
			gt = g.lastID
		default:
			if s.length == 0 {
				return false
			}
			last, _ := s.Last()
			if !g.lastID.Less(last) {
				return false
			}
			gt = g.lastID
		}
	} else if !wrap {
		if s.length == 0 {
			return false
		}
		last, _ := s.Last()
		if !gt.Less(last) {
			return false
		}
	}
	if wrap {
		if c.Proto == wire.RESP3 {
			c.Map(1)
		} else {
			c.Array(1)
		}
	}
	if c.Proto != wire.RESP3 {
		c.Array(2)
	}
	c.Bulk(key)
	start, _ := gt.Next()
	var cons *streamConsumer
	if g != nil {
		var created bool
		if cons, created = g.lookupOrCreate(o.consumer, c.Now); created {
			c.db(key).emit(NotifyStream, "xgroup-createconsumer", string(key))
			if o.noack { // without NOACK, the XCLAIMs below make it
				c.propagateConsumer(key, o.group, o.consumer)
			}
		}
	}
	count := o.count
	if history {
		c.deferred(c.Array, func() int {
			n := 0
			for i := cons.pel.from(start); i < len(cons.pel) && (count == 0 || int64(n) < count); i++ {
				id := cons.pel[i]
				if s.Range(id, id, false, 1, func(e *streamEntry) bool {
					c.streamEntry(e)
					return false
				}) == 0 {
					c.Array(2)
					c.streamID(id)
					c.NullArray()
				} else {
					nack := g.nacks[id]
					nack.deliveryTime = c.Now
					nack.deliveryCount++
				}
				n++
			}
			return n
		})
		return true
	}
	advanced, journaling := false, g != nil && !o.noack && c.journaling()
	c.deferred(c.Array, func() int {
		return s.Range(start, maxStreamID, false, int(min(count, math.MaxInt32)), func(e *streamEntry) bool {
			if g != nil {
				if g.lastID.Less(e.ID) {
					s.advance(g, e.ID)
					advanced = true
				}
				if !o.noack {
					g.deliver(e.ID, cons, c.Now)
					if journaling {
						c.propagateXClaim(key, o.group, g, g.nacks[e.ID], nil, e.ID)
					}
				}
			}
			c.streamEntry(e)
			return true
		})
	})
	if advanced && o.noack {
		// No XCLAIM carried the group's new last ID.
		c.propagateGroupID(key, o.group, g)
	}
	return true
}

func cmdXAck(c *Ctx) {
	s, found, ok := c.streamAt(c.Args[1])
	if !ok {
		return
	}
	var g *streamGroup
	if found {
		g = s.group(c.Args[2])
	}
	if g == nil {
		c.Int(0)
		return
	}
	var small [16]StreamID
	ids, ok := c.parseStreamIDs(c.Args[3:], small[:0])
	if !ok {
		return
	}
	n := int64(0)
	for _, id := range ids {
		if g.ack(id) {
			n++
		}
	}
	c.Int(n)
}

func cmdXPending(c *Ctx) {
	key, gname := c.Args[1], c.Args[2]
	argc := len(c.Args)
	if argc != 3 && (argc < 6 || argc > 9) {
		c.Error(ErrSyntax)
		return
	}
	var start, end StreamID
	var count, minIdle int64
	var consName []byte
	if argc >= 6 {
		at := 3
		if equalFold(c.Args[3], "idle") {
			n, ok := wire.ParseInt(c.Args[4])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			minIdle = n
			if argc < 8 {
				c.Error(ErrSyntax)
				return
			}
			at += 2
		}
		n, ok := wire.ParseInt(c.Args[at+2])
		if !ok {
			c.Error(ErrNotInt)
			return
		}
		count = max(n, 0)
		if start, ok = c.rangeID(c.Args[at], 0); !ok {
			return
		}
		if a := c.Args[at]; len(a) > 1 && a[0] == '(' {
			if start, ok = start.Next(); !ok {
				c.Error(errXRangeStart)
				return
			}
		}
		if end, ok = c.rangeID(c.Args[at+1], ^uint64(0)); !ok {
			return
		}
		if a := c.Args[at+1]; len(a) > 1 && a[0] == '(' {
			if end, ok = end.Prev(); !ok {
				c.Error(errXRangeEnd)
				return
			}
		}
		if at+3 < argc {
			consName = c.Args[at+3]
		}
	}
	_, g, ok := c.groupAt(key, gname)
	if !ok {
		return
	}
	if argc == 3 {
		c.Array(4)
		c.Int(int64(len(g.pel)))
		if len(g.pel) == 0 {
			c.Null()
			c.Null()
			c.NullArray()
			return
		}
		c.streamID(g.pel[0])
		c.streamID(g.pel[len(g.pel)-1])
		c.deferred(c.Array, func() int {
			n := 0
			for _, cons := range g.consumers {
				if len(cons.pel) == 0 {
					continue
				}
				c.Array(2)
				c.BulkString(cons.name)
				c.BulkString(strconv.Itoa(len(cons.pel)))
				n++
			}
			return n
		})
		return
	}
	pel := g.pel
	if consName != nil {
		cons := g.consumer(consName, false, c.Now)
		if cons == nil {
			c.Array(0)
			return
		}
		pel = cons.pel
	}
	c.deferred(c.Array, func() int {
		n := 0
		for i := pel.from(start); count > 0 && i < len(pel) && pel[i].Cmp(end) <= 0; i++ {
			id := pel[i]
			nack := g.nacks[id]
			idle := c.Now - nack.deliveryTime
			if minIdle != 0 && idle < minIdle {
				continue
			}
			n++
			count--
			c.Array(4)
			c.streamID(id)
			c.BulkString(nack.consumer.name)
			c.Int(max(idle, 0))
			c.Int(nack.deliveryCount)
		}
		return n
	})
}

// groupAt returns the stream at key and its group gname, or replies
// NOGROUP (or WRONGTYPE) and reports false.
func (c *Ctx) groupAt(key, gname []byte) (*Stream, *streamGroup, bool) {
	s, found, ok := c.streamAt(key)
	if !ok {
		return nil, nil, false
	}
	var g *streamGroup
	if found {
		g = s.group(gname)
	}
	if g == nil {
		c.Error(errNoKeyOrGroup(key, gname))
		return nil, nil, false
	}
	return s, g, true
}

func cmdXClaim(c *Ctx) {
	c.propagateNone() // it records each claim (propagateXClaim)
	key, gname := c.Args[1], c.Args[2]
	s, g, ok := c.groupAt(key, gname)
	if !ok {
		return
	}
	minIdle, ok := wire.ParseInt(c.Args[4])
	if !ok {
		c.Error("ERR Invalid min-idle-time argument for XCLAIM")
		return
	}
	minIdle = max(minIdle, 0)
	var small [16]StreamID
	ids := small[:0]
	j := 5
	for ; j < len(c.Args); j++ {
		id, _, ok := parseStreamID(c.Args[j], 0, true, false)
		if !ok {
			break
		}
		ids = append(ids, id)
	}
	now := c.Now
	var lastID StreamID
	force, justID := false, false
	retry, delivery := int64(-1), int64(-1)
	for ; j < len(c.Args); j++ {
		more := len(c.Args) - 1 - j
		a := c.Args[j]
		intArg := func(what string) (int64, bool) {
			j++
			n, ok := wire.ParseInt(c.Args[j])
			if !ok {
				c.Error("ERR Invalid " + what + " option argument for XCLAIM")
			}
			return n, ok
		}
		switch {
		case equalFold(a, "force"):
			force = true
		case equalFold(a, "justid"):
			justID = true
		case equalFold(a, "idle") && more > 0:
			n, ok := intArg("IDLE")
			if !ok {
				return
			}
			delivery = now - n
		case equalFold(a, "time") && more > 0:
			n, ok := intArg("TIME")
			if !ok {
				return
			}
			delivery = n
		case equalFold(a, "retrycount") && more > 0:
			n, ok := intArg("RETRYCOUNT")
			if !ok {
				return
			}
			retry = n
		case equalFold(a, "lastid") && more > 0:
			j++
			id, _, ok := c.parseStreamID(c.Args[j], 0, true, false)
			if !ok {
				return
			}
			lastID = id
		default:
			c.Error("ERR Unrecognized XCLAIM option '" + string(a) + "'")
			return
		}
	}
	propagateLast := false
	if g.lastID.Less(lastID) {
		g.lastID = lastID
		propagateLast = true
	}
	if delivery == -1 || delivery < 0 || delivery > now {
		delivery = now
	}
	var cons *streamConsumer
	c.deferred(c.Array, func() int {
		n := 0
		for k, id := range ids {
			nack, pending := g.nacks[id]
			if !s.Has(id) {
				if pending {
					c.propagateXClaim(key, gname, g, nack, c.Args[5+k], id)
					propagateLast = false // the XCLAIM carries it
					g.ack(id)
				}
				continue
			}
			if force && !pending {
				nack = &streamNACK{}
				g.nacks[id] = nack
				g.pel.add(id)
				pending = true
			}
			if !pending {
				continue
			}
			if nack.consumer != nil && minIdle != 0 && now-nack.deliveryTime < minIdle {
				continue
			}
			cons = c.claim(key, s, g, cons, id, nack, delivery, retry, justID)
			c.propagateXClaim(key, gname, g, nack, c.Args[5+k], id)
			propagateLast = false
			n++
		}
		return n
	})
	if propagateLast {
		c.propagateGroupID(key, gname, g)
	}
}

// claim gives the pending entry id to the consumer named in c.Args[3]
// (cons, made on first use and returned), as XCLAIM and XAUTOCLAIM do, and
// replies with the entry or, with justID, its ID. retry >= 0 sets the
// delivery count (XCLAIM RETRYCOUNT); otherwise a claim that returns the
// entry counts as a delivery.
func (c *Ctx) claim(key []byte, s *Stream, g *streamGroup, cons *streamConsumer, id StreamID, nack *streamNACK, delivery, retry int64, justID bool) *streamConsumer {
	if cons == nil {
		var created bool
		if cons, created = g.lookupOrCreate(c.Args[3], c.Now); created {
			c.db(key).emit(NotifyStream, "xgroup-createconsumer", string(key))
		}
	}
	nack.deliveryTime = delivery
	if retry >= 0 {
		nack.deliveryCount = retry
	} else if !justID {
		nack.deliveryCount++
	}
	g.moveTo(id, nack, cons)
	if justID {
		c.streamID(id)
	} else {
		s.Range(id, id, false, 1, func(e *streamEntry) bool {
			c.streamEntry(e)
			return false
		})
	}
	return cons
}

func cmdXAutoClaim(c *Ctx) {
	c.propagateNone() // it records each claim (propagateXClaim)
	key, gname := c.Args[1], c.Args[2]
	minIdle, ok := wire.ParseInt(c.Args[4])
	if !ok {
		c.Error("ERR Invalid min-idle-time argument for XAUTOCLAIM")
		return
	}
	minIdle = max(minIdle, 0)
	start, ok := c.rangeID(c.Args[5], 0)
	if !ok {
		return
	}
	if a := c.Args[5]; len(a) > 1 && a[0] == '(' {
		if start, ok = start.Next(); !ok {
			c.Error(errXRangeStart)
			return
		}
	}
	count, justID := int64(100), false
	for j := 6; j < len(c.Args); j++ {
		a := c.Args[j]
		switch {
		case equalFold(a, "count") && j+1 < len(c.Args):
			n, ok := wire.ParseInt(c.Args[j+1])
			if !ok || n < 1 || n > math.MaxInt64/16 {
				c.Error(errAutoClaimCount)
				return
			}
			count = n
			j++
		case equalFold(a, "justid"):
			justID = true
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	s, g, ok := c.groupAt(key, gname)
	if !ok {
		return
	}
	now := c.Now
	attempts := count * 10
	var deleted []StreamID
	var cons *streamConsumer
	c.Array(3)
	var next StreamID
	c.deferred(func(n int) {
		c.streamID(next)
		c.Array(n)
	}, func() int {
		n := 0
		i := g.pel.from(start)
		for ; attempts > 0 && count > 0 && i < len(g.pel); i++ {
			attempts--
			id := g.pel[i]
			nack := g.nacks[id]
			if !s.Has(id) {
				c.propagateXClaim(key, gname, g, nack, nil, id)
				g.ack(id)
				i--
				deleted = append(deleted, id)
				count--
				continue
			}
			if minIdle != 0 && now-nack.deliveryTime < minIdle {
				continue
			}
			cons = c.claim(key, s, g, cons, id, nack, now, -1, justID)
			c.propagateXClaim(key, gname, g, nack, nil, id)
			n++
			count--
		}
		if i < len(g.pel) {
			next = g.pel[i]
		}
		return n
	})
	c.Array(len(deleted))
	for _, id := range deleted {
		c.streamID(id)
	}
}

// XINFO's group parts.

func (c *Ctx) xinfoConsumers(s *Stream, key, gname []byte) {
	g := s.group(gname)
	if g == nil {
		c.Error(errNoGroupKey(key, gname))
		return
	}
	c.Array(len(g.consumers))
	for _, cons := range g.consumers {
		c.Map(3)
		c.BulkString("name")
		c.BulkString(cons.name)
		c.BulkString("pending")
		c.Int(int64(len(cons.pel)))
		c.BulkString("idle")
		c.Int(max(c.Now-cons.seenTime, 0))
	}
}

func (c *Ctx) groupLag(s *Stream, g *streamGroup) {
	if lag, ok := s.lag(g); ok {
		c.Int(lag)
	} else {
		c.Null()
	}
}

func (c *Ctx) groupEntriesRead(g *streamGroup) {
	if g.entriesRead != invalidEntriesRead {
		c.Int(g.entriesRead)
	} else {
		c.Null()
	}
}

func (c *Ctx) xinfoGroups(s *Stream) {
	c.Array(len(s.groups))
	for _, g := range s.groups {
		c.Map(6)
		c.BulkString("name")
		c.BulkString(g.name)
		c.BulkString("consumers")
		c.Int(int64(len(g.consumers)))
		c.BulkString("pending")
		c.Int(int64(len(g.pel)))
		c.BulkString("last-delivered-id")
		c.streamID(g.lastID)
		c.BulkString("entries-read")
		c.groupEntriesRead(g)
		c.BulkString("lag")
		c.groupLag(s, g)
	}
}

func (c *Ctx) xinfoFullGroups(s *Stream, count int64) {
	limit := func(n int) int {
		if count > 0 && int64(n) > count {
			return int(count)
		}
		return n
	}
	c.Array(len(s.groups))
	for _, g := range s.groups {
		c.Map(7)
		c.BulkString("name")
		c.BulkString(g.name)
		c.BulkString("last-delivered-id")
		c.streamID(g.lastID)
		c.BulkString("entries-read")
		c.groupEntriesRead(g)
		c.BulkString("lag")
		c.groupLag(s, g)
		c.BulkString("pel-count")
		c.Int(int64(len(g.pel)))
		c.BulkString("pending")
		n := limit(len(g.pel))
		c.Array(n)
		for _, id := range g.pel[:n] {
			nack := g.nacks[id]
			c.Array(4)
			c.streamID(id)
			c.BulkString(nack.consumer.name)
			c.Int(nack.deliveryTime)
			c.Int(nack.deliveryCount)
		}
		c.BulkString("consumers")
		c.Array(len(g.consumers))
		for _, cons := range g.consumers {
			c.Map(4)
			c.BulkString("name")
			c.BulkString(cons.name)
			c.BulkString("seen-time")
			c.Int(cons.seenTime)
			c.BulkString("pel-count")
			c.Int(int64(len(cons.pel)))
			c.BulkString("pending")
			n := limit(len(cons.pel))
			c.Array(n)
			for _, id := range cons.pel[:n] {
				nack := g.nacks[id]
				c.Array(3)
				c.streamID(id)
				c.Int(nack.deliveryTime)
				c.Int(nack.deliveryCount)
			}
		}
	}
}

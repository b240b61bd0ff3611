package conn

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// CLIENT: the connection's own identity, and the list of connections.

const clientSubFlags = shard.NoScript | shard.Loading | shard.Stale

var clientSubs, clientSpecs = newSubcommands("client",
	clientSub(shard.Spec{Name: "id", Arity: 2, Flags: clientSubFlags, Group: "connection", Since: "5.0.0",
		Summary: "Returns the unique ID of the connection.", Complexity: "O(1)"}, cmdClientID),
	clientSub(shard.Spec{Name: "info", Arity: 2, Flags: clientSubFlags, Group: "connection", Since: "6.2.0",
		Summary: "Returns information about the connection.", Complexity: "O(1)"}, cmdClientInfo),
	clientSub(shard.Spec{Name: "getname", Arity: 2, Flags: clientSubFlags, Group: "connection", Since: "2.6.9",
		Summary: "Returns the name of the connection.", Complexity: "O(1)"}, cmdClientGetName),
	clientSub(shard.Spec{Name: "setname", Arity: 3, Flags: clientSubFlags, Group: "connection", Since: "2.6.9",
		Summary: "Sets the name of the connection.", Complexity: "O(1)", Syntax: "connection-name"}, cmdClientSetName),
	clientSub(shard.Spec{Name: "setinfo", Arity: 4, Flags: clientSubFlags, Group: "connection", Since: "7.2.0",
		Summary: "Sets information about the client library.", Complexity: "O(1)",
		Syntax: "LIB-NAME libname|LIB-VER libver"}, cmdClientSetInfo),
	clientSub(shard.Spec{Name: "list", Arity: -2, Flags: shard.Admin | clientSubFlags, Group: "connection", Since: "2.4.0",
		Summary: "Lists open connections.", Complexity: "O(N) where N is the number of client connections",
		Syntax: "[TYPE <NORMAL|MASTER|REPLICA|PUBSUB>] [ID client-id [client-id ...]]"}, cmdClientList),
	clientSub(shard.Spec{Name: "kill", Arity: -3, Flags: shard.Admin | clientSubFlags, Group: "connection", Since: "2.4.0",
		Summary: "Terminates open connections.", Complexity: "O(N) where N is the number of client connections",
		Syntax: "ip:port|[ID client-id] [TYPE <NORMAL|MASTER|SLAVE|REPLICA|PUBSUB>] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME <YES|NO>]"},
		cmdClientKill),
	clientSub(shard.Spec{Name: "no-evict", Arity: 3, Flags: shard.Admin | clientSubFlags, Group: "connection", Since: "7.0.0",
		Summary: "Sets the client eviction mode of the connection.", Complexity: "O(1)", Syntax: "ON|OFF"}, cmdClientNoEvict),
	clientSub(shard.Spec{Name: "reply", Arity: 3, Flags: clientSubFlags, Group: "connection", Since: "3.2.0",
		Summary: "Instructs the server whether to reply to commands.", Complexity: "O(1)", Syntax: "ON|OFF|SKIP"},
		cmdClientReply),
	clientSub(shard.Spec{Name: "pause", Arity: -3, Flags: shard.Admin | clientSubFlags, Group: "connection", Since: "2.9.50",
		Summary: "Stop processing commands from clients for some time", Complexity: "O(1)",
		Syntax: "timeout [WRITE|ALL]"}, cmdClientPause),
	clientSub(shard.Spec{Name: "unpause", Arity: 2, Flags: shard.Admin | clientSubFlags, Group: "connection", Since: "6.2.0",
		Summary: "Resume processing of clients that were paused", Complexity: "O(N) Where N is the number of paused clients"},
		cmdClientUnpause),
	clientSub(shard.Spec{Name: "unblock", Arity: -3, Flags: shard.Admin | clientSubFlags, Group: "connection", Since: "5.0.0",
		Summary:    "Unblocks a client blocked by a blocking command from a different connection.",
		Complexity: "O(log N) where N is the number of client connections", Syntax: "client-id [TIMEOUT|ERROR]"},
		cmdClientUnblock),
	clientSub(shard.Spec{Name: "tracking", Arity: -3, Flags: clientSubFlags, Group: "connection", Since: "6.0.0",
		Summary:    "Controls server-assisted client-side caching for the connection.",
		Complexity: "O(1). Some options may introduce additional complexity.",
		Syntax:     "ON|OFF [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]"}, cmdClientTracking),
	clientSub(shard.Spec{Name: "caching", Arity: 3, Flags: clientSubFlags, Group: "connection", Since: "6.0.0",
		Summary: "Instructs the server whether to track the keys in the next request.", Complexity: "O(1)", Syntax: "YES|NO"},
		cmdClientCaching),
	clientSub(shard.Spec{Name: "getredir", Arity: 2, Flags: clientSubFlags, Group: "connection", Since: "6.0.0",
		Summary: "Returns the client ID to which the connection's tracking notifications are redirected.", Complexity: "O(1)"},
		cmdClientGetRedir),
	clientSub(shard.Spec{Name: "trackinginfo", Arity: 2, Flags: clientSubFlags, Group: "connection", Since: "6.2.0",
		Summary: "Returns information about server-assisted client-side caching for the connection.", Complexity: "O(1)"},
		cmdClientTrackingInfo),
	clientSub(shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale, Group: "connection", Since: "5.0.0",
		Summary: "Returns helpful text about the different subcommands.", Complexity: "O(1)"}, cmdClientHelp),
)

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "client", Arity: -2, Group: "connection", Since: "2.4.0",
		Summary: "A container for client connection commands.", Complexity: "Depends on subcommand.",
		Subcommands: clientSpecs}, run: func(c *client, args [][]byte) { clientSubs.dispatch(c, args) },
		barrier: true})
}

// clientSub makes a table row whose handler first records the subcommand
// as the connection's last command, so CLIENT LIST shows "client|list".
func clientSub(spec shard.Spec, run func(c *client, args [][]byte)) *subcommand {
	s := &subcommand{Spec: spec}
	s.run = func(c *client, args [][]byte) {
		c.last = &s.Spec
		run(c, args)
	}
	return s
}

// publishInfo makes the last command, the time of the last interaction and
// the state of the buffers visible to other connections. serve calls it
// once per segment, after the commands ran and before their replies are
// written (so a client that saw a reply sees it in CLIENT LIST): one lock
// per read on the hot path, and one atomic store while replies wait.
func (c *client) publishInfo() {
	busy := c.commands > 0 || c.active
	if c.commands > 0 {
		c.srv.stats.commands.Add(c.commands) // once per segment, not per command
	}
	c.commands, c.active = 0, false
	now := time.Unix(0, shard.UnixNano())
	pending := c.pendingBytes()
	if pending > 0 {
		c.outPending.Store(int64(pending)) // write clears it
	}
	if now.Sub(c.peakSince) >= rbpWindow {
		c.outPeak, c.peakSince = 0, now
	}
	c.outPeak = max(c.outPeak, pending)
	multi, multiMem := -1, 0
	if c.tx.on {
		multi, multiMem = len(c.tx.calls), len(c.tx.buf)+argHeader*len(c.tx.args)
	}
	held := c.heldBytes() + c.stateMem()
	argvMem := c.rd.ArgBytes()
	c.info.mu.Lock()
	if busy { // a wake-up that read nothing is no interaction
		c.info.lastUsed = now
	}
	c.info.lastCmd = c.last
	c.info.qbuf, c.info.qbufSize, c.info.argvMem = c.rd.Unparsed(), c.rd.Size(), argvMem
	c.info.multi, c.info.multiMem = multi, multiMem
	c.info.rbs, c.info.rbp, c.info.held = cap(c.out), c.outPeak, held
	c.info.mu.Unlock()
}

// rbpWindow is how long CLIENT LIST's rbp keeps a peak, as Redis's reply
// buffer peak.
const rbpWindow = 5 * time.Second

// argHeader is what an argument costs besides its bytes: a slice header.
const argHeader = int(unsafe.Sizeof([]byte(nil)))

// clientSize is the connection's own record, counted in tot-mem.
const clientSize = int(unsafe.Sizeof(client{}))

func cmdClientID(c *client, args [][]byte) { c.replyInt(c.id) }

// Only this goroutine writes info, so it reads its own fields unlocked.

func cmdClientGetName(c *client, args [][]byte) {
	if c.info.name == "" {
		c.replyNull()
		return
	}
	c.replyBulkString(c.info.name)
}

func cmdClientSetName(c *client, args [][]byte) {
	if msg := validName(args[2]); msg != "" {
		c.replyError(msg)
		return
	}
	c.info.mu.Lock()
	c.info.name = string(args[2])
	c.ident.SetName(c.info.name)
	c.info.mu.Unlock()
	c.replyOK()
}

// cmdClientSetInfo follows Redis 7.2: the value has the same charset as a
// name, and an empty value clears the field.
func cmdClientSetInfo(c *client, args [][]byte) {
	attr := cString(args[2], len(args[2]))
	lib := equalFold(attr, "lib-name")
	if !lib && !equalFold(attr, "lib-ver") {
		c.replyError("ERR Unrecognized option '" + string(attr) + "'")
		return
	}
	if validName(args[3]) != "" {
		c.replyError("ERR " + string(attr) + " cannot contain spaces, newlines or special characters.")
		return
	}
	c.info.mu.Lock()
	if lib {
		c.info.libName = string(args[3])
	} else {
		c.info.libVer = string(args[3])
	}
	c.info.mu.Unlock()
	c.replyOK()
}

func cmdClientNoEvict(c *client, args [][]byte) {
	var on bool
	switch {
	case equalFold(args[2], "on"):
		on = true
	case equalFold(args[2], "off"):
	default:
		c.replyError(shard.ErrSyntax)
		return
	}
	c.info.mu.Lock()
	c.info.noEvict = on
	c.info.mu.Unlock()
	c.noEvict.Store(on)
	c.replyOK()
}

func cmdClientInfo(c *client, args [][]byte) {
	line := c.appendClientLine(nil, c, time.Now(), args)
	c.local = wire.AppendVerbatim(c.local, "txt", append(line, '\n'), c.proto)
}

// cmdClientList takes either TYPE type or ID id [id ...], as Redis 7.0.
func cmdClientList(c *client, args [][]byte) {
	c.catchUp()
	c.srv.evictClients() // one a pub/sub queue's growth asked for

	var list []*client
	switch {
	case len(args) == 2:
		list = c.srv.clientsByID()
	case len(args) == 4 && equalFold(args[2], "type"):
		t, ok := parseClientType(args[3])
		if !ok {
			c.replyError("ERR Unknown client type '" + string(cString(args[3], len(args[3]))) + "'")
			return
		}
		for _, cl := range c.srv.clientsByID() {
			if cl.kind() == t {
				list = append(list, cl)
			}
		}
	case len(args) > 3 && equalFold(args[2], "id"):
		ids := make([]int64, 0, len(args)-3)
		for _, a := range args[3:] {
			id, ok := wire.ParseInt(a)
			if !ok {
				c.replyError("ERR Invalid client ID")
				return
			}
			ids = append(ids, id)
		}
		c.srv.mu.Lock()
		for _, id := range ids {
			if cl := c.srv.clients[id]; cl != nil {
				list = append(list, cl)
			}
		}
		c.srv.mu.Unlock()
	default:
		c.replyError(shard.ErrSyntax)
		return
	}
	now := time.Now()
	var out []byte
	for _, cl := range list {
		out = c.appendClientLine(out, cl, now, args)
		out = append(out, '\n')
	}
	c.local = wire.AppendVerbatim(c.local, "txt", out, c.proto)
}

// clientKill is a CLIENT KILL filter; zero fields match every client.
type clientKill struct {
	id          int64
	kind        clientType
	anyKind     bool
	addr, laddr []byte
	skipMe      bool
	user        *aclUser // USER: connections authenticated as this user
}

// cmdClientKill takes the old form, CLIENT KILL ip:port, answered with OK
// or an error, or filter pairs, answered with the number of clients
// closed. A connection that kills itself gets its reply, then is closed.
func cmdClientKill(c *client, args [][]byte) {
	if len(args) == 3 {
		addr := string(args[2])
		for _, cl := range c.srv.clientsByID() {
			if cl.nc.RemoteAddr().String() == addr {
				c.kill(cl)
				c.replyOK()
				return
			}
		}
		if c.srv.killMasterLinkAt(addr) > 0 { // a replica's link to its master
			c.replyOK()
			return
		}
		c.replyError("ERR No such client")
		return
	}
	f := clientKill{anyKind: true, skipMe: true}
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.replyError(shard.ErrSyntax)
			return
		}
		opt, val := args[i], args[i+1]
		switch {
		case equalFold(opt, "id"):
			id, ok := wire.ParseInt(val)
			if !ok || id < 1 {
				c.replyError("ERR client-id should be greater than 0")
				return
			}
			f.id = id
		case equalFold(opt, "type"):
			t, ok := parseClientType(val)
			if !ok {
				c.replyError("ERR Unknown client type '" + string(cString(val, len(val))) + "'")
				return
			}
			f.kind, f.anyKind = t, false
		case equalFold(opt, "addr"):
			f.addr = val
		case equalFold(opt, "laddr"):
			f.laddr = val
		case equalFold(opt, "user"):
			if f.user = c.srv.acl.user(string(val)); f.user == nil {
				c.replyError("ERR No such user '" + string(cString(val, len(val))) + "'")
				return
			}
		case equalFold(opt, "skipme"):
			switch {
			case equalFold(val, "yes"):
				f.skipMe = true
			case equalFold(val, "no"):
				f.skipMe = false
			default:
				c.replyError(shard.ErrSyntax)
				return
			}
		default:
			c.replyError(shard.ErrSyntax)
			return
		}
	}
	n := int64(0)
	for _, cl := range c.srv.clientsByID() {
		if f.matches(c, cl) {
			c.kill(cl)
			n++
		}
	}
	if (f.anyKind || f.kind == clientMaster) && f.id == 0 && f.laddr == nil && f.user == nil && (f.addr != nil || !f.anyKind) {
		n += c.srv.killMasterLinkAt(string(f.addr)) // the link to the master is no client here (replica.go)
	}
	c.replyInt(n)
}

func (f *clientKill) matches(self, cl *client) bool {
	switch {
	case f.id != 0 && cl.id != f.id,
		!f.anyKind && cl.kind() != f.kind,
		f.addr != nil && cl.nc.RemoteAddr().String() != string(f.addr),
		f.laddr != nil && cl.nc.LocalAddr().String() != string(f.laddr),
		f.skipMe && cl == self:
		return false
	}
	if f.user != nil {
		cl.info.mu.Lock()
		u := cl.info.user
		cl.info.mu.Unlock()
		return u == f.user
	}
	return true
}

// kill closes cl's connection and, as Redis frees it at once, drops it
// from the list; its goroutine notices on its next read or write. The
// calling connection closes itself only after replying.
func (c *client) kill(cl *client) {
	if cl == c {
		c.closeAfter = true
		return
	}
	cl.killOutput() // drops it from the list too
}

func cmdClientHelp(c *client, args [][]byte) {
	c.replyHelp("CLIENT",
		"CACHING (YES|NO)",
		"    With tracking in OPTIN (YES) or OPTOUT (NO) mode, whether the keys the",
		"    next command reads are tracked.",
		"GETNAME",
		"    Return the name of this connection, or null when it has none.",
		"GETREDIR",
		"    Return the ID that tracking sends its invalidations to: 0 for this",
		"    connection, -1 when tracking is off.",
		"ID",
		"    Return the ID of this connection.",
		"INFO",
		"    Return a CLIENT LIST line describing this connection.",
		"KILL <ip:port>",
		"    Close the connection coming from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Close every connection matching all the options, which are:",
		"    * ADDR (<ip:port>|<unixsocket>:0)",
		"      The connection comes from this address.",
		"    * LADDR (<ip:port>|<unixsocket>:0)",
		"      The connection was made to this local address.",
		"    * ID <client-id>",
		"      The connection has this ID.",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      The connection is of this type.",
		"    * USER <username>",
		"      The connection is authenticated as this user.",
		"    * SKIPME (YES|NO)",
		"      Whether to spare the calling connection (default: yes).",
		"LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <client-id> [<client-id> ...]]",
		"    Return one line per connection, optionally only of one type or with",
		"    the given IDs.",
		"NO-EVICT (ON|OFF)",
		"    Exempt this connection from client eviction, or not.",
		"PAUSE <timeout> [WRITE|ALL]",
		"    Hold every command, or only those that may write, of all clients for",
		"    <timeout> milliseconds.",
		"SETINFO (LIB-NAME|LIB-VER) <value>",
		"    Record the name or version of the client library in use.",
		"SETNAME <name>",
		"    Set the name of this connection.",
		"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
		"         [OPTIN] [OPTOUT] [NOLOOP]",
		"    Turn server-assisted client-side caching on or off for this connection.",
		"TRACKINGINFO",
		"    Return this connection's tracking mode, redirect and prefixes.",
		"UNPAUSE",
		"    End a CLIENT PAUSE now.",
	)
}

// clientType is what CLIENT LIST TYPE and CLIENT KILL TYPE select on.
type clientType uint8

const (
	clientNormal clientType = iota
	clientReplica
	clientMaster
	clientPubSub
)

func parseClientType(b []byte) (clientType, bool) {
	switch {
	case equalFold(b, "normal"):
		return clientNormal, true
	case equalFold(b, "replica"), equalFold(b, "slave"):
		return clientReplica, true
	case equalFold(b, "master"):
		return clientMaster, true
	case equalFold(b, "pubsub"):
		return clientPubSub, true
	}
	return 0, false
}

// kind is the client's type: a replica's link (after SYNC or PSYNC), a
// connection subscribed to a channel or pattern while it is (Redis's
// CLIENT_PUBSUB), else a normal one. (A replica's own link to its master
// is no client here: CLIENT KILL TYPE master reaches it, replica.go.)
func (c *client) kind() clientType {
	if c.isReplica.Load() {
		return clientReplica
	}
	if c.subscribed2() {
		return clientPubSub
	}
	return clientNormal
}

// clientsByID returns the connected clients in ID order, which is the
// order they connected in.
func (s *Server) clientsByID() []*client {
	s.mu.Lock()
	list := make([]*client, 0, len(s.clients))
	for _, cl := range s.clients {
		list = append(list, cl)
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b *client) int { return cmp.Compare(a.id, b.id) })
	return list
}

// appendClientLine appends cl's CLIENT LIST line, without the newline, in
// Redis 7.0's field order. c is the connection asking and args its
// command: its own line shows the running command, no idle time and its
// buffers as they are now, as in Redis; other lines show them as of the
// end of the connection's last segment (publishInfo).
//
// The buffer fields, in Valkyrie's terms: qbuf the bytes received and not
// parsed (for c, from the first command of its segment on, as Redis keeps
// a read's commands until they all ran), qbuf-free the rest of the read
// buffer (0 once an idle connection dropped it), argv-mem the arguments of
// the running command or of one still arriving, multi and multi-mem what
// MULTI queued, rbs and rbp the reply buffer's size and its largest
// segment of replies over the last 5 seconds, obl the replies waiting for
// the socket, oll and omem the blocks and bytes in a pub/sub connection's
// output queue, and tot-mem all of the connection's buffers and record
// (the figure maxmemory-clients weighs, clientmem.go).
func (c *client) appendClientLine(b []byte, cl *client, now time.Time, args [][]byte) []byte {
	cl.info.mu.Lock()
	name, created, used := cl.info.name, cl.info.created, cl.info.lastUsed
	cmd, db, proto, noEvict := cl.info.lastCmd, cl.info.db, cl.info.proto, cl.info.noEvict
	qbuf, qbufSize, argvMem := cl.info.qbuf, cl.info.qbufSize, cl.info.argvMem
	multi, multiMem := cl.info.multi, cl.info.multiMem
	rbs, rbp, held := cl.info.rbs, cl.info.rbp, cl.info.held
	user := cl.info.user
	cl.info.mu.Unlock()
	obl := int(cl.outPending.Load())
	if cl == c {
		cmd, used = c.last, now
		qbuf, qbufSize, argvMem = c.rd.SinceFill(), c.rd.Size(), 0
		for _, a := range args {
			argvMem += len(a)
		}
		multi, multiMem = -1, 0
		if c.tx.on {
			multi, multiMem = len(c.tx.calls), len(c.tx.buf)+argHeader*len(c.tx.args)
		}
		rbs, rbp, held, obl = cap(c.out), max(c.outPeak, len(c.out)), c.heldBytes()+c.stateMem(), 0
	}
	var oll, omem int
	if sub := cl.pubsub(); sub != nil {
		omem, oll = sub.Queue().Pending()
	}
	if n := int(cl.oq.pending.Load()); n > 0 {
		omem += n
		oll++
	}
	b = append(b, "id="...)
	b = strconv.AppendInt(b, cl.id, 10)
	b = append(b, " addr="...)
	b = append(b, cl.nc.RemoteAddr().String()...)
	b = append(b, " laddr="...)
	b = append(b, cl.nc.LocalAddr().String()...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(clientFD(cl.nc)), 10)
	b = append(b, " name="...)
	b = append(b, name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(now.Sub(created)/time.Second), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, int64(max(0, now.Sub(used))/time.Second), 10)
	b = append(b, " flags="...)
	flags := len(b)
	if cl.isReplica.Load() {
		b = append(b, 'S')
	}
	var subs [3]int64
	if sub := cl.pubsub(); sub != nil {
		if c.srv.isMonitor(sub.Queue()) {
			b = append(b, 'O') // Redis's CLIENT_SLAVE|CLIENT_MONITOR
		}
		for i := range subs {
			subs[i] = sub.Subscriptions(pubsub.Kind(i))
		}
		if subs[0]+subs[1]+subs[2] > 0 {
			b = append(b, 'P')
		}
	}
	if multi >= 0 {
		b = append(b, 'x')
	}
	if cl.block.blocked.Load() {
		b = append(b, 'b')
	}
	b = cl.trackingFlags(b)
	if noEvict {
		b = append(b, 'e')
	}
	if len(b) == flags {
		b = append(b, 'N')
	}
	b = append(b, " db="...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, " sub="...)
	b = strconv.AppendInt(b, subs[0], 10)
	b = append(b, " psub="...)
	b = strconv.AppendInt(b, subs[1], 10)
	b = append(b, " ssub="...)
	b = strconv.AppendInt(b, subs[2], 10)
	b = append(b, " multi="...)
	b = strconv.AppendInt(b, int64(multi), 10)
	b = append(b, " qbuf="...)
	b = strconv.AppendInt(b, int64(qbuf), 10)
	b = append(b, " qbuf-free="...)
	b = strconv.AppendInt(b, int64(max(0, qbufSize-qbuf)), 10)
	b = append(b, " argv-mem="...)
	b = strconv.AppendInt(b, int64(argvMem), 10)
	b = append(b, " multi-mem="...)
	b = strconv.AppendInt(b, int64(multiMem), 10)
	b = append(b, " rbs="...)
	b = strconv.AppendInt(b, int64(rbs), 10)
	b = append(b, " rbp="...)
	b = strconv.AppendInt(b, int64(rbp), 10)
	b = append(b, " obl="...)
	b = strconv.AppendInt(b, int64(obl), 10)
	b = append(b, " oll="...)
	b = strconv.AppendInt(b, int64(oll), 10)
	b = append(b, " omem="...)
	b = strconv.AppendInt(b, int64(omem), 10)
	b = append(b, " tot-mem="...)
	// The arguments are in the read buffer, which held counts.
	b = strconv.AppendInt(b, int64(clientSize+held+multiMem+omem), 10)
	b = append(b, " events=r"...)
	if obl+omem > 0 {
		b = append(b, 'w')
	}
	b = append(b, " cmd="...)
	if cmd == nil {
		b = append(b, "NULL"...)
	} else {
		b = append(b, cmd.Name...)
	}
	b = append(b, " user="...)
	if user != nil {
		b = append(b, user.name...)
	}
	b = append(b, " redir="...)
	b = strconv.AppendInt(b, cl.trackingRedir(), 10)
	b = append(b, " resp="...)
	return strconv.AppendInt(b, int64(proto), 10)
}

// clientFD returns the socket's file descriptor, or -1 when it has none or
// is closed. It does not duplicate the descriptor.
func clientFD(nc net.Conn) int {
	sc, ok := tcpUnder(nc).(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil {
		return -1
	}
	return fd
}

// cmdClientUnblock wakes a client blocked in BLPOP and friends, as if its
// timeout had passed or with an UNBLOCKED error.
func cmdClientUnblock(c *client, args [][]byte) {
	if len(args) > 4 {
		c.replyError("ERR unknown subcommand or wrong number of arguments for '" +
			string(cString(args[1], 128)) + "'. Try CLIENT HELP.")
		return
	}
	withError := false
	if len(args) == 4 {
		switch {
		case equalFold(args[3], "timeout"):
		case equalFold(args[3], "error"):
			withError = true
		default:
			c.replyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
			return
		}
	}
	id, ok := wire.ParseInt(args[2])
	if !ok {
		c.replyError(shard.ErrNotInt)
		return
	}
	if c.srv.unblockClient(id, withError) {
		c.replyInt(1)
	} else {
		c.replyInt(0)
	}
}

// cmdClientReply switches replies on or off, or skips the next one.
func cmdClientReply(c *client, args [][]byte) {
	switch {
	case equalFold(args[2], "on"):
		c.reply = replyMode{}
		c.replyOK()
	case equalFold(args[2], "off"):
		c.reply.off = true
	case equalFold(args[2], "skip"):
		if !c.reply.off {
			c.reply.skipNext = true
		}
	default:
		c.replyError(shard.ErrSyntax)
	}
}

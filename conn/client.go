package conn

import (
	"bytes"
	"errors"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
	"github.com/valkyrie-kv/valkyrie/conn/rawsock"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// client is one connection. Its goroutine (serve) owns every field except
// those under info, which CLIENT LIST and INFO read from other goroutines.
type client struct {
	srv *Server
	nc  net.Conn
	rd  *wire.Reader
	id  int64

	db    int
	proto wire.Proto

	// lastName and lastEntry remember the last command looked up, as sent:
	// a pipeline of one command finds it without hashing its name.
	lastName  []byte
	lastEntry *entry

	// gates: blocked moves this connection's writes woke, which retry
	// across shards; its replies wait for them (see waitGates).
	gates []chan struct{}

	// The current pipeline segment: calls queued per shard, replies made
	// on this goroutine (local), and the order in which to send them.
	batches []*shard.Batch
	queued  []int // shard IDs with calls in this segment
	order   []slot
	local   []byte
	ends    []int // end offsets in local
	answers chan *shard.Batch
	out     []byte // bytes waiting for the socket

	// A segment settled for writing leaves its large replies where the
	// shards and this goroutine made them: pieces lists what to send, in
	// order, and write gathers them with one writev (see settleSegment).
	pieces  []piece
	iov     net.Buffers
	outMark int  // start in out of the bytes not yet in pieces
	unsent  bool // the segment's buffers wait for write before reuse

	// holdsBig: buffers above osmem.Keep that the last segment made good
	// use of are kept for the next one (see keepBig), until the connection
	// goes idle (dropIdleBuffers).
	holdsBig bool

	loans    []*shard.Loan
	borrowed []*shard.Shard
	keys     []int  // scratch for key positions
	want     []bool // scratch: shards a cross-shard command needs

	src stampedReader // the socket, with the arrival time of each read
	// holdReads's state: the command or parse error it stopped at, for
	// serve to take up; whether the connection must close; and its step.
	next      [][]byte
	nextErr   error
	holdClose bool
	holdStep  func() bool
	// inHold is set while holdReads runs a command; putBack is set by a
	// command that must wait (a pause that began after quick) and so
	// goes back, unrun, to serve's loop as c.next.
	inHold, putBack bool
	hungUp          atomic.Bool // another goroutine ended the connection (hangUp)
	readAt          int64       // when the bytes of the last read arrived (Unix ns): blocked clients queue in this order
	// loadTurn is one more than the load event point at which a refused
	// command was last answered (awaitLoadingTurn), 0 before any, and
	// loadRead the readAt of that command.
	loadTurn, loadRead int64

	closeAfter bool  // QUIT or a protocol error: flush, then close
	aofSync    bool  // a write ran: the next reply waits for the AOF (aof.go)
	aofWant    int64 // the journal offset its writes end at, if known
	// replConn is what REPLCONF and PSYNC asked for (repl.go); isReplica
	// is set while the connection is a replica's link.
	replConn  *replConn
	isReplica atomic.Bool
	// slowScript logs a script that runs past busy-reply-threshold.
	slowScript *time.Timer
	// fromAOF marks the loader's client, which runs an AOF's scripts.
	fromAOF  bool
	reply    replyMode
	commands int64 // commands since the last publishInfo
	block    blockState

	last *shard.Spec // last command looked up (nil if unknown), for CLIENT LIST

	tx txState // MULTI and WATCH

	// sub is the pub/sub record, made on the first subscribe; from then on
	// every write goes through its queue (pubsub.go).
	sub    *pubsub.Subscriber
	subPtr atomic.Pointer[pubsub.Subscriber] // sub, for other goroutines (CLIENT LIST)

	// trk is CLIENT TRACKING's state, made on the first ON; trkSink is
	// its sink, for other goroutines. push orders the invalidations
	// other goroutines push with the replies (tracking.go).
	// segmentAt is when the segment being worked on arrived (Unix ns),
	// 0 while the connection waits for input, -1 while it is blocked;
	// for busyBefore.
	segmentAt atomic.Int64
	// working is set, while the timeout parameter is on, from the read
	// of a segment until the connection waits for input again, and
	// writing is when a socket write began while working (Unix ns; 0
	// when none): the idle sweep closes no client that runs a command,
	// as Redis's cron cannot run during one, but does close one stuck
	// in a write for the timeout (cron.go).
	working atomic.Bool
	writing atomic.Int64
	// closing is set before the last reply goes out: a redirect to the
	// connection is then broken (tracking.go).
	closing atomic.Bool
	trk     *clientTracking
	trkSink atomic.Pointer[trackSink]
	push    pushState

	info clientInfo
	// active: bytes arrived since the last publishInfo, so the connection
	// was not idle even without a complete command.
	active bool
	// outPending is the reply bytes handed to the socket and not sent yet
	// (CLIENT LIST obl); set by publishInfo, cleared once write returns.
	outPending atomic.Int64
	// outPeak is the largest reply of a segment since peakSince (CLIENT
	// LIST rbp: Redis's reply buffer peak over the last 5 seconds).
	outPeak   int
	peakSince time.Time
	// idleWake: the server's cron woke the idle connection so that it
	// drops its buffers (cron.go).
	idleWake atomic.Bool
	// ident names the client in SLOWLOG entries logged by shards.
	ident shard.Client
	// monitoring: MONITOR was sent (cmd_monitor.go); inScript: a script
	// runs, so the commands it calls show as "lua" there.
	monitoring, inScript bool

	// errCounted: the reply being made is an error already in the error
	// stats (see slot.counted); replyLocal takes it.
	errCounted bool

	// user is the ACL user the connection runs as, authed whether it
	// authenticated (or needed not); info.user mirrors user (acl.go).
	user   *aclUser
	authed bool

	// rw writes to the socket without waiting (nil: TLS, which blocks);
	// oq holds the replies the socket did not take (outqueue.go).
	// sinceRead is the reply bytes made since the last read, which the
	// normal output limit counts as Redis's output buffer holds them.
	rw        *rawsock.Writer
	oq        outQueue
	sinceRead int
	// mem is what this connection last added to the server's client
	// memory (clientmem.go); -1 once it was evicted or left.
	mem     atomic.Int64
	noEvict atomic.Bool // CLIENT NO-EVICT, for the evictor
	evicted atomic.Bool
}

// slot says where the reply of one pipelined command comes from: a shard's
// batch, or the local buffer when shard is -1.
type slot struct {
	shard int32
	index int32
	mute  bool // CLIENT REPLY OFF or SKIP: run it, send nothing
	// counted: the command put its error reply in the error stats
	// itself (a script returning an error redis.call had counted).
	counted bool
}

// replyMode is the state CLIENT REPLY sets.
type replyMode struct {
	off            bool // CLIENT REPLY OFF
	skip, skipNext bool // CLIENT REPLY SKIP: mute the next command
}

func (c *client) muted() bool { return c.reply.off || c.reply.skip }

// clientInfo is what other goroutines may read about a connection.
type clientInfo struct {
	mu       sync.Mutex
	name     string
	libName  string
	libVer   string
	created  time.Time
	lastUsed time.Time
	lastCmd  *shard.Spec // c.last as of the end of the last segment
	user     *aclUser
	noEvict  bool
	db       int
	proto    wire.Proto

	// Buffers as of the end of the last segment (publishInfo), in
	// CLIENT LIST's terms.
	qbuf     int // bytes received and not parsed
	qbufSize int // the read buffer's size, 0 once dropped
	argvMem  int // finished arguments of a command still arriving
	multi    int // commands queued in MULTI, -1 outside
	multiMem int // bytes of the queued commands' arguments
	rbs, rbp int // reply buffer size, and its peak use lately
	held     int // bytes held by the connection's buffers (heldBytes)
}

func newClient(s *Server, nc net.Conn) *client {
	n := len(s.workers)
	c := &client{
		srv:      s,
		nc:       nc,
		id:       s.nextID.Add(1),
		proto:    wire.RESP2,
		batches:  make([]*shard.Batch, n),
		answers:  make(chan *shard.Batch, n),
		loans:    make([]*shard.Loan, n),
		borrowed: make([]*shard.Shard, n),
		want:     make([]bool, n),
	}
	c.block.unblock = make(chan bool, 1)
	if a := nc.RemoteAddr(); a != nil {
		c.ident.Addr = a.String()
	}
	c.src = newArrivalReader(nc)
	c.rw = rawsock.New(nc)
	c.oq.srv, c.oq.nc, c.oq.hangUp = s, nc, c.hangUp
	c.rd = wire.NewReader(c.src, wire.Limits{MaxBulk: s.maxBulk.Load(), MaxQuery: s.maxQbuf.Load()})
	for i := range c.batches {
		c.batches[i] = &shard.Batch{}
		c.loans[i] = shard.NewLoan()
	}
	now := time.Now()
	c.info.created, c.info.lastUsed, c.info.proto = now, now, wire.RESP2
	c.info.multi, c.info.qbufSize = -1, c.rd.Size()
	c.peakSince = now
	c.defaultAuth()
	return c
}

// serve reads commands until the connection closes. Every complete command
// already buffered joins the current segment; when the buffer runs dry the
// segment is dispatched, one batch per shard, and all replies are written
// with one write.
func (c *client) serve() {
	defer c.publishInfo() // count the last segment's commands
	defer c.recoverPanic()
	for {
		args, err := c.next, c.nextErr
		c.next, c.nextErr = nil, nil
		if args == nil && err == nil {
			c.rd.SetUnauthenticated(!c.authed && c.srv.acl.authRequired())
			args, err = c.rd.Next()
		}
		if err != nil {
			c.settle()
			if pe, ok := err.(wire.ProtocolError); ok {
				c.out = wire.AppendError(c.out, pe.Reply())
				c.srv.log.Debug("protocol error", "client", c.id, "err", pe.Error())
			}
			c.write()
			return
		}
		if args == nil {
			if !c.finishSegment() {
				return
			}
			if c.canHold() {
				if !c.holdReads() {
					return
				}
				continue
			}
			before := c.rd.Buffered()
			// A connection that dropped its buffers waits for bytes
			// before it makes a new read buffer.
			if c.rd.Size() == 0 && !c.src.waitReadable() {
				c.endIdleWake() // woken by a deadline
				continue
			}
			err = c.rd.Fill()
			if !c.afterRead(c.rd.Buffered()-before, err) {
				return
			}
			continue
		}
		c.execute(args)
		if c.closeAfter {
			c.settle()
			c.closing.Store(true)
			c.write()
			return
		}
		if c.replConn != nil && c.replConn.sync != nil {
			// SYNC or PSYNC: the connection becomes a replica's link.
			c.settle()
			if c.write() != nil {
				return
			}
			c.awaitQueue()
			c.serveReplica()
			return
		}
	}
}

// finishSegment ends a segment whose commands have all been read: it runs
// what is left, writes the replies and readies the connection for its
// next read. It reports false when the connection must close.
func (c *client) finishSegment() bool {
	c.settleSegment(true)
	c.publishInfo()
	if c.closeAfter {
		c.closing.Store(true)
	}
	if c.write() != nil || c.closeAfter {
		return false
	}
	// After the write: a reply past the output limit closes the client
	// before it counts toward maxmemory-clients.
	c.refreshMem()
	if c.trk != nil {
		c.releasePushes()
	}
	c.awaitQueue()
	if c.push.wake.Load() {
		c.adoptPushes()
	}
	c.rd.SetMaxBulk(c.srv.maxBulk.Load())
	c.rd.SetMaxQuery(c.srv.maxQbuf.Load())
	if c.segmentAt.Load() != 0 {
		c.segmentAt.Store(0) // waiting for input (busyBefore)
	}
	if c.working.Load() {
		c.working.Store(false)
	}
	return true
}

// afterRead does the bookkeeping of a read that added read bytes to the
// buffer (none when a deadline woke it) or failed with err. It reports
// false when the connection must close.
func (c *client) afterRead(read int, err error) bool {
	c.sinceRead = 0
	if read > 0 {
		c.srv.stats.netIn.Add(int64(read))
		c.active = true
	}
	if err == nil && c.hungUp.Load() {
		err = errHungUp
	}
	if err != nil {
		c.readFailed(err)
		return false
	}
	if c.idleWake.Load() && c.endIdleWake() && c.rd.Buffered() == 0 {
		c.dropIdleBuffers() // idle for idleAfter: see cron.go
	}
	if c.trk != nil && c.trk.on {
		c.holdPushes()
	}
	c.readAt = c.src.lastArrival()
	if read > 0 {
		c.segmentAt.Store(max(c.readAt, 1))
	}
	if read > 0 && c.srv.idleTimeout.Load() > 0 {
		c.working.Store(true)
	}
	return true
}

// errHungUp is a read's failure once another goroutine ended the
// connection (hangUp).
var errHungUp = errors.New("conn: connection closed by the server")

// hangUp ends the connection from any goroutine: the client sees the end
// at once, and the connection's goroutine stops at its next read and
// closes the socket. It does not wait for that goroutine.
func (c *client) hangUp() {
	c.hungUp.Store(true)
	c.src.hangUp(c.nc)
}

// canHold reports whether the connection may read its next segments
// inside holdReads: it has its read buffer, and nothing it is in the
// middle of (a transaction, subscriptions, tracking, a replica's link)
// needs the loop in serve.
func (c *client) canHold() bool {
	return c.rd.Size() > 0 && !c.tx.on && c.sub == nil && c.trk == nil &&
		c.replConn == nil && !c.idleWake.Load() && c.src.holds()
}

// holdReads serves segments of quick commands inside one wait of the
// network poller, which saves the read that would find nothing before
// each wait (see arrivalReader.hold). It returns to serve, reporting
// false when the connection must close, as soon as a command is not
// quick (c.next holds it), the buffer holds a protocol error (c.nextErr),
// or a deadline or a close ends the wait.
func (c *client) holdReads() bool {
	if c.holdStep == nil {
		c.holdStep = c.heldSegment
	}
	c.holdClose = false
	err := c.src.hold(c.holdStep)
	switch {
	case c.holdClose:
		return false
	case err == nil:
		return true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return c.afterRead(0, nil) // the wake-ups of cron.go and tracking.go
	}
	c.afterRead(0, err)
	return false
}

// heldSegment is one step of holdReads: one read and, when it brought
// bytes, the segment they complete. It reports false to leave holdReads.
func (c *client) heldSegment() bool {
	before := c.rd.Buffered()
	err := c.rd.Fill()
	if c.src.blocked() {
		return true // nothing to read: wait for the poller
	}
	if !c.afterRead(c.rd.Buffered()-before, err) {
		c.holdClose = true
		return false
	}
	for {
		c.rd.SetUnauthenticated(!c.authed && c.srv.acl.authRequired())
		args, err := c.rd.Next()
		if err != nil {
			c.nextErr = err
			return false
		}
		if args == nil {
			break
		}
		if !c.quick(args[0]) {
			c.next = args
			return false
		}
		c.inHold = true
		c.execute(args)
		c.inHold = false
		if c.putBack {
			c.putBack = false
			c.next = args
			return false
		}
	}
	if !c.finishSegment() {
		c.holdClose = true
		return false
	}
	return c.canHold()
}

// quick reports whether the command named may run inside holdReads: it
// waits for nothing but its shard, and nothing now would make it wait
// (a pause, DEBUG SLEEP, a load, appendfsync always).
func (c *client) quick(name []byte) bool {
	e := c.lastEntry
	if e == nil || !bytes.Equal(name, c.lastName) {
		e = lookup(name)
	}
	s := c.srv
	return e != nil && e.quick && s.paused.cur.Load() == nil && s.sleepGate.Load() == nil &&
		!s.persist.loading.Load() && !s.aof.wait.Load()
}

// idleAfter is how long a connection must have sent nothing before it
// drops its buffers, read buffer included: the server's cron wakes it
// (cron.go). Redis's clientsCron likewise frees the query buffer of a
// client idle for 2 seconds. Without it, every connection that once sent
// a large pipeline kept its grown read buffer, argument arena and batches
// forever: 1,000 idle connections held 560 MB after one 400 KB pipeline
// each; and 10,000 idle connections hold 160 MB of read buffers.
var idleAfter = 2 * time.Second // a variable for tests

// replyBase is the reply buffer size that counts as part of the client's
// record (heldBytes), as Redis's PROTO_REPLY_CHUNK_BYTES.
const replyBase = 16 << 10

// heldBytes reports roughly how many bytes the connection's buffers keep
// between segments. The reply buffers count beyond replyBase only, as
// Redis's client record holds a 16 KB reply buffer of its own: so the
// figure does not move with every small reply (tot-mem, clientmem.go).
func (c *client) heldBytes() int {
	n := c.rd.Held() + max(0, cap(c.out)-replyBase) + max(0, cap(c.local)-replyBase) + 8*cap(c.ends) + 12*cap(c.order)
	for _, b := range c.batches {
		n += b.HeldBytes()
	}
	return n
}

// dropIdleBuffers drops the read and segment buffers of a connection that
// has gone idle between segments with nothing pending, and lets osmem give
// the memory back to the OS. A queued transaction keeps its own copies.
func (c *client) dropIdleBuffers() {
	n := c.rd.Release() + cap(c.out) + cap(c.local) + 8*cap(c.ends) + 12*cap(c.order)
	c.out, c.local, c.ends, c.order = nil, nil, nil, nil
	c.pieces, c.iov, c.holdsBig = nil, nil, false
	for _, b := range c.batches {
		n += b.DropAll()
	}
	osmem.Released(n)
}

// readFailed logs why reading stopped when that is the server's doing:
// like Redis, a client past client-query-buffer-limit is closed with no
// reply and a warning.
func (c *client) readFailed(err error) {
	if err == wire.ErrQueryBufferLimit {
		c.srv.log.Warn("Closing client that reached max query buffer length", "client", c.id, "addr", c.nc.RemoteAddr().String(), "qbuf", c.rd.Buffered())
	}
}

// recoverPanic keeps the server up when a command running on this
// goroutine panics (a bug): it ends a cross-shard run left open (so its
// shards serve their woken clients and send keyspace events again), gives
// back any borrowed shards so that no shard stays parked, logs the panic
// with its stack, and the connection closes.
func (c *client) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	c.srv.log.Error("command panicked; closing the connection", "client", c.id, "panic", r, "stack", string(debug.Stack()))
	if a := &c.tx.across; a.Active() {
		func() {
			defer func() {
				if r := recover(); r != nil {
					c.srv.log.Error("ending a cross-shard run after a panic panicked again", "client", c.id, "panic", r, "stack", string(debug.Stack()))
				}
			}()
			a.End()
		}()
	}
	for id, s := range c.borrowed {
		if s != nil {
			c.srv.workers[id].SetBusySince(0)
		}
	}
	c.giveBack()
}

// execute routes one command: connection commands run here, data commands
// join their shard's batch, and commands spanning shards run here after
// borrowing those shards.
func (c *client) execute(args [][]byte) {
	c.executeOne(args)
	if c.putBack {
		return // unrun: serve runs it again (heldSegment)
	}
	// CLIENT REPLY SKIP mutes the command after it, and only that one.
	c.reply.skip, c.reply.skipNext = c.reply.skipNext, false
	// CLIENT CACHING holds for the next command, or the next transaction.
	if c.trk != nil && c.trk.caching && !c.tx.on && !equalFold(args[0], "client") {
		c.trk.caching = false
	}
}

func (c *client) executeOne(args [][]byte) {
	c.commands++
	e := c.lastEntry
	if e == nil || !bytes.Equal(args[0], c.lastName) {
		e = lookup(args[0])
		if e != nil && len(args[0]) <= 32 {
			c.lastName, c.lastEntry = append(c.lastName[:0], args[0]...), e
		}
	}
	// ACL: a connection authenticated as a user that may run everything
	// pays for this test only.
	if e != nil && (!c.authed || !c.user.st.Load().free) && c.aclDenied(e, args) {
		return
	}
	if e != nil && c.srv.persist.loading.Load() && c.refusedWhileLoading(e, args) &&
		(!c.awaitLoadingTurn() || c.refusedWhileLoading(e, args)) {
		c.reject(e, args, errLoading)
		return
	}
	if e != nil && c.srv.oom.Load() && c.refuseOOM(e, args) {
		return
	}
	if e != nil && (!c.srv.persist.lastOK.Load() || c.srv.aof.writeErr.Load() != nil) && c.refuseMisconf(e, args) {
		return
	}
	if e != nil && c.srv.aof.wait.Load() && e.spec.Flags&shard.ReadOnly == 0 {
		c.aofSync = true // its reply waits for the AOF (write)
	}
	if e != nil && c.srv.noReplicas.Load() && !c.srv.isReplica() && c.refuseWrite(e, args) {
		return
	}
	if e != nil && c.srv.replica.on.Load() && c.refuseReadOnly(e, args) { // replica.go
		return
	}
	if c.tx.on && (e == nil || !e.txControl) {
		if e != nil && e.arityOK(len(args)) && ((e.protected && c.protectedRefused(e, args)) || c.busyGate(e, args)) {
			return
		}
		c.queue(e, args)
		return
	}
	if e == nil {
		c.last = nil
		c.replyLocal(func() { c.local = wire.AppendError(c.local, unknownCommand(args)) })
		return
	}
	c.last = e.spec
	if !e.arityOK(len(args)) {
		c.countRejected(e, args)
		c.replyLocal(func() { c.local = wire.AppendError(c.local, shard.ErrArity(e.spec.Name)) })
		return
	}
	if e.protected && c.protectedRefused(e, args) {
		return
	}
	if c.busyGate(e, args) {
		return
	}
	if c.proto == wire.RESP2 && c.subscribed() && !subModeAllowed(e.spec.Name) {
		c.countRejected(e, args)
		c.replyLocal(func() { c.local = wire.AppendError(c.local, subModeError(e.spec.Name)) })
		return
	}
	if c.srv.paused.cur.Load() != nil {
		var ok bool
		if args, ok = c.holdForPause(e, args); !ok {
			return
		}
	}
	if g := c.srv.sleepGate.Load(); g != nil && (e.direct != nil || e.run != nil) {
		c.awaitSleep(g) // DEBUG SLEEP stops the whole server
	}
	if e.direct != nil {
		began, n := shard.Clock(), len(c.order)
		e.direct(c, args)
		replied := len(c.order) > n && c.order[n].shard < 0 && int(c.order[n].index) == len(c.ends)-1
		failed := replied && c.lastLocalFailed()
		if c.srv.mon.clock.Active() {
			// MONITOR shows EXEC after the commands it ran: run them now.
			c.settle()
		}
		c.countLocalRun(e, args, began, failed)
		return
	}
	if e.run != nil {
		if e.barrier {
			c.settle()
		}
		began := shard.Clock()
		c.replyLocal(func() { e.run(c, args) })
		c.countLocal(e, args, began, true)
		return
	}
	if e.data.NewWaiter != nil {
		c.runBlocking(e, args)
		return
	}
	c.route(e.data, args, nil)
	if e.spec.Flags&shard.AllShards != 0 && e.spec.Name == "flushall" && flushallArgsOK(args) {
		c.afterFlushall()
	}
}

// route sends a data command to the shard that owns its keys, or runs it
// across the shards it needs. w is the waiter of a blocking command.
func (c *client) route(cmd *shard.Command, args [][]byte, w *shard.Waiter) {
	n := len(c.batches)
	if n == 1 {
		c.enqueue(0, cmd, args, w)
		return
	}
	if cmd.Flags&shard.AllShards != 0 || (cmd.NeedsAllShards != nil && cmd.NeedsAllShards(args)) {
		c.runAcross(cmd, args, nil, w)
		return
	}
	if cmd.Route != nil {
		c.enqueue(cmd.Route(args, n), cmd, args, w)
		return
	}
	c.keys = cmd.KeyIndexes(args, c.keys[:0])
	if len(c.keys) == 0 {
		c.enqueue(0, cmd, args, w)
		return
	}
	owner := shard.Owner(args[c.keys[0]], n)
	for _, k := range c.keys[1:] {
		if shard.Owner(args[k], n) != owner {
			if w != nil && w.SourceFirst() {
				break // its first key, the source, decides (see SourceFirst)
			}
			c.runAcross(cmd, args, c.keys, w)
			return
		}
	}
	if c.srv.oom.Load() {
		c.evictFor(owner) // maxmemory.go
	}
	c.enqueue(owner, cmd, args, w)
}

// replyLocal runs fn, which appends one reply to c.local, and records it.
func (c *client) replyLocal(fn func()) {
	fn()
	c.ends = append(c.ends, len(c.local))
	c.order = append(c.order, slot{shard: -1, index: int32(len(c.ends) - 1), mute: c.muted(), counted: c.errCounted})
	c.errCounted = false
}

// enqueue adds a call to shard id's batch for this segment.
func (c *client) enqueue(id int, cmd *shard.Command, args [][]byte, w *shard.Waiter) {
	b := c.batches[id]
	if len(b.Calls) == 0 {
		b.Begin(c.db, c.proto, len(c.batches))
		b.Stamp = c.readAt
		b.Client = &c.ident
		b.OutCap = segmentOutCap
		b.OutLimit = 0
		if l := c.srv.normalLimit.Load(); l != nil && l.Hard > 0 && c.sub == nil {
			b.OutLimit = int(l.Hard)
		}
		c.queued = append(c.queued, id)
	}
	call := shard.Call{Cmd: cmd, Args: args, Waiter: w}
	if c.trk != nil {
		call.Track, call.Remember = c.tracker()
	}
	if cmd == shard.WatchCmd {
		call.Watch = c.tx.watch
	}
	b.Calls = append(b.Calls, call)
	c.order = append(c.order, slot{shard: int32(id), index: int32(len(b.Calls) - 1), mute: c.muted()})
}

// settle dispatches the segment's batches, waits for every answer, and
// appends all replies to c.out in request order.
func (c *client) settle() { c.settleSegment(false) }

// directMin is the smallest reply that settleSegment leaves in place for
// writev rather than copying it into c.out: below it, one more iovec costs
// more than the copy.
const directMin = 1024

// settleSegment is settle. With direct set (the segment ends and write
// follows), a reply of directMin bytes or more is not copied but listed in
// c.pieces, merged with the one before when they are adjacent in the same
// buffer (the replies of one shard are), and the segment's buffers stay as
// they are until write has sent them.
func (c *client) settleSegment(direct bool) {
	if len(c.order) == 0 {
		if !c.tx.on && len(c.tx.args) > 0 {
			c.txSettled()
		}
		return
	}
	direct = direct && c.sub == nil // a subscriber's writes are queued copies
	sent, busy := 0, 0
	for _, id := range c.queued {
		if c.busyBatch(id) { // BUSY hook (script_busy.go)
			busy++
			continue
		}
		if c.srv.workers[id].Submit(c.batches[id], c.answers) == nil {
			sent++
		}
	}
	answered := c.await(sent) // even if some were refused: the others run
	if sent+busy == len(c.queued) && answered {
		if c.aofSync {
			for _, id := range c.queued {
				c.aofWant = max(c.aofWant, c.batches[id].Logged)
			}
		}
		for _, id := range c.queued {
			if g := c.batches[id].Gates; len(g) > 0 {
				c.gates = append(c.gates, g...)
				c.batches[id].Gates = nil
			}
		}
		var errs int64
		for _, o := range c.order {
			if o.shard >= 0 && int(o.index) >= c.batches[o.shard].Answered() && !c.resumeSegment(int(o.shard)) {
				c.closeAfter = true
				break
			}
			var r []byte
			if o.shard < 0 {
				start := 0
				if o.index > 0 {
					start = c.ends[o.index-1]
				}
				r = c.local[start:c.ends[o.index]]
			} else {
				r = c.batches[o.shard].Reply(int(o.index))
			}
			if len(r) > 0 && r[0] == '-' && !o.counted {
				errs++ // INFO total_error_replies
				c.srv.stats.errs.count(r)
			}
			switch {
			case o.mute:
			case direct && len(r) >= directMin:
				c.gather(r)
			default:
				c.out = append(c.out, r...)
			}
		}
		if errs > 0 {
			c.srv.stats.errors.Add(errs)
		}
	} else {
		// Only a stopping server refuses or drops a batch.
		c.closeAfter = true
	}
	c.txSettled()
	if direct {
		c.unsent = true // write ends the segment once it has sent it
		return
	}
	c.endSegment()
}

// segmentOutCap bounds the reply bytes of one shard's run (Batch.OutCap).
const segmentOutCap = 4 << 20

// resumeSegment is reached when shard id answered its batch unfinished
// to bound its replies and the next reply to send is its next one: it
// sends what is ready (waiting, like Redis's output buffer would not, for
// a client that does not read) and lets that batch run on. Only that one:
// another shard that stopped too may hold replies that come later in the
// pipeline and are not taken yet, which Resume would drop; it resumes when
// its own turn comes. It reports false if the connection or the server is
// going away.
func (c *client) resumeSegment(id int) bool {
	if c.write() != nil {
		return false
	}
	c.awaitQueue() // a queued write does not block: wait as if it had
	b := c.batches[id]
	b.Resume()
	if c.busyBatch(id) {
		return true
	}
	if c.srv.workers[id].Submit(b, c.answers) != nil {
		return false
	}
	return c.await(1)
}

// piece is part of what write sends: b, a run of replies in a batch's or
// the local buffer, or when b is nil c.out[start:end].
type piece struct {
	b          []byte
	start, end int
}

// gather adds r to the pieces to send, after the bytes copied to c.out
// since the last piece.
func (c *client) gather(r []byte) {
	c.cutOut()
	if n := len(c.pieces); n > 0 {
		if p := &c.pieces[n-1]; p.b != nil && adjacent(p.b, r) {
			p.b = p.b[:len(p.b)+len(r)]
			return
		}
	}
	c.pieces = append(c.pieces, piece{b: r})
}

// cutOut ends the run of c.out bytes copied since the last piece.
func (c *client) cutOut() {
	if len(c.out) > c.outMark {
		c.pieces = append(c.pieces, piece{start: c.outMark, end: len(c.out)})
		c.outMark = len(c.out)
	}
}

// adjacent reports whether b continues in memory with r, both slices of
// one array (capacity runs to its end, as Batch.Reply and c.local give).
func adjacent(a, b []byte) bool {
	return len(b) > 0 && cap(a) >= len(a)+len(b) && &a[:len(a)+1][len(a)] == &b[0]
}

// endSegment readies the segment's buffers for the next one, keeping those
// above osmem.Keep that this segment used well (see keepBig).
func (c *client) endSegment() {
	c.unsent = false
	if c.holdsBig {
		for _, b := range c.batches {
			if len(b.Calls) == 0 { // not in this segment
				b.Release()
			}
		}
	}
	big := false
	for _, id := range c.queued {
		if c.batches[id].Recycle(c.db, c.proto, len(c.batches)) {
			big = true
		}
	}
	c.queued = c.queued[:0]
	c.order = c.order[:0]
	if c.releaseSegment() {
		big = true
	}
	c.holdsBig = big || cap(c.out) > osmem.Keep
}

// keepBig reports whether a buffer with capacity cp, of which the last
// segment used n bytes, is worth keeping for the next segment: small ones
// always are; one above osmem.Keep while segments keep filling it to a
// quarter at least, as a stream of large replies does, and until the
// connection goes idle (dropIdleBuffers). Reallocating it for every segment would
// cost more than the copy it holds: each one grows by doubling, and the
// garbage makes the collector run (and sweep) far more often.
func keepBig(n, cp int) bool { return cp <= osmem.Keep || n >= cp/4 }

// keepSlots is the most pipelined commands whose bookkeeping a connection
// keeps room for between segments.
const keepSlots = 4096

// releaseSegment empties the segment's local buffers, dropping any that a
// large reply or pipeline grew beyond what is worth keeping (see osmem).
// It reports whether it kept one above osmem.Keep.
func (c *client) releaseSegment() bool {
	big := false
	if !keepBig(len(c.local), cap(c.local)) {
		osmem.Released(cap(c.local))
		c.local = nil
	} else {
		big = cap(c.local) > osmem.Keep
		c.local = c.local[:0]
	}
	if cap(c.ends) > keepSlots {
		c.ends = nil
	} else {
		c.ends = c.ends[:0]
	}
	if cap(c.order) > keepSlots {
		c.order = nil
	}
	return big
}

// resetOut empties c.out after it was sent or queued, dropping it when a
// large reply made it bigger than is worth keeping.
func (c *client) resetOut() {
	if !keepBig(len(c.out), cap(c.out)) {
		osmem.Released(cap(c.out))
		c.out = nil
	} else {
		c.holdsBig = c.holdsBig || cap(c.out) > osmem.Keep
		c.out = c.out[:0]
	}
	c.outMark = 0
}

// await waits for n answers. It gives up, returning false, once the shards
// have stopped, since a stopped shard drops its mailbox: Shutdown then
// sends every connection a nil answer (wakeAwaiting). Not before: a shard
// may still be running a batch when a shutdown that ran out of time
// begins to stop them, and the connection reuses its batches as soon as
// await returns. A receive from one channel costs far less than a select
// over two, once per segment.
func (c *client) await(n int) bool {
	for ; n > 0; n-- {
		if <-c.answers == nil {
			return false
		}
	}
	return true
}

// write sends c.out to the socket, or the pieces of a segment settled
// for writing, with one writev, and then ends that segment.
func (c *client) write() error {
	if c.unsent {
		defer c.endSegment()
	}
	if len(c.gates) > 0 {
		c.waitGates()
	}
	if c.aofSync && (len(c.pieces) > 0 || len(c.out) > 0) {
		// appendfsync always: no reply leaves before the writes it
		// acknowledges are on disk.
		c.aofSync = false
		want := c.aofWant
		c.aofWant = 0
		if !c.srv.awaitAOF(want) {
			c.resetOut()
			clear(c.pieces)
			c.pieces = c.pieces[:0]
			return errAOFBroken
		}
	}
	if c.working.Load() {
		c.writing.Store(wallClock())
		defer c.writing.Store(0)
	}
	if len(c.pieces) > 0 {
		return c.writePieces()
	}
	if len(c.out) == 0 {
		return nil
	}
	if c.sub != nil {
		ok := c.sub.Queue().Push(c.out)
		c.resetOut()
		if !ok {
			return pubsub.ErrClosed
		}
		return nil
	}
	c.iov = append(c.iov, c.out)
	err := c.send(len(c.out))
	clear(c.iov)
	c.iov = c.iov[:0]
	c.resetOut()
	c.sent()
	return err
}

// send writes c.iov (total bytes) to the socket. The socket takes what
// it can without waiting; the rest, and everything while replies still
// wait for the socket, goes to the output queue (outqueue.go). A
// connection without a non-blocking write blocks in Write.
func (c *client) send(total int) error {
	if c.srv.normalLimit.Load() != nil && c.overOutputLimit(c.oq.pending.Load()+int64(c.sinceRead+total)) {
		c.dropOutput()
		return errOutputLimit
	}
	c.sinceRead += total
	if c.oq.busy() {
		if !c.oq.push(c.iov) {
			return errOutputLimit
		}
		return nil
	}
	if c.rw == nil {
		var n int64
		var err error
		if len(c.iov) == 1 { // a plain write costs less than a writev
			var m int
			m, err = c.nc.Write(c.iov[0])
			n = int64(m)
		} else {
			bufs := c.iov // WriteTo consumes its receiver
			n, err = bufs.WriteTo(c.nc)
		}
		c.srv.stats.netOut.Add(n)
		return err
	}
	n, rest, err := c.rw.Write(c.iov)
	c.srv.stats.netOut.Add(int64(n))
	if err != nil {
		return err
	}
	if len(rest) > 0 && !c.oq.push(rest) {
		return errOutputLimit
	}
	return nil
}

// pendingBytes is the size of the replies a segment has ready to write.
func (c *client) pendingBytes() int {
	n := len(c.out)
	for _, p := range c.pieces {
		n += len(p.b) // a piece of c.out has none: it is in len(c.out)
	}
	return n
}

// sent clears the pending bytes CLIENT LIST shows once a write returned.
func (c *client) sent() {
	if c.outPending.Load() != 0 {
		c.outPending.Store(0)
	}
}

// writePieces sends c.pieces in order with one writev.
func (c *client) writePieces() error {
	c.cutOut()
	for _, p := range c.pieces {
		if p.b == nil {
			p.b = c.out[p.start:p.end]
		}
		c.iov = append(c.iov, p.b)
	}
	total := 0
	for _, b := range c.iov {
		total += len(b)
	}
	err := c.send(total)
	c.sent()
	clear(c.iov) // no references into buffers that may be dropped
	c.iov = c.iov[:0]
	if cap(c.pieces) > keepSlots {
		c.pieces, c.iov = nil, nil
	} else {
		clear(c.pieces)
		c.pieces = c.pieces[:0]
	}
	c.resetOut()
	return err
}

// runAcross runs a command that needs several shards at once. It first
// settles the segment so replies stay in order, then borrows the owners of
// keys (every shard when keys is nil) in ascending ID order, runs the
// command, and gives the shards back.
func (c *client) runAcross(cmd *shard.Command, args [][]byte, keys []int, w *shard.Waiter) {
	c.settle()
	n := len(c.batches)
	want := c.want
	clear(want)
	if keys == nil {
		for i := range want {
			want[i] = true
		}
	} else {
		for _, k := range keys {
			want[shard.Owner(args[k], n)] = true
		}
	}
	if msg := c.busyWanted(); msg != "" { // BUSY hook (script_busy.go)
		c.local = wire.AppendError(c.local, msg)
		c.ends = append(c.ends, len(c.local))
		c.order = append(c.order, slot{shard: -1, index: int32(len(c.ends) - 1), mute: c.muted()})
		return
	}
	ok := c.borrow()
	if ok {
		a := &c.tx.across
		a.Stamp = c.readAt
		a.Client = &c.ident
		a.Track, a.Remember = c.tracker()
		a.Single = true
		a.Begin(c.borrowed, time.Now().UnixMilli())
		c.local = a.Run(cmd, args, w, c.tx.watch, c.db, c.proto, c.local)
		a.End()
	}
	c.giveBack()
	if !ok {
		c.closeAfter = true
		return
	}
	c.ends = append(c.ends, len(c.local))
	c.order = append(c.order, slot{shard: -1, index: int32(len(c.ends) - 1), mute: c.muted()})
}

// borrow borrows every shard marked in c.want, in ascending ID order, into
// c.borrowed. It reports false if the shards are stopping; the caller must
// call giveBack either way.
func (c *client) borrow() bool {
	for id, want := range c.want {
		if !want {
			continue
		}
		s, err := c.srv.workers[id].Borrow(c.loans[id])
		if err != nil {
			return false
		}
		c.borrowed[id] = s
	}
	return true
}

// giveBack returns every borrowed shard.
func (c *client) giveBack() {
	c.gates = append(c.gates, c.tx.across.TakeGates()...)
	if c.aofSync {
		// What the run across shards wrote is in the journal by now.
		c.aofWant = max(c.aofWant, c.srv.journal.Offset())
	}
	for id, s := range c.borrowed {
		if s != nil {
			c.loans[id].Return()
			c.borrowed[id] = nil
		}
	}
}

package conn

import (
	"crypto/tls"
	"errors"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Replication, master side. A replica connects as a client and sends
// REPLCONF and then PSYNC (or SYNC). For a full resync, every shard is
// held for an instant: a snapshot begins and the replica's sink joins the
// journal at that offset; the snapshot is streamed to the replica as an
// RDB, then whatever the sink gathered meanwhile, then the stream as it
// comes. A replica that reconnects with the replication ID and an offset
// the backlog still holds continues from there (+CONTINUE).
//
// The journal is on, and the backlog kept, from the first replica on:
// every write is then counted in the replication offset, so a replica
// coming back finds every write since it left in the backlog or not at
// all (then it syncs in full).

// replState is the master's replication state.
type replState struct {
	mu       sync.Mutex
	replicas []*replica
	active   bool      // the backlog exists (repl_backlog_active)
	lastGone time.Time // when the last replica left, for repl-backlog-ttl
	// ackWake is closed (and replaced) when a replica acknowledges.
	ackWake chan struct{}
	// pending is the full sync that replicas may still join (its
	// diskless delay has not run out); syncs counts the sessions running.
	pending *syncSession
	// syncWaiting counts the sessions waiting for the snapshot slot: a
	// client's BGSAVE or BGREWRITEAOF does not take it before them, as
	// Redis starts a waiting replica's save as soon as a child ends.
	syncWaiting atomic.Int32
	syncs       sync.WaitGroup
	pinged      atomic.Int64 // Unix ns of the last PING to the replicas

	syncFull, syncPartialOK, syncPartialErr atomic.Int64
}

// replica is one connected replica, owned by its client's goroutine.
type replica struct {
	c        *client
	ip       string
	port     int64 // REPLCONF listening-port
	capaEOF  bool  // accepts the RDB with an EOF mark (diskless)
	state    atomic.Pointer[string]
	ackOff   atomic.Int64
	ackTime  atomic.Int64 // Unix s of the last ACK
	sink     *shard.JournalSink
	fullSync bool // it asked for (or needs) a full sync
	psync    bool // it sent PSYNC, not SYNC: it gets +FULLRESYNC
	// gone is closed when the replica's link ends.
	gone <-chan struct{}
	// Set by the sync session before its done closes (repl_sync.go):
	// why its sync failed, and whether its RDB had an EOF mark.
	syncErr error
	sentEOF bool
}

var (
	stateWaitBgsave = "wait_bgsave"
	stateSendBulk   = "send_bulk"
	stateOnline     = "online"
)

// replConn is what REPLCONF said before PSYNC, kept on the client.
type replConn struct {
	port    int64
	ip      string
	capaEOF bool
	sync    [][]byte // the SYNC/PSYNC to serve once the reply is out
}

func init() {
	replSpec := func(name string, arity int, flags shard.Flag, since, summary, syntax string, acl ...string) shard.Spec {
		return shard.Spec{Name: name, Arity: arity, Flags: flags, Group: "server", Since: since,
			Summary: summary, Complexity: "O(1)", Syntax: syntax, ACL: acl}
	}
	// ACL categories as Redis's command table: WAIT is in connection, ROLE
	// in admin and dangerous.
	waitSpec := replSpec("wait", 3, shard.NoScript,
		"3.0.0", "Wait for the synchronous replication of all the write commands sent in the context of the current connection", "numreplicas timeout")
	waitSpec.ACL = []string{"connection"}
	roleSpec := replSpec("role", 1, shard.NoScript|shard.Loading|shard.Stale|shard.Fast,
		"2.8.12", "Return the role of the instance in the context of replication", "")
	roleSpec.ACL = []string{"admin", "dangerous"}
	registerLocal(
		&localCommand{Spec: replSpec("psync", -3, shard.Admin|shard.NoScript|shard.NoMulti|shard.NoAsyncLoading,
			"2.8.0", "Internal command used for replication", "replicationid offset"),
			run: cmdSync, barrier: true},
		&localCommand{Spec: replSpec("sync", 1, shard.Admin|shard.NoScript|shard.NoMulti|shard.NoAsyncLoading,
			"1.0.0", "Internal command used for replication", ""),
			run: cmdSync, barrier: true},
		&localCommand{Spec: replSpec("replconf", -1, shard.Admin|shard.NoScript|shard.Loading|shard.Stale|shard.AllowBusy,
			"3.0.0", "An internal command for configuring the replication stream", ""),
			run: cmdReplconf},
		&localCommand{Spec: replSpec("wait", 3, shard.NoScript,
			"3.0.0", "Wait for the synchronous replication of all the write commands sent in the context of the current connection", "numreplicas timeout", "connection"),
			run: cmdWait, barrier: true},
		&localCommand{Spec: replSpec("role", 1, shard.NoScript|shard.Loading|shard.Stale|shard.Fast,
			"2.8.12", "Return the role of the instance in the context of replication", "", "admin", "dangerous"),
			run: cmdRole},
	)
}

func (s *Server) initRepl() {
	s.repl.ackWake = make(chan struct{})
	// CONFIG SET repl-backlog-size resizes a backlog that exists, keeping
	// its most recent bytes, as Redis's resizeReplicationBacklog.
	s.cfg.OnChange("repl-backlog-size", func(string) {
		s.repl.mu.Lock()
		defer s.repl.mu.Unlock()
		if s.repl.active {
			s.journal.SetBacklog(int(s.cfg.Int("repl-backlog-size")))
		}
	})
}

func cmdReplconf(c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.replyError(shard.ErrSyntax)
		return
	}
	if c.replConn == nil {
		c.replConn = &replConn{}
	}
	for i := 1; i < len(args); i += 2 {
		opt, val := strings.ToLower(string(args[i])), string(args[i+1])
		switch opt {
		case "listening-port":
			p, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				c.replyError("ERR value is not an integer or out of range")
				return
			}
			c.replConn.port = p
		case "ip-address":
			c.replConn.ip = val
		case "capa":
			if strings.EqualFold(val, "eof") {
				c.replConn.capaEOF = true
			}
		case "ack", "fack", "getack", "rdb-only":
			// ACKs come on a replica's link (see readAcks); here they
			// mean nothing and Redis does not reply to them, nor to
			// GETACK, which only a replica answers (with an ACK).
			if opt != "rdb-only" {
				c.replyNone()
				return
			}
		default:
			c.replyError("ERR Unrecognized REPLCONF option: " + string(args[i]))
			return
		}
	}
	c.replyOK()
}

// cmdSync is SYNC and PSYNC: the reply is the sync itself, served once
// the connection has sent what it owes (serveReplica).
func cmdSync(c *client, args [][]byte) {
	if c.srv.isReplica() && !c.srv.masterLinkUp() {
		// A replica serves replicas of its own (its journal holds what it
		// applies) only while its link is up, as Redis.
		c.replyError("NOMASTERLINK Can't SYNC while not connected with my master")
		return
	}
	if equalFold(args[0], "psync") && len(args) > 3 && equalFold(args[3], "failover") {
		c.replyError("ERR PSYNC FAILOVER can't be sent to a master.")
		return
	}
	if c.pendingBytes() > 0 || c.oq.busy() {
		// As Redis: replies still to send would mix with the stream.
		c.replyError("ERR SYNC and PSYNC are invalid with pending output")
		return
	}
	if equalFold(args[0], "psync") {
		if _, err := strconv.ParseInt(string(args[2]), 10, 64); err != nil {
			c.srv.log.Warn("Replica " + c.replicaName() + " asks for synchronization but with a wrong offset")
			c.replyError("ERR value is not an integer or out of range")
			return
		}
	}
	if c.replConn == nil {
		c.replConn = &replConn{}
	}
	c.replConn.sync = append([][]byte(nil), args...)
	for i, a := range args {
		c.replConn.sync[i] = append([]byte(nil), a...)
	}
	c.replyNone()
}

// replicaName is how the log names a client that asks to sync: the
// address and REPLCONF listening-port, as Redis's replicationGetSlaveName.
func (c *client) replicaName() string {
	host, _, _ := net.SplitHostPort(c.ident.Addr)
	if c.replConn != nil && c.replConn.ip != "" {
		host = c.replConn.ip
	}
	port := int64(0)
	if c.replConn != nil {
		port = c.replConn.port
	}
	return host + ":" + strconv.FormatInt(port, 10)
}

// replyNone records a reply slot with no bytes: the command answers
// elsewhere, or not at all.
func (c *client) replyNone() {}

// replOffset is master_repl_offset: on a replica the offset of its
// master's stream it has processed.
func (s *Server) replOffset() int64 {
	if _, off, ok := s.replicaOffset(); ok {
		return off
	}
	s.repl.mu.Lock()
	active := s.repl.active
	s.repl.mu.Unlock()
	if !active {
		return 0
	}
	return s.journal.ReplOffset()
}

// journalInUse turns the journal off when neither the AOF nor a
// replication backlog reads it.
func (s *Server) journalInUse() {
	s.repl.mu.Lock()
	active := s.repl.active
	s.repl.mu.Unlock()
	if !active && s.aof.sink == nil {
		s.journal.SetOn(false)
	}
}

// replicaOutLimit is the most stream bytes a replica may leave unread
// (client-output-buffer-limit replica's hard limit; 256 MB by default).
func (s *Server) replicaOutLimit() int {
	v := s.cfg.Value("client-output-buffer-limit")
	f := strings.Fields(v)
	for i := 0; i+3 < len(f); i += 4 {
		if f[i] == "replica" || f[i] == "slave" {
			if n, err := strconv.ParseInt(f[i+1], 10, 64); err == nil {
				return int(n)
			}
		}
	}
	return 256 << 20
}

// serveReplica turns the connection into a replica's link: it answers the
// PSYNC or SYNC, sends the dataset when it must, and then the stream,
// until the link breaks or the server stops. It runs on the client's
// goroutine, which ends with it.
func (c *client) serveReplica() {
	s := c.srv
	rc := c.replConn
	args := rc.sync
	rc.sync = nil
	r := &replica{c: c, port: rc.port, capaEOF: rc.capaEOF}
	r.ip = rc.ip
	if r.ip == "" {
		if host, _, err := net.SplitHostPort(c.ident.Addr); err == nil {
			r.ip = host
		}
	}
	r.state.Store(&stateWaitBgsave)
	c.isReplica.Store(true)
	r.psync = strings.EqualFold(string(args[0]), "psync") // cmdSync checked: 3 or more arguments

	var head []byte
	if r.psync { // cmdSync checked: 3 or more arguments, an integer offset
		off, _ := strconv.ParseInt(string(args[2]), 10, 64)
		if s.psyncAccepts(string(args[1]), off) && s.replActive() {
			if sink, _, ok := s.journal.AddSink(s.replicaOutLimit(), off-1, true); ok {
				r.sink = sink
				r.state.Store(&stateOnline)
				s.repl.syncPartialOK.Add(1)
				s.log.Info("Partial resynchronization request from " + r.ip + " accepted. Sending backlog from offset " + strconv.FormatInt(off, 10))
				head = append(head, "+CONTINUE "+s.masterReplID()+"\r\n"...)
			}
		}
	}
	if r.sink == nil {
		if r.psync && string(args[1]) != "?" {
			s.repl.syncPartialErr.Add(1)
		}
		r.fullSync = true
		s.repl.syncFull.Add(1)
	}
	stop := make(chan struct{})
	r.gone = stop
	s.addReplica(r)
	defer s.removeReplica(r)

	var once sync.Once
	closeLink := func() { once.Do(func() { close(stop); c.nc.Close() }) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeLink()
		if err := s.feedReplica(r, head, stop); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Info("Connection with replica lost", "replica", r.name(), "err", err)
		}
	}()
	c.readAcks(r, stop)
	closeLink()
	<-done
}

// name is the replica as the log shows it.
func (r *replica) name() string { return r.ip + ":" + strconv.FormatInt(r.port, 10) }

// replActive reports whether the backlog exists.
func (s *Server) replActive() bool {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	return s.repl.active
}

// feedReplica writes head (+CONTINUE), or takes part in a full sync, and
// then writes the stream to the replica until stop closes or a write
// fails.
func (s *Server) feedReplica(r *replica, head []byte, stop chan struct{}) error {
	if len(head) > 0 {
		if err := r.write(s, head); err != nil {
			return err
		}
	}
	if r.fullSync {
		// The session always ends (its waits are bounded, its writes have
		// deadlines, and it stops with the server); r's sink is its to
		// set until then.
		sess := s.joinSync(r)
		<-sess.done
		if r.syncErr != nil {
			return r.syncErr
		}
		s.log.Info("Synchronization with replica succeeded", "replica", r.name())
		if r.sentEOF && !s.awaitFirstAck(r, stop) {
			return nil
		}
	}
	r.ackTime.Store(time.Now().Unix()) // lag counts from now, as Redis's replicaPutOnline
	r.state.Store(&stateOnline)
	s.refreshGoodReplicas()
	var buf []byte
	for {
		var over bool
		buf, _, over = r.sink.Take(buf[:0])
		if over {
			s.log.Warn("Client " + r.c.ident.Addr + " scheduled to be closed ASAP for overcoming of output buffer limits.")
			return errors.New("the replica's output buffer limit was passed")
		}
		if len(buf) > 0 {
			if err := r.write(s, buf); err != nil {
				return err
			}
			if cap(buf) > 1<<20 {
				buf = nil
			}
			continue
		}
		select {
		case <-r.sink.Kick():
		case <-stop:
			return nil
		case <-s.stopping:
			return nil
		}
	}
}

// errReplicaTimedOut is why a write to a replica gave up: it took no byte
// for repl-timeout seconds.
var errReplicaTimedOut = errors.New("the replica took nothing for repl-timeout seconds")

// write sends b to the replica, giving up once the replica has taken no
// byte for repl-timeout seconds. The timeout is read again each second of
// waiting, so a CONFIG SET applies to a write already waiting, as Redis's
// cron judges a stalled transfer by its last partial write with the
// setting as it is now. Over TLS a timed-out write leaves the connection
// unusable, so there the deadline is set once.
func (r *replica) write(s *Server, b []byte) error {
	nc := r.c.nc
	timeout := func() time.Duration { return time.Duration(max(s.cfg.Int("repl-timeout"), 1)) * time.Second }
	if _, ok := nc.(*tls.Conn); ok {
		nc.SetWriteDeadline(time.Now().Add(timeout()))
		_, err := nc.Write(b)
		return err
	}
	last := time.Now() // of the last progress
	for {
		deadline := last.Add(timeout())
		if step := time.Now().Add(time.Second); step.Before(deadline) {
			deadline = step
		}
		nc.SetWriteDeadline(deadline)
		n, err := nc.Write(b)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		b = b[n:]
		if n > 0 {
			last = time.Now()
		} else if time.Since(last) >= timeout() {
			return errReplicaTimedOut
		}
	}
}

type writerFunc func([]byte) error

func (w writerFunc) Write(b []byte) (int, error) {
	if err := w(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// readAcks reads what the replica sends on its link (REPLCONF ACK) until
// the link breaks or stop closes.
func (c *client) readAcks(r *replica, stop chan struct{}) {
	s := c.srv
	for {
		args, err := c.rd.Next()
		if err != nil {
			return
		}
		if args == nil {
			select {
			case <-stop:
				return
			default:
			}
			if !c.src.waitReadable() {
				c.endIdleWake()
				continue
			}
			if err := c.rd.Fill(); err != nil {
				return
			}
			continue
		}
		if !equalFold(args[0], "replconf") {
			// A replica's link carries its ACKs only. Redis runs anything
			// else, and its reply (or the refusal of a keyspace command)
			// closes the link: a reply would be read as a command.
			c.replicaSentCommand(args)
			return
		}
		if len(args) >= 3 && equalFold(args[1], "ack") {
			if off, err := strconv.ParseInt(string(args[2]), 10, 64); err == nil {
				if off > r.ackOff.Load() { // as Redis: an ACK never moves it back
					r.ackOff.Store(off)
				}
				r.ackTime.Store(time.Now().Unix())
				s.ackArrived()
				if s.noReplicas.Load() {
					s.refreshGoodReplicas()
				}
			}
		}
	}
}

// replicaSentCommand logs, as Redis does, a command a replica sent on its
// link, before the link is closed.
func (c *client) replicaSentCommand(args [][]byte) {
	s := c.srv
	var name string
	e := lookup(args[0])
	reply := "the reply is not sent"
	switch {
	case e == nil:
		reply = unknownCommand(args)
		name = "<unknown>"
	default:
		spec := e.spec
		if len(spec.Subcommands) > 0 && len(args) > 1 {
			if sub := subSpec(spec, args[1]); sub != nil {
				spec = sub
			}
		}
		name = spec.Name
		if spec.Flags&shard.Write != 0 || e.data != nil && spec.FirstKey > 0 {
			reply = "ERR Replica can't interact with the keyspace"
			s.log.Warn("== CRITICAL == This master is sending an error to its replica: '" + reply + "' after processing the command '" + name + "'")
		}
	}
	s.log.Warn("Replica generated a reply to command '" + name + "', disconnecting it: " + reply)
}

func (s *Server) ackArrived() {
	s.repl.mu.Lock()
	close(s.repl.ackWake)
	s.repl.ackWake = make(chan struct{})
	s.repl.mu.Unlock()
}

func (s *Server) addReplica(r *replica) {
	// The next PING is a full period away (repl-ping-replica-period), as
	// Redis's replication cron counts it: tests read the stream exactly.
	s.repl.pinged.Store(time.Now().UnixNano())
	s.repl.mu.Lock()
	s.repl.replicas = append(s.repl.replicas, r)
	s.repl.mu.Unlock()
}

func (s *Server) removeReplica(r *replica) {
	s.repl.mu.Lock()
	for i, x := range s.repl.replicas {
		if x == r {
			s.repl.replicas = append(s.repl.replicas[:i], s.repl.replicas[i+1:]...)
			break
		}
	}
	if len(s.repl.replicas) == 0 {
		s.repl.lastGone = time.Now()
	}
	s.repl.mu.Unlock()
	if r.sink != nil {
		r.sink.Remove()
	}
	r.c.isReplica.Store(false)
	s.refreshGoodReplicas()
}

// replicasNow returns the connected replicas.
func (s *Server) replicasNow() []*replica {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	return append([]*replica(nil), s.repl.replicas...)
}

// replCron pings the replicas (repl-ping-replica-period, in the stream),
// and drops the backlog repl-backlog-ttl seconds after the last replica
// left: the replication ID changes then, so no replica continues from a
// backlog that missed writes.
func (s *Server) replCron(now time.Time) {
	s.refreshGoodReplicas()
	s.repl.mu.Lock()
	n, active, gone := len(s.repl.replicas), s.repl.active, s.repl.lastGone
	s.repl.mu.Unlock()
	if !active {
		return
	}
	if n > 0 {
		period := time.Duration(max(s.cfg.Int("repl-ping-replica-period"), 1)) * time.Second
		if now.UnixNano()-s.repl.pinged.Load() >= int64(period) {
			s.journal.RecordForReplicas([]byte("PING"))
			s.repl.pinged.Store(now.UnixNano())
		}
		return
	}
	if s.isReplica() {
		return // a replica keeps its backlog: it may become a master
	}
	if ttl := s.cfg.Int("repl-backlog-ttl"); ttl > 0 && now.Sub(gone) >= time.Duration(ttl)*time.Second {
		s.repl.mu.Lock()
		if len(s.repl.replicas) == 0 {
			s.repl.active = false
			s.journal.SetBacklog(0)
			s.changeReplID()
		}
		s.repl.mu.Unlock()
		s.journalInUse()
		s.log.Info("Replication backlog freed after " + strconv.FormatInt(ttl, 10) + " seconds without connected replicas.")
	}
}

func cmdWait(c *client, args [][]byte) {
	s := c.srv
	n, err1 := strconv.ParseInt(string(args[1]), 10, 64)
	timeout, err2 := strconv.ParseInt(string(args[2]), 10, 64)
	switch {
	case err1 != nil:
		c.replyError("ERR value is not an integer or out of range")
		return
	case err2 != nil:
		c.replyError("ERR timeout is not an integer or out of range")
		return
	case timeout < 0:
		c.replyError("ERR timeout is negative")
		return
	case timeout > math.MaxInt64-time.Now().UnixMilli():
		c.replyError("ERR timeout is out of range")
		return
	case s.isReplica():
		c.replyError("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
		return
	}
	want := s.replOffset()
	acked := func() int64 {
		var k int64
		for _, r := range s.replicasNow() {
			if r.ackOff.Load() >= want {
				k++
			}
		}
		return k
	}
	if got := acked(); got >= n || c.tx.execing || want == 0 {
		c.replyInt(got)
		return
	}
	s.journal.RecordForReplicas([]byte("REPLCONF"), []byte("GETACK"), []byte("*"))
	// The client is blocked, as Redis's: the replies before WAIT go out,
	// INFO counts it, CLIENT UNBLOCK ends the wait, and so does a hang-up.
	if c.write() != nil {
		c.closeAfter = true
		c.replyInt(acked())
		return
	}
	select { // drop an unblock meant for an earlier wait
	case <-c.block.unblock:
	default:
	}
	var until time.Time
	if timeout > 0 {
		until = time.UnixMilli(time.Now().UnixMilli() + timeout) // no Duration: it would overflow
	}
	deadline, gone, leave := c.beginBlockedWait(until, nil)
	defer leave()
	for {
		s.repl.mu.Lock()
		wake := s.repl.ackWake
		s.repl.mu.Unlock()
		if got := acked(); got >= n {
			c.replyInt(got)
			return
		}
		select {
		case <-wake:
		case <-deadline:
			c.replyInt(acked())
			return
		case withError := <-c.block.unblock:
			if withError {
				c.replyError(errUnblocked)
			} else {
				c.replyInt(acked())
			}
			return
		case err := <-gone:
			if err == nil { // the watcher stopped reading: wait without it
				gone = nil
				continue
			}
			c.readFailed(err)
			c.closeAfter = true
			c.replyInt(acked())
			return
		case <-s.stopping:
			c.replyInt(acked())
			return
		}
	}
}

func cmdRole(c *client, args [][]byte) {
	if c.srv.roleReplica(c) { // replica.go
		return
	}
	rs := c.srv.replicasNow()
	c.local = wire.AppendArray(c.local, 3)
	c.local = wire.AppendBulkString(c.local, "master")
	c.local = wire.AppendInt(c.local, c.srv.replOffset())
	c.local = wire.AppendArray(c.local, len(rs))
	for _, r := range rs {
		c.local = wire.AppendArray(c.local, 3)
		c.local = wire.AppendBulkString(c.local, r.ip)
		c.local = wire.AppendBulkString(c.local, strconv.FormatInt(r.port, 10))
		c.local = wire.AppendBulkString(c.local, strconv.FormatInt(r.ackOff.Load(), 10))
	}
}

// infoMasterReplication appends INFO replication's fields for a master.
func (s *Server) infoMasterReplication(b []byte) []byte {
	b = infoStr(b, "role", "master")
	return s.infoReplicas(b)
}

// infoReplicas appends INFO replication's fields that masters and
// replicas share: this server's replicas, history and backlog.
func (s *Server) infoReplicas(b []byte) []byte {
	rs := s.replicasNow()
	b = infoInt(b, "connected_slaves", int64(len(rs)))
	if s.cfg.Int("min-replicas-to-write") > 0 && s.cfg.Int("min-replicas-max-lag") > 0 {
		b = infoInt(b, "min_slaves_good_slaves", s.goodReplicas.Load())
	}
	now := time.Now().Unix()
	for i, r := range rs {
		line := "ip=" + r.ip + ",port=" + strconv.FormatInt(r.port, 10) + ",state=" + *r.state.Load() +
			",offset=" + strconv.FormatInt(r.ackOff.Load(), 10) + ",lag=" + strconv.FormatInt(now-r.ackTime.Load(), 10)
		b = infoStr(b, "slave"+strconv.Itoa(i), line)
	}
	b = infoStr(b, "master_failover_state", "no-failover")
	id, id2, off2 := s.replIDs()
	b = infoStr(b, "master_replid", id)
	b = infoStr(b, "master_replid2", id2)
	b = infoInt(b, "master_repl_offset", s.replOffset())
	b = infoInt(b, "second_repl_offset", off2)
	size, first, histlen := s.journal.Backlog()
	b = infoInt(b, "repl_backlog_active", boolInt(s.replActive()))
	b = infoInt(b, "repl_backlog_size", max(int64(size), s.cfg.Int("repl-backlog-size")))
	b = infoInt(b, "repl_backlog_first_byte_offset", first)
	return infoInt(b, "repl_backlog_histlen", histlen)
}

// disconnectReplicas closes every replica's link: they reconnect and
// learn a new replication ID, continuing where they were if they can.
func (s *Server) disconnectReplicas() {
	for _, r := range s.replicasNow() {
		r.c.nc.Close()
	}
}

// keepBacklog makes sure the backlog exists: a replica keeps one from its
// first sync, for replicas of its own and for when it becomes a master,
// and the journal is on, so that the shards' writes reach the backlog
// once it is a master. (On a replica they go only to the AOF; so the
// journal need not start at an instant with every shard held.)
func (s *Server) keepBacklog() {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	if !s.repl.active {
		s.repl.active = true
		s.journal.SetBacklog(int(s.cfg.Int("repl-backlog-size")))
	}
	s.journal.SetOn(true)
	s.repl.lastGone = time.Now()
}

// dropReplicas disconnects every replica and drops the backlog under a
// new replication ID, so none continues past a dataset replaced whole (a
// replica's full sync from its master).
func (s *Server) dropReplicas() {
	s.disconnectReplicas()
	s.repl.mu.Lock()
	active := s.repl.active
	s.repl.mu.Unlock()
	if active {
		s.changeReplID()
		s.journal.SetBacklog(0)
		s.journal.SetBacklog(int(s.cfg.Int("repl-backlog-size")))
	}
}

package conn

// The replica side of replication (REPLICAOF host port): the link to the
// master, the full sync (its RDB loaded), the command stream applied, and
// the refusal of writes (-READONLY) while a replica.
//
// One goroutine per link (replLink.run), owned by the Server: REPLICAOF
// NO ONE, another REPLICAOF and Shutdown stop it and wait for it. It
// connects, does Redis's handshake (PING, AUTH, REPLCONF listening-port,
// REPLCONF capa eof capa psync2, PSYNC), reads the RDB of a full resync
// to a temp file in dir (renamed to dbfilename, as Redis's disk load
// does) and loads it with every shard held, or parses it from the socket
// (repl-diskless-load: replica_diskless.go), then applies the stream in
// batches, each with every shard held (shard.Across, as the AOF's load
// does). A second goroutine per session sends REPLCONF ACK every second
// and closes a link silent for repl-timeout; the session waits for it.
//
// The offset counts the stream's bytes as Redis's reploff does: a command
// counts once applied, a transaction at its EXEC, and REPLCONF GETACK is
// answered with the offset before it. After a dropped link the next
// session asks PSYNC <master replid> <offset+1>.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

func init() {
	spec := func(name, since string) shard.Spec {
		return shard.Spec{Name: name, Arity: 3, Flags: shard.Admin | shard.NoScript | shard.Stale | shard.NoAsyncLoading,
			Group: "server", Since: since, Summary: "Make the server a replica of another instance, or promote it as master.",
			Complexity: "O(1)", Syntax: "<<host port>|<NO ONE>>"}
	}
	registerLocal(
		&localCommand{Spec: spec("replicaof", "5.0.0"), run: cmdReplicaof},
		&localCommand{Spec: spec("slaveof", "1.0.0"), run: cmdReplicaof},
	)
}

const errReadOnlyReplica = "READONLY You can't write against a read only replica."

// The link's states, as ROLE names them.
const (
	replConnect    int32 = iota // waiting to connect (again)
	replConnecting              // TCP connect under way
	replHandshake               // PING .. PSYNC
	replTransfer                // receiving the RDB ("sync")
	replConnected               // applying the stream
)

var replStateNames = [...]string{"connect", "connecting", "handshake", "sync", "connected"}

// replicaState is the server's replica side; the zero value is a master.
type replicaState struct {
	mu   sync.Mutex // orders REPLICAOF, Shutdown and the link's start
	link *replLink  // nil on a master
	on   atomic.Bool

	// What a PSYNC continues from, kept across links to the same
	// history: the master's replid and the processed offset. replid ""
	// means none (PSYNC ? -1).
	hist sync.Mutex
	rid  string
	off  int64
	db   int // the stream's database, kept for a +CONTINUE

	// expiry: setExpiryHeld's lock; pauseHeld is CLIENT PAUSE's share.
	expiry    sync.Mutex
	pauseHeld bool
}

// replLink is one REPLICAOF host port, until stopped.
type replLink struct {
	s    *Server
	host string
	port int
	stop chan struct{}
	done chan struct{}
	// ctx is cancelled with stop: it ends a dial in progress.
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	nc net.Conn // the session's connection, closed to stop or kill it

	state     atomic.Int32
	lastIO    atomic.Int64 // unix seconds of the last byte from the master
	downSince atomic.Int64 // unix seconds the link went down; 0: never up
	readOff   atomic.Int64 // slave_read_repl_offset
	procOff   atomic.Int64 // slave_repl_offset (reploff)
	hasMaster atomic.Bool  // a synced session (Redis's server.master)
	syncSize  atomic.Int64 // the RDB's size, -1 for a diskless one
	syncRead  atomic.Int64
	syncIO    atomic.Int64 // unix seconds of the RDB's last byte
	// direct: the RDB is parsed from the socket (a diskless load), whose
	// reads count as the transfer's and the load's progress.
	direct atomic.Bool

	wmu sync.Mutex // one writer on nc: the ACKs

	// raw holds the stream's bytes read and not yet processed (a MULTI
	// waiting for its EXEC, the batch being applied): as each command is
	// processed its bytes go on to this server's replicas (Journal.Proxy).
	raw []byte
}

// isReplica reports whether the server replicates a master now.
func (s *Server) isReplica() bool { return s.replica.on.Load() }

// replicaReadOnly reports whether clients' writes are refused now.
func (s *Server) replicaReadOnly() bool {
	return s.replica.on.Load() && s.cfg.Bool("replica-read-only")
}

// replicaOffset is the replica's replication ID and offset (INFO's
// master_replid and master_repl_offset, ROLE's), ok false on a master.
func (s *Server) replicaOffset() (replid string, offset int64, ok bool) {
	if !s.isReplica() {
		return "", 0, false
	}
	r := &s.replica
	r.hist.Lock()
	defer r.hist.Unlock()
	if r.rid == "" {
		return s.masterReplID(), 0, true
	}
	return s.masterReplID(), r.off, true
}

// infoReplica appends INFO replication's fields for a replica (role:slave,
// the master_* fields and the rest, as Redis's); b is unchanged on a
// master.
func (s *Server) infoReplica(b []byte) []byte {
	s.replica.mu.Lock()
	l := s.replica.link
	s.replica.mu.Unlock()
	if l == nil {
		return b
	}
	now := time.Now().Unix()
	st := l.state.Load()
	b = infoStr(b, "role", "slave")
	b = infoStr(b, "master_host", l.host)
	b = infoInt(b, "master_port", int64(l.port))
	status := "down"
	if st == replConnected {
		status = "up"
	}
	b = infoStr(b, "master_link_status", status)
	lastIO := int64(-1)
	if l.hasMaster.Load() {
		lastIO = now - l.lastIO.Load()
	}
	b = infoInt(b, "master_last_io_seconds_ago", lastIO)
	b = infoInt(b, "master_sync_in_progress", boolInt(st == replTransfer))
	read, proc := int64(1), int64(1)
	if l.hasMaster.Load() || s.replicaHasHistory() {
		read, proc = l.readOff.Load(), l.procOff.Load()
	}
	b = infoInt(b, "slave_read_repl_offset", read)
	b = infoInt(b, "slave_repl_offset", proc)
	if st == replTransfer {
		size, got := l.syncSize.Load(), l.syncRead.Load()
		perc := 0.0
		if size > 0 {
			perc = float64(got) / float64(size) * 100
		}
		b = infoInt(b, "master_sync_total_bytes", size)
		b = infoInt(b, "master_sync_read_bytes", got)
		b = infoInt(b, "master_sync_left_bytes", size-got)
		b = infoStr(b, "master_sync_perc", strconv.FormatFloat(perc, 'f', 2, 64))
		b = infoInt(b, "master_sync_last_io_seconds_ago", now-l.syncIO.Load())
	}
	if st != replConnected {
		down := int64(-1)
		if d := l.downSince.Load(); d != 0 {
			down = now - d
		}
		b = infoInt(b, "master_link_down_since_seconds", down)
	}
	b = infoInt(b, "slave_priority", s.cfg.Int("replica-priority"))
	b = infoInt(b, "slave_read_only", boolInt(s.cfg.Bool("replica-read-only")))
	b = infoInt(b, "replica_announced", boolInt(s.cfg.Bool("replica-announced")))
	// The rest as for a master: its replicas, and its master's history,
	// which it passes on.
	return s.infoReplicas(b)
}

func (s *Server) replicaHasHistory() bool {
	s.replica.hist.Lock()
	defer s.replica.hist.Unlock()
	return s.replica.rid != ""
}

// roleReplica replies to ROLE on a replica (slave host port state offset)
// and reports true; on a master it does nothing and reports false.
func (s *Server) roleReplica(c *client) bool {
	s.replica.mu.Lock()
	l := s.replica.link
	s.replica.mu.Unlock()
	if l == nil {
		return false
	}
	off := int64(-1)
	if l.hasMaster.Load() {
		off = l.procOff.Load()
	}
	c.replyArray(5)
	c.replyBulkString("slave")
	c.replyBulkString(l.host)
	c.replyInt(int64(l.port))
	c.replyBulkString(replStateNames[l.state.Load()])
	c.replyInt(off)
	return true
}

// cmdReplicaof is REPLICAOF (and SLAVEOF) host port | NO ONE.
func cmdReplicaof(c *client, args [][]byte) {
	if c.srv.cfg.Bool("cluster-enabled") {
		c.replyError("ERR REPLICAOF not allowed in cluster mode.")
		return
	}
	if equalFold(args[1], "no") && equalFold(args[2], "one") {
		if c.srv.unsetMaster() {
			c.srv.log.Info("MASTER MODE enabled (user request from '" + c.infoLine() + "')")
		}
		c.replyOK()
		return
	}
	port, ok := wire.ParseInt(args[2])
	if !ok || port < 0 || port > 65535 {
		c.replyError("ERR Invalid master port")
		return
	}
	host := string(args[1])
	if !c.srv.setMaster(host, int(port), true) {
		c.srv.log.Info("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.")
		c.local = append(c.local, "+OK Already connected to specified master\r\n"...)
		return
	}
	c.srv.log.Info("REPLICAOF " + host + ":" + strconv.Itoa(int(port)) + " enabled (user request from '" + c.infoLine() + "')")
	c.replyOK()
}

// infoLine is the client's id and address, for the log.
func (c *client) infoLine() string {
	return "id=" + strconv.FormatInt(c.id, 10) + " addr=" + c.nc.RemoteAddr().String()
}

// setMaster makes the server a replica of host:port, replacing any link;
// false if it already replicates that master.
func (s *Server) setMaster(host string, port int, offerOwn bool) bool {
	r := &s.replica
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.link; l != nil {
		if strings.EqualFold(l.host, host) && l.port == port {
			return false
		}
		l.halt()
	} else {
		// A master turning replica offers its own history to the new
		// master, which continues it if it was this server's replica
		// (Redis's replicationCacheMasterUsingMyself); at start-up there
		// is none. Its own replicas stay: from now on they get what the
		// new master sends.
		// (At start-up the history is what the file recorded, if it did:
		// restoreReplInfo.)
		// Clients' writes are refused from here (r.on): one made after
		// the offset is taken would be in the dataset and in no stream.
		r.on.Store(true)
		off := s.journal.ReplOffset()
		if offerOwn {
			r.hist.Lock()
			r.rid, r.off, r.db = s.masterReplID(), off, 0
			r.hist.Unlock()
		}
		s.journal.SetProxy(true, off)
	}
	select {
	case <-s.stopping:
		return true
	default:
	}
	s.unblockForRole()
	s.cfg.Load("replicaof", host+" "+strconv.Itoa(port)) // CONFIG GET and REWRITE show it
	l := &replLink{s: s, host: host, port: port, stop: make(chan struct{}), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.syncSize.Store(-1)
	r.link = l
	r.on.Store(true)
	s.setExpiryHeld()
	s.setMaxmemory() // replica-ignore-maxmemory
	s.log.Info("Connecting to MASTER " + host + ":" + strconv.Itoa(port))
	go l.run()
	return true
}

// unsetMaster is REPLICAOF NO ONE: the link stops, the data stays, and
// the server takes writes again; false if it was a master already.
func (s *Server) unsetMaster() bool {
	r := &s.replica
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.link
	if l == nil {
		return false
	}
	l.halt()
	r.link = nil
	r.hist.Lock()
	off, synced := r.off, r.rid != ""
	r.hist.Unlock()
	if !synced {
		off = s.journal.ReplOffset()
	}
	// As Redis: the master's history stays valid up to here as the second
	// ID, a new one begins, the next write selects its database, and the
	// replicas reconnect to learn the new ID (they continue, by the
	// second one). Clients' writes are refused until the stream is the
	// server's own: one made in between would reach no replica.
	s.shiftReplID("", off)
	s.journal.SetProxy(false, off)
	r.on.Store(false)
	r.hist.Lock()
	r.rid, r.off, r.db = "", 0, 0
	r.hist.Unlock()
	s.disconnectReplicas()
	s.repl.mu.Lock()
	s.repl.lastGone = time.Now()
	s.repl.mu.Unlock()
	s.cfg.Load("replicaof", "no one")
	s.setExpiryHeld()
	s.setMaxmemory() // the limit applies again
	return true
}

// stopReplica ends the link at Shutdown and waits for its goroutine.
func (s *Server) stopReplica() {
	r := &s.replica
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.link != nil {
		r.link.halt()
	}
}

// replicaAtStartup starts replicating the master the replicaof parameter
// names, once the server's own file is loaded.
func (s *Server) replicaAtStartup() {
	v := s.cfg.Value("replicaof")
	host, port, ok := strings.Cut(v, " ")
	if !ok {
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return
	}
	s.setMaster(host, n, false) // no history to offer: the file holds none
}

// killMasterLinkAt closes the link's connection (CLIENT KILL TYPE master,
// ip:port or ADDR) if its remote address is addr ("": any); it reports 1
// if it did.
func (s *Server) killMasterLinkAt(addr string) int64 {
	s.replica.mu.Lock()
	l := s.replica.link
	s.replica.mu.Unlock()
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nc == nil || !l.hasMaster.Load() || addr != "" && l.nc.RemoteAddr().String() != addr {
		return 0
	}
	l.nc.Close()
	return 1
}

// setExpiryHeld keeps the shards from expiring keys while a replica:
// expired keys read as gone but stay until the master's DEL, as in Redis.
// CLIENT PAUSE shares the flag (pause.go).
func (s *Server) setExpiryHeld() {
	r := &s.replica
	r.expiry.Lock()
	defer r.expiry.Unlock()
	s.expiryPaused.Store(r.on.Load() || r.pauseHeld)
}

// setPauseExpiry is CLIENT PAUSE's side of setExpiryHeld.
func (s *Server) setPauseExpiry(on bool) {
	r := &s.replica
	r.expiry.Lock()
	r.pauseHeld = on
	r.expiry.Unlock()
	s.evictPaused.Store(on)
	s.setExpiryHeld()
}

// halt stops the link and waits for its goroutine.
func (l *replLink) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.cancel()
	l.mu.Lock()
	if l.nc != nil {
		l.nc.Close()
	}
	l.mu.Unlock()
	<-l.done
}

func (l *replLink) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *replLink) addr() string { return net.JoinHostPort(l.host, strconv.Itoa(l.port)) }

// run is the link's goroutine: a session, then another after it ends,
// until stopped.
func (l *replLink) run() {
	defer close(l.done)
	s := l.s
	for !l.stopped() {
		wasUp, err := l.session()
		l.mu.Lock()
		if l.nc != nil {
			l.nc.Close()
			l.nc = nil
		}
		l.mu.Unlock()
		l.hasMaster.Store(false)
		l.state.Store(replConnect)
		if l.stopped() {
			return
		}
		if wasUp {
			l.downSince.Store(time.Now().Unix())
			s.log.Info("Connection with master lost. Reconnecting to MASTER " + l.addr())
			if err != nil {
				s.log.Debug("master link ended", "err", err)
			}
			continue // at once, as Redis: the backlog may not wait
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Redis's words for a master silent before the stream began.
			s.log.Warn("Timeout connecting to the MASTER...")
		} else if err != nil {
			s.log.Warn("Replication with MASTER " + l.addr() + " failed: " + err.Error())
		}
		select {
		case <-l.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// timeout is repl-timeout.
func (l *replLink) timeout() time.Duration {
	return time.Duration(max(l.s.cfg.Int("repl-timeout"), 1)) * time.Second
}

// deadlineConn sets a read deadline of repl-timeout before each read and
// notes the time of the last byte.
type deadlineConn struct {
	l  *replLink
	nc net.Conn
}

func (d deadlineConn) Read(p []byte) (int, error) {
	d.nc.SetReadDeadline(time.Now().Add(d.l.timeout()))
	n, err := d.nc.Read(p)
	if n > 0 {
		now := time.Now().Unix()
		d.l.lastIO.Store(now)
		if d.l.direct.Load() {
			d.l.syncRead.Add(int64(n))
			d.l.syncIO.Store(now)
			d.l.s.persist.loadBytes.Add(int64(n))
		}
	}
	return n, err
}

// session connects, syncs and applies the stream until the link fails or
// is stopped. wasUp: it got as far as applying the stream.
func (l *replLink) session() (wasUp bool, err error) {
	s := l.s
	l.state.Store(replConnecting)
	// The dial ends with the link (halt): REPLICAOF NO ONE or a shutdown
	// must not wait for a master that does not answer.
	d := net.Dialer{Timeout: l.timeout()}
	nc, err := d.DialContext(l.ctx, "tcp", l.addr())
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	if l.stopped() {
		l.mu.Unlock()
		nc.Close()
		return false, nil
	}
	l.nc = nc
	l.mu.Unlock()
	s.log.Info("MASTER <-> REPLICA sync started")
	l.state.Store(replHandshake)
	l.lastIO.Store(time.Now().Unix())
	br := bufio.NewReaderSize(deadlineConn{l, nc}, 64<<10)
	full, rid, off, err := l.handshake(nc, br)
	if err != nil {
		return false, err
	}
	r := &s.replica
	newID := false // a +CONTINUE with a new replication ID
	if full {
		l.state.Store(replTransfer)
		if err := l.fullSync(br, rid, off); err != nil {
			return false, err
		}
	} else {
		r.hist.Lock()
		changed := rid != "" && rid != r.rid
		if changed {
			r.rid = rid
		}
		off = r.off
		r.hist.Unlock()
		if changed {
			// As Redis: the old ID stays valid up to here, and this
			// server's replicas reconnect to learn the new one (once the
			// link is up, below, so that they find it up).
			s.shiftReplID(rid, off)
			s.log.Info("Master replication ID changed to " + rid)
			newID = true
		}
		s.journal.SetProxy(true, off)
		s.keepBacklog()
		s.log.Info("Successful partial resynchronization with master.")
		s.log.Info("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
	}
	l.procOff.Store(off)
	l.readOff.Store(off + int64(br.Buffered()))
	l.raw = l.raw[:0]
	l.hasMaster.Store(true)
	l.state.Store(replConnected)
	l.downSince.Store(0)
	if newID {
		s.disconnectReplicas()
	}
	if err := l.sendAck(nc); err != nil {
		return true, err
	}
	acks := make(chan struct{})
	ackDone := make(chan struct{})
	go l.ackLoop(nc, acks, ackDone)
	defer func() {
		close(acks)
		<-ackDone
	}()
	return true, l.stream(nc, br)
}

// command writes one command in RESP.
func (l *replLink) command(nc net.Conn, args ...string) error {
	b := wire.AppendArray(nil, len(args))
	for _, a := range args {
		b = wire.AppendBulkString(b, a)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	nc.SetWriteDeadline(time.Now().Add(l.timeout()))
	_, err := nc.Write(b)
	return err
}

// readLine reads one reply line without its CRLF.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
		if len(line) > maxMasterLine {
			// Redis reads these into a buffer of a few hundred bytes: a
			// master that sends more without a newline is broken.
			return "", errors.New("the master's reply line is too long")
		}
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// maxMasterLine bounds a line of the master's handshake replies and the
// RDB payload's header.
const maxMasterLine = 64 << 10

// handshake runs PING .. PSYNC: full says +FULLRESYNC (with the master's
// replid and offset), otherwise +CONTINUE (rid: a new replid, or "").
func (l *replLink) handshake(nc net.Conn, br *bufio.Reader) (full bool, rid string, off int64, err error) {
	s := l.s
	if err := l.command(nc, "PING"); err != nil {
		return false, "", 0, err
	}
	line, err := readLine(br)
	if err != nil {
		return false, "", 0, err
	}
	if strings.HasPrefix(line, "-") && !strings.HasPrefix(line, "-NOAUTH") &&
		!strings.HasPrefix(line, "-NOPERM") && !strings.HasPrefix(line, "-ERR operation not permitted") {
		return false, "", 0, errors.New("Error reply to PING from master: '" + line + "'")
	}
	s.log.Info("Master replied to PING, replication can continue...")
	if pass := s.cfg.Value("masterauth"); pass != "" {
		args := []string{"AUTH", pass}
		if u := s.cfg.Value("masteruser"); u != "" {
			args = []string{"AUTH", u, pass}
		}
		if err := l.command(nc, args...); err != nil {
			return false, "", 0, err
		}
		if line, err = readLine(br); err != nil {
			return false, "", 0, err
		}
		if strings.HasPrefix(line, "-") {
			return false, "", 0, errors.New("Unable to AUTH to MASTER: " + line)
		}
	}
	port := s.cfg.Int("replica-announce-port")
	if port == 0 {
		port = s.listenPort()
	}
	cmds := [][]string{{"REPLCONF", "listening-port", strconv.FormatInt(port, 10)}}
	if ip := s.cfg.Value("replica-announce-ip"); ip != "" {
		cmds = append(cmds, []string{"REPLCONF", "ip-address", ip})
	}
	cmds = append(cmds, []string{"REPLCONF", "capa", "eof", "capa", "psync2"})
	for _, c := range cmds {
		if err := l.command(nc, c...); err != nil {
			return false, "", 0, err
		}
		if line, err = readLine(br); err != nil {
			return false, "", 0, err
		}
		if strings.HasPrefix(line, "-") {
			s.log.Info("(Non critical) Master does not understand REPLCONF " + c[1] + ": " + line)
		}
	}
	r := &s.replica
	r.hist.Lock()
	prid, poff := r.rid, r.off
	r.hist.Unlock()
	if prid != "" {
		s.log.Info("Trying a partial resynchronization (request " + prid + ":" + strconv.FormatInt(poff+1, 10) + ").")
		err = l.command(nc, "PSYNC", prid, strconv.FormatInt(poff+1, 10))
	} else {
		s.log.Info("Partial resynchronization not possible (no cached master)")
		err = l.command(nc, "PSYNC", "?", "-1")
	}
	if err != nil {
		return false, "", 0, err
	}
	for {
		if line, err = readLine(br); err != nil {
			return false, "", 0, err
		}
		if line != "" {
			break // empty lines: the master's keepalive while it prepares
		}
	}
	switch {
	case strings.HasPrefix(line, "+FULLRESYNC"):
		f := strings.Fields(line)
		if len(f) != 3 || len(f[1]) != 40 {
			return false, "", 0, errors.New("Master replied with wrong +FULLRESYNC syntax: " + line)
		}
		off, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || off < 0 || off > maxReplOffset {
			// A negative offset, or one the stream's bytes would carry
			// past the int64 range, would put the backlog's ring
			// positions out of range (a panic at the next write).
			return false, "", 0, errors.New("Master replied with wrong +FULLRESYNC syntax: " + line)
		}
		s.log.Info("Full resync from master: " + f[1] + ":" + f[2])
		return true, f[1], off, nil
	case strings.HasPrefix(line, "+CONTINUE"):
		if prid == "" {
			return false, "", 0, errors.New("unexpected +CONTINUE without a cached master")
		}
		f := strings.Fields(line)
		if len(f) == 2 && len(f[1]) == 40 {
			return false, f[1], 0, nil
		}
		return false, "", 0, nil
	}
	return false, "", 0, errors.New("Unexpected reply to PSYNC from master: " + line)
}

// listenPort is the port clients reach this server on: the first TCP
// listener's, else the port parameter.
func (s *Server) listenPort() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		if a, ok := ln.Addr().(*net.TCPAddr); ok {
			return int64(a.Port)
		}
	}
	return s.cfg.Int("port")
}

// fullSync receives the RDB of a +FULLRESYNC to a temp file in dir,
// renames it to dbfilename, and loads it in place of the dataset.
func (l *replLink) fullSync(br *bufio.Reader, rid string, off int64) error {
	s := l.s
	var line string
	var err error
	for {
		if line, err = readLine(br); err != nil {
			return err
		}
		if line != "" {
			break
		}
		l.syncIO.Store(time.Now().Unix()) // keepalive newline
	}
	if strings.HasPrefix(line, "-") {
		return errors.New("MASTER aborted replication with an error: " + line)
	}
	if !strings.HasPrefix(line, "$") {
		return errors.New("Bad protocol from MASTER, the first byte is not '$' (we received '" + line + "'), are you sure the host and port are right?")
	}
	var mark []byte
	size := int64(-1)
	if rest, ok := strings.CutPrefix(line, "$EOF:"); ok {
		if len(rest) != 40 {
			return errors.New("bad diskless EOF mark: " + line)
		}
		mark = []byte(rest)
	} else if size, err = strconv.ParseInt(line[1:], 10, 64); err != nil || size < 0 {
		return errors.New("bad RDB length from MASTER: " + line)
	}
	// repl-diskless-load: swapdb, and on-empty-db while there is no key,
	// parse the payload from the socket (replica_diskless.go).
	mode := s.cfg.Value("repl-diskless-load")
	var emptyHeld []*shard.Shard
	var emptyRelease func()
	if mode == "on-empty-db" {
		held, release, ok := l.holdAll()
		if !ok {
			return errors.New("stopped")
		}
		if heldKeys(held) == 0 {
			emptyHeld, emptyRelease = held, release
		} else {
			release()
			mode = "disabled"
		}
	}
	to := "disk"
	if mode == "swapdb" || mode == "on-empty-db" {
		to = "parser"
	}
	if mark != nil {
		s.log.Info("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to " + to)
	} else {
		s.log.Info("MASTER <-> REPLICA sync: receiving " + strconv.FormatInt(size, 10) + " bytes from master to " + to)
	}
	l.syncSize.Store(size)
	l.syncRead.Store(0)
	l.syncIO.Store(time.Now().Unix())
	switch mode {
	case "swapdb":
		return l.loadSwapdb(br, rid, off, size, mark)
	case "on-empty-db":
		return l.loadEmpty(emptyHeld, emptyRelease, br, rid, off, size, mark)
	}
	dir := s.cfg.Value("dir")
	tmp, err := os.CreateTemp(dir, "temp-*.rdb")
	if err != nil {
		return errors.New("Opening the temp file needed for MASTER <-> REPLICA synchronization: " + errnoMessage(err))
	}
	defer os.Remove(tmp.Name())
	if err := l.receive(br, tmp, size, mark); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	held, release, ok := l.holdAll()
	if !ok {
		return errors.New("stopped")
	}
	defer release()
	// As Redis kills its RDB child: a BGSAVE would write the old dataset
	// over the file (none begins while the shards are held).
	s.cancelBgsave()
	path := s.rdbPath()
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errors.New("Failed trying to rename the temp DB into " + filepath.Base(path) + " in MASTER <-> REPLICA synchronization: " + errnoMessage(err))
	}
	s.persist.loading.Store(true)
	defer s.persist.loading.Store(false)
	s.discardDataset(held)
	s.log.Info("MASTER <-> REPLICA sync: Loading DB in memory")
	err = s.loadRDB(path, func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
		return held[id].Load(es, now, false)
	}, script.RestoreFlush, true)
	if err != nil {
		s.log.Warn("Failed trying to load the MASTER synchronization DB from disk: " + err.Error())
		return err
	}
	// The file is the dataset: nothing to save yet.
	s.persist.changesSaved.Store(s.changes())
	l.syncDone(held, rid, off)
	return nil
}

// syncDone ends a full sync whose dataset is in place, with every shard
// held: the master's history becomes the server's, and the AOF, if on,
// starts again from the new dataset.
func (l *replLink) syncDone(held []*shard.Shard, rid string, off int64) {
	s := l.s
	r := &s.replica
	r.hist.Lock()
	r.rid, r.off, r.db = rid, off, int(s.persist.loadStreamDB.Load())
	r.hist.Unlock()
	// The master's history is this server's now, from off: what it sends
	// is passed on to replicas of this one as it comes. The offset first:
	// a replica's PSYNC that finds the master's ID must find its offset.
	s.journal.SetProxy(true, off)
	s.adoptReplID(rid)
	s.keepBacklog()
	s.log.Info("MASTER <-> REPLICA sync: Finished with success")
	a := &s.aof
	a.mu.Lock()
	aofOn := a.on
	a.mu.Unlock()
	if aofOn {
		// The AOF holds the old dataset: a rewrite from this instant
		// replaces it, as Redis restarts its AOF after a sync.
		s.cancelAOFRewrite()
		if err := s.startAOFRewrite(held); err != nil {
			s.log.Warn("Can't rewrite the append only file after the sync: " + err.Error())
		}
	}
}

// discardDataset empties the held shards before a full sync's load.
// Replicas of this replica follow a dataset that is going: as Redis, they
// are disconnected (they sync again), and the ID changes. The history that
// described the dataset goes with it, so a load that fails is followed by
// PSYNC ? -1, never by a partial resync onto the emptied data (Redis
// discards its cached master at this point too). A snapshot in progress (a
// cancelled BGSAVE or rewrite) would write every key the flush removes
// first: it ends.
func (s *Server) discardDataset(held []*shard.Shard) {
	s.dropReplicas()
	r := &s.replica
	r.hist.Lock()
	r.rid, r.off, r.db = "", 0, 0
	r.hist.Unlock()
	s.cancelAOFRewrite()
	for _, sh := range held {
		sh.AbortSnapshot()
	}
	s.log.Info("MASTER <-> REPLICA sync: Flushing old data")
	for _, sh := range held {
		sh.FlushAll()
	}
}

// receive copies the payload to f: size bytes, or up to the 40-byte mark
// of a diskless transfer (the mark itself left out).
func (l *replLink) receive(br *bufio.Reader, f *os.File, size int64, mark []byte) error {
	buf := make([]byte, 64<<10)
	if mark == nil {
		left := size
		for left > 0 {
			n, err := br.Read(buf[:min(int64(len(buf)), left)])
			if n > 0 {
				if _, werr := f.Write(buf[:n]); werr != nil {
					return werr
				}
				left -= int64(n)
				l.syncRead.Add(int64(n))
				l.syncIO.Store(time.Now().Unix())
			}
			if err != nil && left > 0 {
				return err
			}
		}
		return nil
	}
	// Keep the last 40 bytes back until more arrive: they may be the mark.
	var tail []byte
	for {
		n, err := br.Read(buf)
		if n > 0 {
			l.syncRead.Add(int64(n))
			l.syncIO.Store(time.Now().Unix())
			tail = append(tail, buf[:n]...)
			if len(tail) >= len(mark) && bytes.Equal(tail[len(tail)-len(mark):], mark) {
				_, werr := f.Write(tail[:len(tail)-len(mark)])
				return werr
			}
			if keep := len(mark); len(tail) > keep {
				if _, werr := f.Write(tail[:len(tail)-keep]); werr != nil {
					return werr
				}
				tail = append(tail[:0], tail[len(tail)-keep:]...)
			}
		}
		if err != nil {
			return err
		}
	}
}

// holdAll borrows every shard in ascending order, giving up (and back)
// when the link is stopped: a client holding shards may be waiting for
// this goroutine to end (REPLICAOF inside EXEC).
func (l *replLink) holdAll() (held []*shard.Shard, release func(), ok bool) {
	ws := l.s.workers
	loans := make([]*shard.Loan, 0, len(ws))
	release = func() {
		for _, ln := range loans {
			ln.Return()
		}
		loans = loans[:0]
	}
	for _, w := range ws {
		ln := shard.NewLoan()
		for {
			sh, err := w.BorrowWithin(ln, 100*time.Millisecond)
			if err != nil {
				release()
				return nil, nil, false
			}
			if sh != nil {
				held = append(held, sh)
				loans = append(loans, ln)
				break
			}
			if l.stopped() {
				release()
				return nil, nil, false
			}
		}
	}
	return held, release, true
}

// sendAck sends REPLCONF ACK <processed offset>.
func (l *replLink) sendAck(nc net.Conn) error {
	return l.command(nc, "REPLCONF", "ACK", strconv.FormatInt(l.procOff.Load(), 10))
}

// ackLoop sends an ACK every second and closes a link silent for
// repl-timeout, until stop is closed.
func (l *replLink) ackLoop(nc net.Conn, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(l.lastIO.Load(), 0)) > l.timeout() {
			l.s.log.Warn("MASTER timeout: no data nor PING received...")
			nc.Close()
			return
		}
		if l.sendAck(nc) != nil {
			nc.Close()
			return
		}
	}
}

// replCmd is one command of the stream and its size in bytes.
type replCmd struct {
	args [][]byte
	size int64
}

// readReplCommand reads one command of the stream (RESP arrays; a stray
// newline counts as bytes and nothing else). A bulk longer than maxBulk
// (proto-max-bulk-len) is refused before anything is allocated for it.
// The arguments are the command's own: nothing aliases br's buffer. The
// bytes read, as they came, are appended to raw if it is not nil.
func readReplCommand(br *bufio.Reader, maxBulk int64, raw *[]byte) (replCmd, error) {
	var n int64
	keep := func(b []byte) {
		n += int64(len(b))
		if raw != nil {
			*raw = append(*raw, b...)
		}
	}
	// line reads the next line, without its CR LF.
	line := func() ([]byte, error) {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		keep(l)
		return bytes.TrimRight(l, "\r\n"), nil
	}
	t, err := line()
	if err != nil {
		return replCmd{}, err
	}
	if len(t) == 0 {
		return replCmd{size: n}, nil
	}
	if t[0] != '*' {
		// An inline command: words separated by blanks.
		f := bytes.Fields(t)
		args := make([][]byte, len(f))
		for i, w := range f {
			args[i] = bytes.Clone(w)
		}
		return replCmd{args: args, size: n}, nil
	}
	count, ok := wire.ParseInt(t[1:])
	if !ok || count < 0 || count > 1024*1024 {
		return replCmd{}, errors.New("Protocol error: invalid multibulk length")
	}
	args := make([][]byte, 0, min(count, 64))
	for i := int64(0); i < count; i++ {
		t, err := line()
		if err != nil {
			return replCmd{}, err
		}
		if len(t) == 0 || t[0] != '$' {
			return replCmd{}, errors.New("Protocol error: expected '$'")
		}
		size, ok := wire.ParseInt(t[1:])
		if !ok || size < 0 || size > maxBulk {
			return replCmd{}, errors.New("Protocol error: invalid bulk length")
		}
		arg, err := readBulk(br, size+2)
		if err != nil {
			return replCmd{}, err
		}
		keep(arg)
		args = append(args, arg[:size])
	}
	return replCmd{args: args, size: n}, nil
}

// readBulk reads n bytes. Past 1 MB the buffer grows as the bytes come,
// so a length the master announces costs memory only once it is sent.
func readBulk(br *bufio.Reader, n int64) ([]byte, error) {
	if n <= 1<<20 {
		b := make([]byte, n)
		_, err := io.ReadFull(br, b)
		return b, err
	}
	var b bytes.Buffer
	b.Grow(1 << 20)
	_, err := io.CopyN(&b, br, n)
	return b.Bytes(), err
}

// Batches: at most this many commands, or bytes, with the shards held.
const (
	replBatchCmds  = 512
	replBatchBytes = 1 << 20
)

// stream applies the master's commands until the link fails.
func (l *replLink) stream(nc net.Conn, br *bufio.Reader) error {
	var batch []replCmd
	var tx []replCmd // a MULTI's commands, until its EXEC
	inTx := false
	var txBytes int64
	for {
		batch = batch[:0]
		var bytesIn int
		cmd, err := readReplCommand(br, l.s.maxBulk.Load(), &l.raw)
		if err != nil {
			return err
		}
		batch = append(batch, cmd)
		bytesIn += int(cmd.size)
		for br.Buffered() > 0 && len(batch) < replBatchCmds && bytesIn < replBatchBytes {
			if cmd, err = readReplCommand(br, l.s.maxBulk.Load(), &l.raw); err != nil {
				return err
			}
			batch = append(batch, cmd)
			bytesIn += int(cmd.size)
		}
		if err := l.apply(nc, batch, &tx, &inTx, &txBytes); err != nil {
			return err
		}
		l.readOff.Store(l.procOff.Load() + txBytes + int64(br.Buffered()))
	}
}

// apply runs a batch with every shard held; a MULTI's commands wait for
// its EXEC (tx), which may come in a later batch.
func (l *replLink) apply(nc net.Conn, batch []replCmd, tx *[]replCmd, inTx *bool, txBytes *int64) error {
	s := l.s
	r := &s.replica
	var held []*shard.Shard
	var release func()
	var rp *aofReplay
	begin := func() bool {
		if rp != nil {
			return true
		}
		var ok bool
		if held, release, ok = l.holdAll(); !ok {
			return false
		}
		r.hist.Lock()
		db := r.db
		r.hist.Unlock()
		// KeepExpired: for the master's commands no key has expired, as
		// for Redis's master client; the master sends DEL when one has.
		rp = &aofReplay{s: s, held: held, file: "the master link", db: db, record: true}
		rp.begin()
		return true
	}
	// processed counts the bytes of l.raw whose commands have run; they
	// go on to this server's replicas while the shards are still held, so
	// a snapshot for a replica of this one sees their writes and their
	// offset together.
	var processed int
	finish := func() {
		if processed > 0 {
			s.journal.Proxy(l.raw[:processed])
			l.raw = append(l.raw[:0], l.raw[processed:]...)
			if cap(l.raw) > replBatchBytes*4 && len(l.raw) < replBatchBytes {
				l.raw = append([]byte(nil), l.raw...)
			}
			processed = 0
		}
		if rp == nil {
			return
		}
		rp.a.End()
		r.hist.Lock()
		r.db = rp.db
		r.hist.Unlock()
		release()
		rp = nil
	}
	defer finish()
	var acks []int64
	advance := func(n int64) {
		off := l.procOff.Add(n)
		processed += int(n)
		r.hist.Lock()
		r.off = off
		r.hist.Unlock()
	}
	for _, c := range batch {
		if len(c.args) == 0 {
			if *inTx {
				*txBytes += c.size
			} else {
				advance(c.size)
			}
			continue
		}
		name := strings.ToLower(string(c.args[0]))
		switch {
		case name == "multi" && *inTx:
			// Redis refuses a nested MULTI and keeps the transaction: its
			// bytes count with it, at its EXEC.
			*txBytes += c.size
			continue
		case name == "multi":
			*inTx, *tx, *txBytes = true, (*tx)[:0], c.size
			continue
		case name == "exec" && *inTx:
			if !l.holdForPause(finish, name) {
				return errors.New("stopped")
			}
			if !begin() {
				return errors.New("stopped")
			}
			for _, tc := range *tx {
				l.runOne(rp, tc.args)
			}
			advance(*txBytes + c.size)
			*inTx, *tx, *txBytes = false, (*tx)[:0], 0
			continue
		case name == "discard" && *inTx:
			advance(*txBytes + c.size)
			*inTx, *tx, *txBytes = false, (*tx)[:0], 0
			continue
		case *inTx:
			*tx = append(*tx, c)
			*txBytes += c.size
			continue
		case name == "replconf":
			if len(c.args) >= 2 && equalFold(c.args[1], "getack") {
				acks = append(acks, l.procOff.Load())
			}
			advance(c.size)
			continue
		case name == "ping":
			advance(c.size)
			continue
		}
		if !l.holdForPause(finish, name) {
			return errors.New("stopped")
		}
		if !begin() {
			return errors.New("stopped")
		}
		l.runOne(rp, c.args)
		advance(c.size)
	}
	finish()
	for _, off := range acks {
		if err := l.command(nc, "REPLCONF", "ACK", strconv.FormatInt(off, 10)); err != nil {
			return err
		}
	}
	return nil
}

// holdForPause makes a command of the master's stream wait while a
// CLIENT PAUSE lasts, as Redis postpones its master client's writes (and
// so the stream behind them, in order): the dataset stays still, and an
// evicting replica (replica-ignore-maxmemory no), whose eviction the pause
// stops, does not grow meanwhile. The master sends writes alone, and
// PUBLISH and EXEC, which a pause holds; SELECT is not held. finish ends
// the batch so far first, releasing the shards. It reports false when the
// link or the server stops during the wait.
func (l *replLink) holdForPause(finish func(), name string) bool {
	s := l.s
	p := s.activePause()
	if p == nil || name == "select" {
		return true
	}
	finish()
	for ; p != nil; p = s.activePause() {
		// The stream is not read meanwhile: the link is not taken for
		// silent (ackLoop), as Redis's master client goes on reading
		// into its query buffer while its commands wait.
		l.lastIO.Store(time.Now().Unix())
		t := time.NewTimer(min(time.Until(p.until), time.Second))
		select {
		case <-p.changed:
		case <-t.C:
		case <-l.stop:
			t.Stop()
			return false
		case <-s.stopping:
			t.Stop()
			return false
		}
		t.Stop()
	}
	return true
}

// runOne runs one command of the master on the held shards.
func (l *replLink) runOne(rp *aofReplay, args [][]byte) {
	s := l.s
	switch strings.ToLower(string(args[0])) {
	case "publish", "spublish":
		if len(args) == 3 {
			kind := pubsub.Channel
			if equalFold(args[0], "spublish") {
				kind = pubsub.Shard
			}
			s.hub.Publish(kind, string(args[1]), string(args[2])) // no arrival time to order by
		}
		return
	}
	e := lookup(args[0])
	if e == nil {
		l.errorToMaster(unknownCommand(args), "<unknown>")
		return
	}
	rp.out = rp.out[:0]
	rp.apply(args)
	if r := rp.out; len(r) > 0 && r[0] == '-' {
		name := e.spec.Name
		if len(e.spec.Subcommands) > 0 && len(args) > 1 {
			if sub := subSpec(e.spec, args[1]); sub != nil {
				name = sub.Name
			}
		}
		l.errorToMaster(strings.TrimSuffix(string(r[1:]), "\r\n"), name)
	}
}

// errorToMaster logs, as Redis does, that a command of the master's
// stream failed here: the datasets may now differ (a writable replica's
// own writes, a master that sent something this server does not know).
// The reply itself goes nowhere.
func (l *replLink) errorToMaster(msg, cmd string) {
	msg = msg[:min(len(msg), 4096)]
	l.s.log.Warn("== CRITICAL == This replica is sending an error to its master: '" + msg + "' after processing the command '" + cmd + "'")
	l.s.stats.unexpectedErrors.Add(1)
}

const errMasterDown = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."

// refuseReadOnly answers a write with -READONLY on a read-only replica,
// and a command without the stale flag with -MASTERDOWN while the link is
// down and replica-serve-stale-data is no, and reports true; Redis checks
// these after NOREPLICAS, before MULTI queues the command (whose EXEC
// then fails).
func (c *client) refuseReadOnly(e *entry, args [][]byte) bool {
	if !e.arityOK(len(args)) {
		return false
	}
	if c.srv.cfg.Bool("replica-read-only") && c.writes(e, args) {
		c.last = e.spec
		c.reject(e, args, errReadOnlyReplica)
		return true
	}
	if !c.srv.cfg.Bool("replica-serve-stale-data") && !c.srv.masterLinkUp() && c.deniedStale(e, args) {
		c.last = e.spec
		c.reject(e, args, errMasterDown)
		return true
	}
	return false
}

// masterLinkUp reports whether the replica applies its master's stream.
func (s *Server) masterLinkUp() bool {
	s.replica.mu.Lock()
	l := s.replica.link
	s.replica.mu.Unlock()
	return l != nil && l.state.Load() == replConnected
}

// deniedStale: the command lacks the stale flag, or it is EXEC of a
// transaction with a command that lacks it.
func (c *client) deniedStale(e *entry, args [][]byte) bool {
	spec := e.spec
	if len(spec.Subcommands) > 0 && len(args) > 1 {
		if sub := subSpec(e.spec, args[1]); sub != nil {
			spec = sub
		}
	}
	if spec.Flags&shard.Stale == 0 {
		return true
	}
	if spec.Name == "exec" && c.tx.on {
		for _, tc := range c.tx.calls {
			if tc.e.spec.Flags&shard.Stale == 0 {
				return true
			}
		}
	}
	return false
}

const errRoleChanged = "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"

// unblockForRole ends the waits of the clients blocked on keys with
// errRoleChanged, and closes them, as Redis's REPLICAOF does: the
// master's stream would otherwise serve them, popping on the replica what
// the master keeps.
func (s *Server) unblockForRole() {
	s.mu.Lock()
	var list []*client
	for _, c := range s.clients {
		if c.block.blocked.Load() && !c.block.paused.Load() {
			list = append(list, c)
		}
	}
	s.mu.Unlock()
	for _, c := range list {
		c.block.roleChanged.Store(true)
		select {
		case c.block.unblock <- true:
		default:
		}
	}
}

package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("conn: server closed")

// Options configure a Server. Zero values pick defaults.
type Options struct {
	Shards  int          // number of shards; any count >= 1 (default 1)
	Mailbox int          // per-shard mailbox capacity
	Logger  *slog.Logger // default slog.Default()
	Config  *config.Table
	// ConfigFile is the absolute path of the file the configuration was
	// read from, which CONFIG REWRITE writes; "" when started without one.
	ConfigFile string
	// Persistent makes the server act on its save points ("save"): save
	// by them, at shutdown and after FLUSHALL, as redis-server does. The
	// command line sets it; in process (tests, embedders) nothing is
	// written unless asked for (SAVE, BGSAVE, DEBUG RELOAD).
	Persistent bool
}

// Server accepts connections and routes their commands to the shards.
//
// The Server owns the shard workers and every connection goroutine it
// starts. Shutdown stops accepting, closes the connections, waits for their
// goroutines and only then stops the shards, so no connection is left
// waiting on a stopped shard.
type Server struct {
	log     *slog.Logger
	cfg     *config.Table
	cfgFile string // CONFIG REWRITE's file, "" for none
	workers []*shard.Worker
	started time.Time

	tlsConf      atomic.Pointer[tls.Config] // the tls-* parameters' configuration, once ServeTLS ran (tls.go)
	watchTLSOnce sync.Once
	tlsReload    sync.Mutex // one TLS reload at a time (watchTLS)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	moved     map[net.Listener]net.Listener // CONFIG SET port or bind: old to new (listen_port.go)
	retired   map[net.Listener]bool         // closed for good by CONFIG SET bind (listen_bind.go)
	clients   map[int64]*client
	// leaving holds the connections dropOutput took out of clients
	// until their goroutines end (forget): Shutdown still wakes them.
	leaving map[int64]*client
	acl     *aclRegistry // users and ACL LOG (acl.go)
	closing bool

	wg         sync.WaitGroup // connection goroutines
	stopping   chan struct{}  // closed when Shutdown begins
	shardsDown chan struct{}  // closed just before the shards stop
	stopped    chan struct{}  // closed when Shutdown has finished
	stopOnce   sync.Once

	nextID      atomic.Int64
	maxBulk     atomic.Int64 // proto-max-bulk-len, read by every connection
	maxQbuf     atomic.Int64 // client-query-buffer-limit, read by every connection
	idleTimeout atomic.Int64 // timeout: seconds a client may stay idle, 0 for ever
	keepAlive   atomic.Int64 // tcp-keepalive, seconds (0: off)
	blocked     atomic.Int64 // connections blocked in BLPOP and friends
	// blockedTimed: those of them with a timeout (clients_in_timeout_table)
	blockedTimed atomic.Int64
	stats        serverStats
	hub          *pubsub.Hub       // pub/sub (pubsub.go)
	tracking     *trackingRegistry // CLIENT TRACKING (tracking.go)
	shards       []*shard.Shard    // for SetNotify only: their data belongs to the workers

	pubsubLimit atomic.Pointer[pubsub.Limit] // client-output-buffer-limit pubsub
	normalLimit atomic.Pointer[pubsub.Limit] // client-output-buffer-limit normal; nil: none
	queueCfg    pubsub.QueueConfig           // shared by every output queue
	scripts     scriptEngine                 // EVAL's script cache (cmd_script.go)
	migrate     migrateCache                 // MIGRATE's sockets (cmd_migrate.go)

	cmem       clientMemState                // the clients' memory, maxmemory-clients (clientmem.go)
	persist    persistState                  // SAVE, BGSAVE and the save points (persist.go)
	aof        aofState                      // the append-only file (aof.go)
	repl       replState                     // replication, master side (repl.go)
	persistent bool                          // Options.Persistent
	journal    *shard.Journal                // the stream of writes for the AOF (shard/journal.go)
	sleepGate  atomic.Pointer[chan struct{}] // set while DEBUG SLEEP runs (cmd_debug.go)

	// life is cancelled when Shutdown begins; Shutdown then stops every
	// running script (and a script starting later checks life), so that a
	// script that would run forever (killable or not) ends and gives its
	// shards back.
	life    context.Context
	endLife context.CancelFunc

	// noReplicas: min-replicas-to-write cannot be met, so writes are
	// refused (noreplicas.go); read by every connection.
	noReplicas   atomic.Bool
	goodReplicas atomic.Int64 // min_slaves_good_slaves
	goodMu       sync.Mutex

	// oom: maxmemory is set, so commands that may grow the data check
	// memory first (maxmemory.go); read by every connection.
	oom   atomic.Bool
	mem   *shard.Budget // maxmemory as the shards share it
	memMu sync.Mutex    // orders the changes to mem
	// gcLimit is the runtime memory limit last set for maxmemory, and
	// memStopped says Shutdown gave the runtime its own back (under memMu).
	gcLimit    int64
	memStopped bool

	usedPeak atomic.Int64 // used_memory_peak, as INFO and the cron see it

	slowlog *shard.Slowlog // SLOWLOG settings, shared with the shards

	connLatency []atomic.Pointer[shard.AtomicHistogram] // by stat slot (cmd_latency.go)
	percentiles atomic.Pointer[[]float64]               // latency-tracking-info-percentiles
	localSlow   localSlowlog                            // the commands run on connections (cmd_slowlog.go)
	localLat    localLatency                            // their latency events (latencymon.go)
	mon         monitors                                // MONITOR (cmd_monitor.go)

	paused       pauser // CLIENT PAUSE (pause.go)
	lazy         *shard.LazyFree
	lazyStop     chan struct{} // closed at Shutdown: the lazy-free worker stops
	lazyDone     chan struct{}
	expiryPaused atomic.Bool // shared with the shards: no expiry while paused
	evictPaused  atomic.Bool // shared with the shards: no eviction during CLIENT PAUSE
	cron         serverCron  // rates and idle connections (cron.go)

	ids           replIDs      // master_replid and master_replid2 (repl_id.go)
	scriptDenyOff atomic.Bool  // DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call noscript commands
	replica       replicaState // REPLICAOF: the link to a master (replica.go)
}

// serverStats are the counters INFO reports; they are updated with atomics
// from connection goroutines.
type serverStats struct {
	connections atomic.Int64 // total accepted
	commands    atomic.Int64 // total processed
	rejected    atomic.Int64
	netIn       atomic.Int64
	netOut      atomic.Int64
	errors      atomic.Int64
	errs        errorStats    // errors by code (errorstats.go)
	cmds        []connCmdStat // commandstats by stat slot (cmdstats.go)

	obufDisconnects  atomic.Int64 // clients closed past the output buffer limit
	unexpectedErrors atomic.Int64 // errors of the master's commands on this replica
	evictedClients   atomic.Int64 // clients closed for maxmemory-clients
}

// New creates a Server and starts its shard workers.
func New(opt Options) *Server {
	if opt.Shards < 1 {
		opt.Shards = 1
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Config == nil {
		opt.Config = config.New()
	}
	s := &Server{
		log:        opt.Logger,
		cfg:        opt.Config,
		cfgFile:    opt.ConfigFile,
		persistent: opt.Persistent,
		started:    time.Now(),
		listeners:  make(map[net.Listener]struct{}),
		moved:      make(map[net.Listener]net.Listener),
		retired:    make(map[net.Listener]bool),
		clients:    make(map[int64]*client),
		leaving:    make(map[int64]*client),
		stopping:   make(chan struct{}),
		shardsDown: make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	s.watchACL()
	numberCommandStats()
	s.stats.cmds = make([]connCmdStat, len(shard.StatSpecs()))
	s.hub = pubsub.New()
	s.queueCfg = pubsub.QueueConfig{Limit: &s.pubsubLimit, NetOut: &s.stats.netOut, Disconnects: &s.stats.obufDisconnects, Log: s.log}
	s.tracking = newTrackingRegistry()
	s.tracking.table.SetMaxKeys(s.cfg.Int("tracking-table-max-keys"))
	s.cfg.OnChange("tracking-table-max-keys", func(string) {
		s.tracking.table.SetMaxKeys(s.cfg.Int("tracking-table-max-keys"))
	})
	notify := s.cfg.Int("notify-keyspace-events")
	s.mem = shard.NewBudget(opt.Shards, s.clientMemory)
	s.mem.SetBase(heapObjects())
	s.journal = shard.NewJournal()
	s.ids.id = randomReplID() // each server its own, even in one process
	for i := 0; i < opt.Shards; i++ {
		sh := shard.New(i)
		sh.SetJournal(s.journal)
		sh.SetBudget(s.mem)
		sh.SetEventSink(s.eventSink)
		sh.SetTracking(s.tracking.table)
		sh.SetNotify(notify)
		s.shards = append(s.shards, sh)
	}
	s.watchSlowlog()
	s.watchLatencyTracking()
	s.startMonitors()
	for _, sh := range s.shards {
		sh.SetExpiryPause(&s.expiryPaused)
		sh.SetEvictPause(&s.evictPaused)
		sh.SetReplicaFlag(&s.replica.on)
	}
	s.startLazyFree()
	for _, sh := range s.shards {
		s.workers = append(s.workers, shard.Start(sh, shard.WorkerOptions{Mailbox: opt.Mailbox, Tick: s.tickPeriod()}))
	}
	s.cfg.OnChange("notify-keyspace-events", func(string) {
		n := s.cfg.Int("notify-keyspace-events")
		for _, sh := range s.shards {
			sh.SetNotify(n)
		}
	})
	s.setAccessPolicy()
	s.watchPort()
	for _, p := range [...]string{"maxmemory-policy", "lfu-log-factor", "lfu-decay-time"} {
		s.cfg.OnChange(p, func(string) { s.setAccessPolicy() })
	}
	s.setStreamLimits()
	s.cfg.OnChange("stream-node-max-bytes", func(string) { s.setStreamLimits() })
	s.cfg.OnChange("stream-node-max-entries", func(string) { s.setStreamLimits() })
	s.setHashLimits()
	s.cfg.OnChange("hash-max-listpack-entries", func(string) { s.setHashLimits() })
	s.cfg.OnChange("hash-max-listpack-value", func(string) { s.setHashLimits() })
	s.pubsubLimit.Store(pubsub.ParseLimit(s.cfg.Value("client-output-buffer-limit")))
	s.cfg.OnChange("client-output-buffer-limit", func(v string) { s.pubsubLimit.Store(pubsub.ParseLimit(v)) })
	s.setNormalLimit(s.cfg.Value("client-output-buffer-limit"))
	s.initClientMem()
	s.cfg.OnChange("client-output-buffer-limit", s.setNormalLimit)
	s.setMaxBulk()
	s.setActiveExpire()
	s.limitMaxClients()
	s.cfg.OnChange("hz", func(string) {
		for _, w := range s.workers {
			w.SetTick(s.tickPeriod())
		}
		s.setActiveExpire()
	})
	s.cfg.OnChange("active-expire-effort", func(string) { s.setActiveExpire() })
	s.cfg.OnChange("proto-max-bulk-len", func(string) { s.setMaxBulk() })
	s.maxQbuf.Store(s.cfg.Int("client-query-buffer-limit"))
	s.idleTimeout.Store(s.cfg.Int("timeout"))
	s.cfg.OnChange("timeout", func(string) { s.idleTimeout.Store(s.cfg.Int("timeout")) })
	s.keepAlive.Store(s.cfg.Int("tcp-keepalive"))
	s.cfg.OnChange("tcp-keepalive", func(string) { s.keepAlive.Store(s.cfg.Int("tcp-keepalive")) })
	s.cfg.OnChange("client-query-buffer-limit", func(string) { s.maxQbuf.Store(s.cfg.Int("client-query-buffer-limit")) })
	s.watchMinReplicas()
	s.watchMaxmemory()
	s.initPersist()
	s.initAOF()
	s.watchAppendonly()
	s.initRepl()
	s.startCron()
	return s
}

// setAccessPolicy tells the shards whether keys count accesses (an LFU
// maxmemory-policy) or keep their last access time (any other), and the
// LFU counter's lfu-log-factor and lfu-decay-time.
func (s *Server) setAccessPolicy() {
	lfu := strings.HasSuffix(s.cfg.Value("maxmemory-policy"), "-lfu")
	f, d := s.cfg.Int("lfu-log-factor"), s.cfg.Int("lfu-decay-time")
	for _, sh := range s.shards {
		sh.SetAccessPolicy(lfu, f, d)
	}
}

// setStreamLimits hands stream-node-max-bytes and -entries to the shards.
func (s *Server) setStreamLimits() {
	b, e := s.cfg.Int("stream-node-max-bytes"), s.cfg.Int("stream-node-max-entries")
	for _, sh := range s.shards {
		sh.SetStreamLimits(b, e)
	}
}

// setHashLimits hands hash-max-listpack-entries and -value (alias
// hash-max-ziplist-*) to the shards.
func (s *Server) setHashLimits() {
	e, v := s.cfg.Int("hash-max-listpack-entries"), s.cfg.Int("hash-max-listpack-value")
	for _, sh := range s.shards {
		sh.SetHashLimits(e, v)
	}
}

// setMaxBulk applies proto-max-bulk-len to requests and to strings that
// commands build (APPEND, SETRANGE). The string limit is process-wide.
func (s *Server) setMaxBulk() {
	n := s.cfg.Int("proto-max-bulk-len")
	s.maxBulk.Store(n)
	shard.SetMaxStringLength(n)
}

// setActiveExpire gives the shards active-expire-effort and the tick period
// that their active expiry budgets against.
func (s *Server) setActiveExpire() {
	effort := int(s.cfg.Int("active-expire-effort"))
	for _, sh := range s.shards {
		sh.SetActiveExpire(effort, s.tickPeriod())
	}
}

// tickPeriod is the shards' housekeeping period from the hz parameter.
func (s *Server) tickPeriod() time.Duration {
	return time.Second / time.Duration(max(1, s.cfg.Int("hz")))
}

// Shards reports the number of shards.
func (s *Server) Shards() int { return len(s.workers) }

// ListenAndServe listens on the TCP address addr and serves it.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown, and always returns a
// non-nil error: ErrServerClosed after Shutdown. When CONFIG SET bind
// closes l for good, Serve waits for Shutdown all the same.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	return s.serve(l, false)
}

// serve is Serve's accept loop on l, already in s.listeners; own says the
// server started it (for a listener CONFIG SET bind opened), so it ends
// when its listener is closed for good.
func (s *Server) serve(l net.Listener, own bool) error {
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	var warned time.Time
	var suppressed int
	for {
		nc, err := l.Accept()
		if err != nil {
			select {
			case <-s.stopping:
				return ErrServerClosed
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				nl, retired := s.movedTo(l)
				if nl != nil {
					l = nl // CONFIG SET port or bind
					continue
				}
				if retired && !own {
					<-s.stopping
					return ErrServerClosed
				}
				return err
			}
			// Anything else (EMFILE or ENFILE when out of descriptors,
			// ECONNABORTED, ENOBUFS, ENOMEM, a timeout) may pass: wait and
			// try again, as net/http does, instead of stopping the server.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if now := time.Now(); now.Sub(warned) >= acceptWarnEvery {
				s.log.Warn("accept failed; retrying", "err", err, "retry_in", backoff, "suppressed", suppressed)
				warned, suppressed = now, 0
			} else {
				suppressed++
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.stopping:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		if tc, ok := nc.(*tls.Conn); ok {
			s.handshake(tc) // then accept
			continue
		}
		s.accept(nc)
	}
}

// acceptWarnEvery rate-limits the warning about failing accepts.
const acceptWarnEvery = 10 * time.Second

// accept registers a connection and starts its goroutine, unless the
// server is shutting down or full.
func (s *Server) accept(nc net.Conn) {
	if s.refuseUnprotected(nc) {
		return
	}
	if tc, ok := tcpUnder(nc).(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		// tcp-keepalive, as Redis sets it on each accepted socket.
		if ka := s.keepAlive.Load(); ka > 0 {
			tc.SetKeepAlive(true)
			tc.SetKeepAlivePeriod(time.Duration(ka) * time.Second)
		} else {
			tc.SetKeepAlive(false)
		}
	}
	c := newClient(s, nc)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if maxc := s.cfg.Int("maxclients"); maxc > 0 && int64(len(s.clients)) >= maxc {
		s.mu.Unlock()
		s.stats.rejected.Add(1)
		nc.Write([]byte("-ERR max number of clients reached\r\n"))
		nc.Close()
		return
	}
	s.clients[c.id] = c
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.forget(c)
		c.serve()
	}()
}

func (s *Server) forget(c *client) {
	c.endTracking()
	c.stopMonitor()
	c.endPubSub()
	if c.closeAfter {
		c.oq.finish(outGrace) // QUIT, a protocol error: its replies go out
	}
	c.oq.drop()
	c.dropMem()
	c.nc.Close()
	c.discardTx()
	c.unwatch()
	c.txSettled()
	s.mu.Lock()
	delete(s.clients, c.id)
	delete(s.leaving, c.id)
	s.mu.Unlock()
}

// Shutdown stops the server gracefully: it closes the listeners and every
// connection, cancels running scripts, waits for the connection goroutines
// (or for ctx), then stops the shards, without waiting for a shard still
// lent to a connection that did not finish. It is safe to call more than
// once and from a connection goroutine (SHUTDOWN does, through a new
// goroutine).
func (s *Server) Shutdown(ctx context.Context) error {
	first := false
	s.stopOnce.Do(func() { first = true })
	if !first {
		select {
		case <-s.stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// A shutdown during a load saves nothing, as Redis forces NOSAVE
	// then: stopping a replica's diskless load (below) ends it with a
	// part of the payload in the shards and loading off, which the final
	// save would write over dbfilename. An async load keeps the old
	// dataset whole, which Redis saves.
	if s.persist.loading.Load() && !s.persist.asyncLoading.Load() {
		s.persist.shutdownMode.Store(shutdownNoSave)
	}
	s.mu.Lock()
	s.closing = true
	close(s.stopping)
	for l := range s.listeners {
		l.Close()
	}
	for _, nl := range s.moved {
		nl.Close() // not taken by its loop yet
	}
	for _, c := range s.clients {
		c.hangUp()
	}
	s.mu.Unlock()
	// Scripts ignore closed sockets: cancel them, even those SCRIPT KILL
	// may not kill (they wrote), as Redis's SHUTDOWN NOSAVE would.
	s.endLife()
	s.scripts.stopAll()
	s.migrate.closeAll() // a MIGRATE waiting on its target fails at once
	s.stopMaxmemory()
	s.stopCron()
	s.stopReplica()
	s.stopBgsave()
	s.repl.syncs.Wait() // full syncs end with the server (repl_sync.go)
	close(s.lazyStop)
	<-s.lazyDone

	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		n := len(s.clients)
		s.mu.Unlock()
		s.log.Warn("shutdown: connections still running at the deadline; stopping the shards anyway",
			"connections", n, "err", err)
	}
	s.saveAtShutdown()
	close(s.shardsDown)
	// Worker.Stop does not wait for a lent shard to come back, so a
	// connection still holding one cannot hold up the shutdown.
	for _, w := range s.workers {
		w.Stop()
	}
	s.wakeAwaiting()
	s.stopAOF() // what the last batches wrote, synced
	s.hub.Close()
	close(s.stopped)
	return err
}

// wakeAwaiting gives every connection a nil answer once the shards have
// stopped: one still waiting for a batch that a stopped shard dropped
// gives up (client.await). A full answers channel needs none: it holds
// every answer its connection waits for.
func (s *Server) wakeAwaiting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[int64]*client{s.clients, s.leaving} {
		for _, c := range m {
			select {
			case c.answers <- nil:
			default:
			}
		}
	}
}

// Stopping is closed as soon as Shutdown begins.
func (s *Server) Stopping() <-chan struct{} { return s.stopping }

// Done is closed once Shutdown has finished.
func (s *Server) Done() <-chan struct{} { return s.stopped }

// reset zeroes the counters CONFIG RESETSTAT clears.
func (st *serverStats) reset() {
	st.connections.Store(0)
	st.commands.Store(0)
	st.rejected.Store(0)
	st.netIn.Store(0)
	st.netOut.Store(0)
	st.errors.Store(0)
	st.errs.reset()
	st.obufDisconnects.Store(0)
	st.evictedClients.Store(0)
	st.unexpectedErrors.Store(0)
}

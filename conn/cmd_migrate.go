package conn

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// MIGRATE moves keys to another server as Redis 7.0 does: it serializes
// them as DUMP does, sends the target one RESTORE per key (after AUTH, and
// SELECT when the socket's database differs), and deletes the keys the
// target accepted unless COPY is given.
//
// Redis blocks the whole server while it talks to the target. Valkyrie
// holds (borrows, in ascending order) the shards that own the keys from
// the first lookup to the last DEL, so no other client sees or changes
// the keys in between; every other shard keeps serving. The timeout
// bounds each network step as in Redis (connecting, each 64 KiB written,
// each reply line read), so a target that stops answering frees the
// shards after one timeout. Migrating to this server itself ends that way
// too: its RESTORE waits for the shard MIGRATE holds, and MIGRATE replies
// IOERR once the timeout passes, as redis-server does.
//
// Connections are cached per host:port, as in Redis: at most
// migrateMaxSockets, each closed once idle for migrateIdle by a sweeper
// goroutine that runs while the cache is not empty, and all closed at
// Shutdown. INFO reports their number as migrate_cached_sockets.

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "migrate", Arity: -6,
		// AllShards: inside EXEC the transaction holds every shard, since
		// MIGRATE's keys are found only when it runs (see txWant).
		Flags:    shard.Write | shard.AllShards,
		FirstKey: 3, LastKey: 3, Step: 1,
		Group: "generic", Since: "2.6.0",
		Summary: "Atomically transfer a key from a Redis instance to another one.",
		Complexity: "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the " +
			"target instance. See the pages of these commands for time complexity. Also an O(N) data transfer " +
			"between the two instances is performed.",
		Syntax: `host port <key|""> destination-db timeout [COPY] [REPLACE] [AUTH password|AUTH2 username password] [KEYS key [key ...]]`,
		ACL:    []string{"keyspace", "dangerous"}},
		run: cmdMigrate, barrier: true, keys: migrateKeys})
}

var (
	// migrateIdle is how long a cached socket may stay unused before the
	// sweeper closes it (Redis's MIGRATE_SOCKET_CACHE_TTL, 10 seconds); a
	// variable for tests.
	migrateIdle = 10 * time.Second
	// migrateSweepEvery is how often the sweeper looks (Redis: once a
	// second, in serverCron).
	migrateSweepEvery = time.Second
)

const (
	migrateMaxSockets = 64       // Redis's MIGRATE_SOCKET_CACHE_ITEMS
	migrateChunk      = 64 << 10 // each write gets the whole timeout
	migrateMaxLine    = 1023     // Redis reads reply lines into 1024 bytes
)

// migrateKeys returns MIGRATE's key positions for COMMAND GETKEYS: the key
// argument, or what follows KEYS when the key argument is empty. The
// options before KEYS are skipped with their values, so that a password
// named "keys" is not taken for the keyword.
func migrateKeys(args [][]byte) []int {
	first, num := 3, 1
	for i := 6; i < len(args); i++ {
		a := args[i]
		if equalFold(a, "keys") {
			if len(args[3]) > 0 {
				return nil // a syntax error, which MIGRATE reports
			}
			first, num = i+1, len(args)-i-1
			break
		}
		switch {
		case equalFold(a, "auth"):
			i++
		case equalFold(a, "auth2"):
			i += 2
		}
	}
	keys := make([]int, num)
	for i := range keys {
		keys[i] = first + i
	}
	return keys
}

// migrateReq is a parsed MIGRATE.
type migrateReq struct {
	host, port []byte
	db         int64
	timeout    time.Duration
	copy       bool
	replace    bool
	user, pass []byte // AUTH2 sets both, AUTH the password
	auth       bool
	keys       [][]byte
}

// parseMigrate checks MIGRATE's arguments in Redis's order: the options
// first, then the timeout, then the database.
func parseMigrate(args [][]byte) (*migrateReq, string) {
	m := &migrateReq{host: args[1], port: args[2], keys: args[3:4]}
	for j := 6; j < len(args); j++ {
		more := len(args) - 1 - j
		a := args[j]
		switch {
		case equalFold(a, "copy"):
			m.copy = true
		case equalFold(a, "replace"):
			m.replace = true
		case equalFold(a, "auth"):
			if more < 1 {
				return nil, shard.ErrSyntax
			}
			j++
			m.auth, m.pass = true, args[j]
		case equalFold(a, "auth2"):
			if more < 2 {
				return nil, shard.ErrSyntax
			}
			m.auth, m.user, m.pass = true, args[j+1], args[j+2]
			j += 2
		case equalFold(a, "keys"):
			if len(args[3]) != 0 {
				return nil, "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
			}
			m.keys = args[j+1:]
			j = len(args)
		default:
			return nil, shard.ErrSyntax
		}
	}
	timeout, ok := wire.ParseInt(args[5])
	if !ok {
		return nil, shard.ErrNotInt
	}
	if m.db, ok = wire.ParseInt(args[4]); !ok {
		return nil, shard.ErrNotInt
	}
	if timeout <= 0 {
		timeout = 1000
	}
	m.timeout = time.Duration(min(timeout, int64(time.Duration(1<<62)/time.Millisecond))) * time.Millisecond
	return m, ""
}

func cmdMigrate(c *client, args [][]byte) {
	m, msg := parseMigrate(args)
	if msg != "" {
		c.replyError(msg)
		return
	}
	if c.tx.execing { // EXEC holds every shard and runs its own Across
		c.migrate(&c.tx.across, m)
		return
	}
	n := len(c.batches)
	want := c.want
	clear(want)
	for _, k := range m.keys {
		want[shard.Owner(k, n)] = true
	}
	if msg := c.busyWanted(); msg != "" { // BUSY hook (script_busy.go)
		c.replyError(msg)
		return
	}
	ok := c.borrow()
	if ok {
		a := &c.tx.across
		a.Stamp = c.readAt
		a.Client = &c.ident
		a.Begin(c.borrowed, time.Now().UnixMilli())
		c.migrate(a, m)
		a.End()
	}
	c.giveBack()
	if !ok {
		c.closeAfter = true
		c.replyError("ERR server is shutting down")
	}
}

// migrateItem is one key to send.
type migrateItem struct {
	key     []byte
	payload []byte
	ttl     int64 // milliseconds left, 0 for none
}

// migrate runs MIGRATE with the keys' shards held in a (a run that has
// begun) and appends its reply.
func (c *client) migrate(a *shard.Across, m *migrateReq) {
	now := a.Now()
	items := make([]migrateItem, 0, len(m.keys))
	for _, k := range m.keys {
		p, at, found := a.Dump(c.db, k)
		if !found {
			continue
		}
		if p == nil {
			c.replyError("ERR MIGRATE cannot serialize the value at '" + string(k) + "'")
			return
		}
		var ttl int64
		if at != 0 {
			ttl = max(at-now, 1) // the key was found live: at > now
		}
		items = append(items, migrateItem{key: k, payload: p, ttl: ttl})
	}
	if len(items) == 0 {
		c.replySimple("NOKEY")
		return
	}
	res := c.srv.migrateSend(c.srv.life, m, items)
	if len(res.acked) > 0 && !m.copy {
		keys := make([][]byte, 0, len(res.acked))
		for _, i := range res.acked {
			keys = append(keys, items[i].key)
		}
		// Deleted as DEL would (WATCH, keyspace events), as Redis's
		// rewrite of MIGRATE into DEL does, but counted as no call.
		a.Delete(c.db, keys)
	}
	if res.err != "" {
		c.replyError(res.err)
		return
	}
	c.replyOK()
}

// migrateResult is the outcome of talking to the target: the items it
// accepted (by index), and the error to reply, or "" for OK.
type migrateResult struct {
	acked []int
	err   string
}

// migrateSend sends the items to the target, with one retry on a fresh
// socket when the exchange failed before any RESTORE was answered and not
// by a timeout (the cached socket was probably closed by the target), as
// Redis does.
func (s *Server) migrateSend(ctx context.Context, m *migrateReq, items []migrateItem) migrateResult {
	name := string(m.host) + ":" + string(m.port)
	mayRetry := true
	for {
		sock, dialErr := s.migrate.get(ctx, name, m)
		if sock == nil && dialErr == nil {
			return migrateResult{err: "IOERR error or timeout connecting to the client"}
		}
		var res migrateResult
		var ioErr error
		writing := false
		if sock == nil {
			// Redis's connect only starts the connection; a refused or
			// timed-out one shows when it writes.
			ioErr, writing = dialErr, true
		} else {
			var retry bool
			res, ioErr, writing, retry = sock.exchange(m, items, mayRetry)
			if ioErr == nil {
				s.migrate.put(sock, false)
				return res
			}
			s.migrate.put(sock, true)
			if !retry {
				if res.err == "" {
					res.err = "IOERR error or timeout reading to target instance"
				}
				return res
			}
		}
		if mayRetry && !isTimeout(ioErr) {
			mayRetry = false
			continue
		}
		if writing {
			return migrateResult{err: "IOERR error or timeout writing to target instance"}
		}
		return migrateResult{err: "IOERR error or timeout reading to target instance"}
	}
}

// exchange sends AUTH, SELECT and the RESTOREs, and reads their replies.
// ioErr reports a socket error (the socket is then broken), writing
// whether it happened while writing, and retry whether nothing was
// answered yet so that the caller may try again on a fresh socket; with
// retry false, res holds what was acknowledged before the error.
func (ms *migrateSock) exchange(m *migrateReq, items []migrateItem, mayRetry bool) (res migrateResult, ioErr error, writing, retry bool) {
	var buf []byte
	if m.auth {
		if m.user != nil {
			buf = wire.AppendArray(buf, 3)
			buf = wire.AppendBulkString(buf, "AUTH")
			buf = wire.AppendBulk(buf, m.user)
		} else {
			buf = wire.AppendArray(buf, 2)
			buf = wire.AppendBulkString(buf, "AUTH")
		}
		buf = wire.AppendBulk(buf, m.pass)
	}
	selecting := ms.lastDB != m.db
	if selecting {
		buf = wire.AppendArray(buf, 2)
		buf = wire.AppendBulkString(buf, "SELECT")
		buf = wire.AppendBulkInt(buf, m.db)
	}
	for _, it := range items {
		n := 4
		if m.replace {
			n = 5
		}
		buf = wire.AppendArray(buf, n)
		buf = wire.AppendBulkString(buf, "RESTORE")
		buf = wire.AppendBulk(buf, it.key)
		buf = wire.AppendBulkInt(buf, it.ttl)
		buf = wire.AppendBulk(buf, it.payload)
		if m.replace {
			buf = wire.AppendBulkString(buf, "REPLACE")
		}
	}
	for pos := 0; pos < len(buf); {
		end := min(pos+migrateChunk, len(buf))
		ms.nc.SetWriteDeadline(time.Now().Add(m.timeout))
		n, err := ms.nc.Write(buf[pos:end])
		if err != nil {
			return res, err, true, true
		}
		pos += n
	}
	var authReply, selectReply string
	var err error
	if m.auth {
		if authReply, err = ms.readLine(m.timeout); err != nil {
			return res, err, false, true
		}
	}
	if selecting {
		if selectReply, err = ms.readLine(m.timeout); err != nil {
			return res, err, false, true
		}
	}
	for j := range items {
		line, err := ms.readLine(m.timeout)
		if err != nil {
			if res.err == "" && j == 0 && mayRetry && !isTimeout(err) {
				return res, err, false, true
			}
			return res, err, false, false
		}
		failed := ""
		switch {
		case m.auth && authReply[0] == '-':
			failed = authReply
		case selecting && selectReply[0] == '-':
			failed = selectReply
		case line[0] == '-':
			failed = line
		}
		if failed == "" {
			res.acked = append(res.acked, j)
			continue
		}
		if res.err == "" {
			ms.lastDB = -1 // on error, the database may not be selected
			res.err = "ERR Target instance replied with error: " + failed[1:]
		}
	}
	if res.err == "" {
		ms.lastDB = m.db
	}
	return res, nil, false, false
}

// errEmptyLine stands for Redis's reading of an empty reply line, which it
// takes for a socket error.
var errEmptyLine = errors.New("empty reply line")

// readLine reads one reply line without its CR LF, at most migrateMaxLine
// bytes of it, within timeout.
func (ms *migrateSock) readLine(timeout time.Duration) (string, error) {
	ms.nc.SetReadDeadline(time.Now().Add(timeout))
	var line []byte
	for {
		part, err := ms.br.ReadSlice('\n')
		if len(line) < migrateMaxLine {
			line = append(line, part[:min(len(part), migrateMaxLine-len(line))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	// line may have been cut short; the terminator is dropped either way.
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	if len(line) == 0 {
		return "", errEmptyLine
	}
	return string(line), nil
}

// isTimeout reports whether err is a deadline or dial timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// migrateSock is a connection to a MIGRATE target.
type migrateSock struct {
	name    string
	nc      net.Conn
	br      *bufio.Reader
	lastDB  int64 // the database selected on it, -1 when unknown
	lastUse time.Time
	busy    bool // a MIGRATE is using it
	cached  bool // in the cache; otherwise it is closed after use
}

// migrateCache holds the connections MIGRATE keeps to its targets. A
// socket is used by one MIGRATE at a time; a MIGRATE that finds its
// target's socket busy (Redis runs one MIGRATE at a time; Valkyrie runs
// those on different shards at once) uses a socket of its own, closed
// after use.
type migrateCache struct {
	mu      sync.Mutex
	socks   map[string]*migrateSock
	oneOffs map[*migrateSock]struct{} // in use, not cached: closed at Shutdown too
	closed  bool                      // Shutdown has closed the cache
	stop    chan struct{}             // closed by closeAll: the sweeper returns
	swept   chan struct{}             // closed when the running sweeper returns; nil when none runs
}

// count is migrate_cached_sockets.
func (mc *migrateCache) count() int {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return len(mc.socks)
}

// get returns a socket to name for m's use. It returns nil and an error
// when connecting failed in a way Redis's connect would report only when
// writing (refused, timed out), and nil and no error when the address
// itself is unusable (Redis: "error or timeout connecting").
func (mc *migrateCache) get(ctx context.Context, name string, m *migrateReq) (*migrateSock, error) {
	mc.mu.Lock()
	if s := mc.socks[name]; s != nil && !s.busy {
		s.busy = true
		s.lastUse = time.Now()
		mc.mu.Unlock()
		return s, nil
	}
	mc.mu.Unlock()

	port, ok := migratePort(m.port)
	if !ok {
		return nil, nil
	}
	d := net.Dialer{Timeout: m.timeout}
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(string(m.host), strconv.Itoa(port)))
	if err != nil {
		var dnsErr *net.DNSError
		var addrErr *net.AddrError
		if errors.As(err, &dnsErr) || errors.As(err, &addrErr) {
			return nil, nil
		}
		return nil, err
	}
	s := &migrateSock{name: name, nc: nc, br: bufio.NewReader(nc), lastDB: -1, lastUse: time.Now(), busy: true}
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.closed {
		nc.Close()
		return nil, net.ErrClosed
	}
	if mc.socks == nil {
		mc.socks = make(map[string]*migrateSock)
		mc.oneOffs = make(map[*migrateSock]struct{})
		mc.stop = make(chan struct{})
	}
	if _, taken := mc.socks[name]; !taken && len(mc.socks) >= migrateMaxSockets {
		// Full: drop one that is not in use, as Redis drops one at random
		// (map order is random enough).
		for k, old := range mc.socks {
			if !old.busy {
				old.nc.Close()
				delete(mc.socks, k)
				break
			}
		}
	}
	if _, taken := mc.socks[name]; taken || len(mc.socks) >= migrateMaxSockets {
		mc.oneOffs[s] = struct{}{}
		return s, nil
	}
	s.cached = true
	mc.socks[name] = s
	if mc.swept == nil {
		mc.swept = make(chan struct{})
		go mc.sweep(mc.stop, mc.swept)
	}
	return s, nil
}

// put gives a socket back after use; a broken one is closed and leaves
// the cache, so that the next MIGRATE connects again.
func (mc *migrateCache) put(s *migrateSock, broken bool) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	s.busy = false
	s.lastUse = time.Now()
	if !s.cached {
		delete(mc.oneOffs, s)
		s.nc.Close()
		return
	}
	if broken || mc.closed {
		s.nc.Close()
		if mc.socks[s.name] == s {
			delete(mc.socks, s.name)
		}
	}
}

// sweep closes the sockets idle for migrateIdle, every migrateSweepEvery,
// until the cache is empty or closed. It is started by get with the first
// socket cached; closeAll waits for it.
func (mc *migrateCache) sweep(stop <-chan struct{}, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(migrateSweepEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		mc.mu.Lock()
		now := time.Now()
		for k, s := range mc.socks {
			if !s.busy && now.Sub(s.lastUse) >= migrateIdle {
				s.nc.Close()
				delete(mc.socks, k)
			}
		}
		if len(mc.socks) == 0 {
			mc.swept = nil // the next socket cached starts another sweeper
			mc.mu.Unlock()
			return
		}
		mc.mu.Unlock()
	}
}

// closeAll closes every socket, cached or in use (a MIGRATE using one
// then fails at once with IOERR), stops the sweeper and waits for it.
// Sockets made later are not cached. Shutdown calls it.
func (mc *migrateCache) closeAll() {
	mc.mu.Lock()
	if mc.closed {
		mc.mu.Unlock()
		return
	}
	mc.closed = true
	if mc.stop != nil {
		close(mc.stop)
	}
	for k, s := range mc.socks {
		s.nc.Close()
		delete(mc.socks, k)
	}
	for s := range mc.oneOffs {
		s.nc.Close()
	}
	swept := mc.swept
	mc.mu.Unlock()
	if swept != nil {
		<-swept
	}
}

// migratePort reads the port as C's atoi does (leading blanks, a sign,
// digits, anything after ignored) and maps it to a TCP port as Redis's
// getaddrinfo does: a negative number fails, a larger one wraps.
func migratePort(b []byte) (int, bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var n int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
		if n > 1<<40 {
			n = 1 << 40 // atoi overflows; any huge port is as wrong
		}
	}
	if neg && n != 0 {
		return 0, false
	}
	return int(uint16(n)), true
}

package conn

import (
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/shard/rdb"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// DEBUG, the subset that tools and Redis's own tests use. It is a
// connection command: the subcommands that look at the keyspace run on the
// shards, held for the call (borrowed in ascending order, or those that a
// transaction or script already holds), the others on the connection.
//
// Like Redis, the server refuses DEBUG unless enable-debug-command
// (immutable, from the command line) is "yes", or "local" and the client
// connects over loopback.

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "debug", Arity: -2,
		// AllShards: inside EXEC the transaction holds every shard.
		Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale | shard.AllShards,
		Group: "server", Since: "1.0.0", Summary: "A container for debugging commands",
		Complexity: "Depends on subcommand.", ACL: []string{"dangerous"}},
		run: cmdDebug, barrier: true, protected: true})
}

// errDebugNotAllowed is Redis's refusal while enable-debug-command forbids it.
const errDebugNotAllowed = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", " +
	"you can run it from a local connection, otherwise you need to set this option in the configuration file, " +
	"and then restart the server."

// protectedRefused refuses a protected command (DEBUG) that
// enable-debug-command does not allow for this client, as Redis's
// processCommand does right after the arity check; inside MULTI the
// refusal makes EXEC fail.
func (c *client) protectedRefused(e *entry, args [][]byte) bool {
	switch c.srv.cfg.Value("enable-debug-command") {
	case "yes":
		return false
	case "local":
		if c.fromLoopback() {
			return false
		}
	}
	c.reject(e, args, errDebugNotAllowed)
	return true
}

// debugHelp is Redis's DEBUG HELP, keeping the lines of the subcommands
// Valkyrie has.
var debugHelp = []string{
	"CHANGE-REPL-ID",
	"    Change the replication IDs of the instance.",
	"    Dangerous: should be used only for testing the replication subsystem.",
	"CONFIG-REWRITE-FORCE-ALL",
	"    Like CONFIG REWRITE but writes all configuration options, including",
	"    keywords not listed in original configuration file or default values.",
	"DIGEST",
	"    Output a hex signature representing the current DB content.",
	"DIGEST-VALUE <key> [<key> ...]",
	"    Output a hex signature of the values of all the specified keys.",
	"ERROR <string>",
	"    Return a Redis protocol error with <string> as message. Useful for clients",
	"    unit tests to simulate Redis errors.",
	"LOG <message>",
	"    Write <message> to the server log.",
	"OBJECT <key>",
	"    Show low level info about `key` and associated value.",
	"POPULATE <count> [<prefix>] [<size>]",
	"    Create <count> string keys named key:<num>. If <prefix> is specified then",
	"    it is used instead of the 'key' prefix. These are not propagated to",
	"    replicas. Cluster slots are not respected so keys not belonging to the",
	"    current node can be created in cluster mode.",
	"PROTOCOL <type>",
	"    Reply with a test value of the specified type. <type> can be: string,",
	"    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
	"    true, false.",
	"SET-ACTIVE-EXPIRE <0|1>",
	"    Setting it to 0 disables expiring keys in background when they are not",
	"    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
	"    default.",
	"QUICKLIST-PACKED-THRESHOLD <size>",
	"    Sets the threshold for elements to be inserted as plain vs packed nodes",
	"    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
	"SLEEP <seconds>",
	"    Stop the server for <seconds>. Decimals allowed.",
	"STRINGMATCH-TEST",
	"    Run a fuzz tester against the stringmatchlen() function.",
	"LISTPACK <key>",
	"    Show low level info about the listpack encoding of <key>.",
	"QUICKLIST <key> [<0|1>]",
	"    Show low level info about the quicklist encoding of <key>.",
	"    The optional argument (0 by default) sets the level of detail",
	"SET-SKIP-CHECKSUM-VALIDATION <0|1>",
	"    Enables or disables checksum checks for RDB files and RESTORE's payload.",
	"RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
	"    Save the dataset to the RDB file, empty it, and load the file back.",
	"    MERGE lets the file's keys replace existing ones, NOFLUSH keeps the",
	"    dataset, NOSAVE loads the file as it is, without saving first.",
	"PAUSE-CRON <0|1>",
	"    Stop periodic cron job processing.",
	"REPLICATE <string>",
	"    Send a command to the replicas only, making their data differ.",
}

func cmdDebug(c *client, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	n := len(args)
	switch {
	case sub == "help" && n == 2:
		c.replyHelp("DEBUG", debugHelp...)
	case sub == "log" && n == 3:
		c.srv.log.Warn("DEBUG LOG: " + string(args[2]))
		c.replyOK()
	case sub == "error" && n == 3:
		// Newlines would break the protocol line.
		msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(string(args[2]))
		c.local = append(append(append(c.local, '-'), msg...), '\r', '\n')
	case sub == "object" && n == 3:
		debugObject(c, args[2])
	case (sub == "listpack" && n == 3) || (sub == "quicklist" && (n == 3 || n == 4)):
		debugEncoding(c, sub, args[2])
	case sub == "populate" && n >= 3 && n <= 5:
		debugPopulate(c, args)
	case sub == "digest" && n == 2:
		var sums [shard.NumDBs]shard.Digest
		var used [shard.NumDBs]bool
		if c.debugShards(func(s *shard.Shard) { s.DatasetDigest(&sums, &used) }) {
			d := shard.FinishDigest(&sums, &used)
			c.replySimple(d.Hex())
		}
	case sub == "reload":
		debugReload(c, args[2:])
	case sub == "loadaof" && n == 2:
		debugLoadAOF(c)
	case sub == "digest-value" && n >= 2:
		debugDigestValue(c, args[2:])
	case sub == "protocol" && n == 3:
		debugProtocol(c, args[2])
	case sub == "sleep" && n == 3:
		debugSleep(c, cStrtod(args[2]))
	case sub == "set-active-expire" && n == 3:
		on := cAtoi(args[2]) != 0
		if c.debugShards(func(s *shard.Shard) { s.SetActiveExpireEnabled(on) }) {
			c.replyOK()
		}
	case sub == "pause-cron" && n == 3:
		on := cAtoi(args[2]) != 0
		if c.debugShards(func(s *shard.Shard) { s.SetCronPaused(on) }) {
			c.replyOK()
		}
	case sub == "quicklist-packed-threshold" && n == 3:
		sz, ok := parseMemory(string(args[2]))
		if ok {
			c.debugShards(func(s *shard.Shard) { ok = s.SetPackedThreshold(sz) && ok })
		}
		if !ok {
			c.replyError("ERR argument must be a memory value bigger than 1 and smaller than 4gb")
			return
		}
		c.replyOK()
	case sub == "replicate" && n >= 3:
		// In the replicas' stream only, in the database it has selected;
		// nothing when there is no backlog (no replica ever came).
		if c.srv.replActive() {
			c.srv.journal.RecordForReplicas(args[2:]...)
		}
		c.replyOK()
	case sub == "change-repl-id" && n == 2:
		c.srv.log.Warn("Changing replication IDs after receiving DEBUG change-repl-id")
		c.srv.changeReplID()
		c.replyOK()
	case sub == "aof-flush-sleep" && n == 3:
		c.srv.aof.flushSleep.Store(cAtoi(args[2])) // microseconds per AOF write
		c.replyOK()
	case sub == "set-skip-checksum-validation" && n == 3:
		rdb.SetSkipChecksum(cAtoi(args[2]) != 0)
		c.replyOK()
	case sub == "set-disable-deny-scripts" && n == 3:
		c.srv.scriptDenyOff.Store(cAtoi(args[2]) != 0)
		c.replyOK()
	case sub == "config-rewrite-force-all" && n == 2:
		debugRewriteAll(c)
	case sub == "replybuffer" && n == 4:
		// Valkyrie's reply buffers are per segment and do not resize
		// as Redis's do: the knobs are accepted, and change nothing.
		opt := strings.ToLower(string(args[2]))
		switch {
		case opt == "peak-reset-time":
			if v := strings.ToLower(string(args[3])); v != "never" && v != "reset" {
				if _, ok := wire.ParseInt(args[3]); !ok {
					c.replyError(shard.ErrNotInt)
					return
				}
			}
		case opt == "resizing":
		default:
			c.replyError("ERR unknown subcommand or wrong number of arguments for '" +
				string(cString(args[1], 128)) + "'. Try DEBUG HELP.")
			return
		}
		c.replyOK()
	case sub == "stringmatch-test" && n == 2:
		stringmatchFuzz()
		c.replySimple("Apparently Redis did not crash: test passed")
	default:
		c.replyError("ERR unknown subcommand or wrong number of arguments for '" +
			string(cString(args[1], 128)) + "'. Try DEBUG HELP.")
	}
}

// debugShards runs fn on every shard with the shards held: those a
// transaction or script holds already, and the others borrowed (all at
// once, in ascending order, when none is held). It reports false, having
// replied, when the shards are stopping.
func (c *client) debugShards(fn func(s *shard.Shard)) bool {
	held := 0
	for _, s := range c.borrowed {
		if s != nil {
			held++
		}
	}
	if held > 0 && held < len(c.borrowed) {
		// A script holds some: take the others one at a time, as INFO does.
		c.srv.eachShard(c.borrowed, fn)
		return true
	}
	return c.holdAll(func(all []*shard.Shard) {
		for _, s := range all {
			fn(s)
		}
	})
}

// debugKeyShard runs fn on the shard owning key, held as debugShards does.
func (c *client) debugKeyShard(key []byte, fn func(s *shard.Shard)) bool {
	id := shard.Owner(key, len(c.srv.workers))
	return c.debugShards(func(s *shard.Shard) {
		if s.ID == id {
			fn(s)
		}
	})
}

func debugObject(c *client, key []byte) {
	var line string
	var found bool
	now := time.Now().UnixMilli()
	if !c.debugKeyShard(key, func(s *shard.Shard) { line, found = s.DebugObject(c.db, key, now) }) {
		return
	}
	if !found {
		c.replyError(shard.ErrNoSuchKey)
		return
	}
	c.replySimple(line)
}

// debugEncoding is DEBUG LISTPACK and DEBUG QUICKLIST: Redis prints the
// structure on its standard output; Valkyrie has no such dump and only
// answers whether the key has that encoding.
func debugEncoding(c *client, sub string, key []byte) {
	var enc string
	var found bool
	if !c.debugKeyShard(key, func(s *shard.Shard) { enc, found = s.Encoding(c.db, key) }) {
		return
	}
	switch {
	case !found:
		c.replyError(shard.ErrNoSuchKey)
	case sub != enc && sub == "listpack":
		c.replyError("ERR Not a listpack encoded object.")
	case sub != enc:
		c.replyError("ERR Not a quicklist encoded object.")
	case sub == "listpack":
		c.replySimple("Listpack structure printed on stdout")
	default:
		c.replySimple("Quicklist structure printed on stdout")
	}
}

func debugPopulate(c *client, args [][]byte) {
	count, msg := positiveLong(args[2])
	if msg != "" {
		c.replyError(msg)
		return
	}
	prefix := "key"
	if len(args) >= 4 {
		prefix = string(cString(args[3], len(args[3])))
	}
	var size int64
	if len(args) == 5 {
		if size, msg = positiveLong(args[4]); msg != "" {
			c.replyError(msg)
			return
		}
	}
	if c.srv.persist.loading.Load() {
		// DEBUG may run while the file loads at start-up, but a key made
		// now would meet the file's copy of it, which the loader takes
		// for a duplicate key in the file: the server would exit.
		c.replyError(errLoading)
		return
	}
	if populateTooBig(count, int64(len(prefix)), size, infoTotalMemory()) {
		c.replyError("ERR OOM in dictTryExpand")
		return
	}
	now := time.Now().UnixMilli()
	shards := len(c.srv.workers)
	if c.debugShards(func(s *shard.Shard) { s.Populate(c.db, count, prefix, size, shards, now) }) {
		c.replyOK()
	}
}

// populateKeyCost is a floor on what one DEBUG POPULATE key costs beyond
// its name and value: the map entry, two string headers and the value.
const populateKeyCost = 64

// populateTooBig reports whether DEBUG POPULATE of count keys cannot fit in
// the machine's memory (total bytes; 0 if unknown), even at a floor on
// each key's cost. Redis refuses, with "OOM in dictTryExpand", a count
// whose hash table it cannot allocate up front; without that, DEBUG
// POPULATE 1000000000 held every shard while it filled the memory until
// the process was killed.
func populateTooBig(count, prefix, size, total int64) bool {
	if total <= 0 || count == 0 {
		return false
	}
	per := populateKeyCost + prefix + 21 + max(size, 16)
	if size > total || per > total {
		return true
	}
	return count > total/per
}

// positiveLong parses a count as Redis's getPositiveLongFromObjectOrReply.
func positiveLong(a []byte) (int64, string) {
	v, ok := wire.ParseInt(a)
	if !ok {
		return 0, shard.ErrNotInt
	}
	if v < 0 {
		return 0, shard.ErrNotPositive
	}
	return v, ""
}

func debugDigestValue(c *client, keys [][]byte) {
	out := make([]shard.Digest, len(keys))
	n := len(c.srv.workers)
	if !c.debugShards(func(s *shard.Shard) {
		for i, k := range keys {
			if shard.Owner(k, n) == s.ID {
				out[i] = s.DigestValue(c.db, k)
			}
		}
	}) {
		return
	}
	c.replyArray(len(keys))
	for i := range out {
		c.replySimple(out[i].Hex())
	}
}

// debugProtocol replies with a sample of each RESP type, as Redis does
// (RESP2 gets each one's RESP2 form).
func debugProtocol(c *client, name []byte) {
	p := c.proto
	switch strings.ToLower(string(name)) {
	case "string":
		c.replyBulkString("Hello World")
	case "integer":
		c.replyInt(12345)
	case "double":
		c.local = wire.AppendDouble(c.local, 3.141, p)
	case "bignum":
		c.local = wire.AppendBigNumber(c.local, "1234567999999999999999999999999999999", p)
	case "null":
		c.replyNull()
	case "array":
		c.replyArray(3)
		for j := int64(0); j < 3; j++ {
			c.replyInt(j)
		}
	case "set":
		c.replySet(3)
		for j := int64(0); j < 3; j++ {
			c.replyInt(j)
		}
	case "map":
		c.replyMap(3)
		for j := int64(0); j < 3; j++ {
			c.replyInt(j)
			c.local = wire.AppendBool(c.local, j == 1, p)
		}
	case "attrib":
		if p == wire.RESP3 {
			c.local = wire.AppendAttribute(c.local, 1)
			c.replyBulkString("key-popularity")
			c.replyArray(2)
			c.replyBulkString("key:123")
			c.replyInt(90)
		}
		c.replyBulkString("Some real reply following the attribute")
	case "push":
		if p != wire.RESP3 {
			c.replyError("ERR RESP2 is not supported by this command")
			return
		}
		c.local = wire.AppendPush(c.local, 2, p)
		c.replyBulkString("server-cpu-usage")
		c.replyInt(42)
		c.replyBulkString("Some real reply following the push reply")
	case "true":
		c.local = wire.AppendBool(c.local, true, p)
	case "false":
		c.local = wire.AppendBool(c.local, false, p)
	case "verbatim":
		c.local = wire.AppendVerbatim(c.local, "txt", []byte("This is a verbatim\nstring"), p)
	default:
		c.replyError("ERR Wrong protocol type name. Please use one of the following: " +
			"string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
	}
}

// debugSleep is DEBUG SLEEP: Redis stops the whole server, so the
// connection holds every shard while it sleeps (or only sleeps, inside a
// transaction or script that holds them already), and the commands other
// connections run themselves wait at sleepGate (awaitSleep): a pipeline
// sent meanwhile runs, as in Redis, once the sleep is over, and a PING
// sent after it is answered after it. Shutdown cuts it short.
func debugSleep(c *client, secs float64) {
	d := time.Duration(secs * 1e9)
	sleep := func() {
		if d <= 0 {
			return
		}
		gate := make(chan struct{})
		c.srv.sleepGate.Store(&gate)
		defer func() {
			c.srv.sleepGate.Store(nil)
			close(gate)
		}()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.srv.stopping:
		}
	}
	held := false
	for _, s := range c.borrowed {
		if s != nil {
			held = true
			break
		}
	}
	if held {
		sleep()
		c.replyOK()
		return
	}
	slept := false
	if c.debugShards(func(*shard.Shard) {
		if !slept {
			slept = true
			sleep() // the first call comes with every shard borrowed
		}
	}) {
		c.replyOK()
	}
}

// cAtoi is C's atoi: optional blanks and sign, then digits up to the first
// other byte; 0 when there are none.
func cAtoi(b []byte) int64 {
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var v int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	if neg {
		return -v
	}
	return v
}

// cStrtod is C's strtod as DEBUG SLEEP uses it: the longest leading number,
// 0 when there is none.
func cStrtod(b []byte) float64 {
	s := strings.TrimLeft(string(b), " \t\n\v\f\r")
	for end := len(s); end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return f
		}
	}
	return 0
}

// parseMemory is Redis's memtoull: a non-negative number with an optional
// b, k, kb, m, mb, g or gb unit (any case).
func parseMemory(s string) (uint64, bool) {
	l := strings.ToLower(s)
	mul := uint64(1)
	for _, u := range [...]struct {
		suffix string
		mul    uint64
	}{{"kb", 1024}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"b", 1}, {"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}} {
		if strings.HasSuffix(l, u.suffix) {
			l, mul = l[:len(l)-len(u.suffix)], u.mul
			break
		}
	}
	if l == "" {
		return 0, false
	}
	for _, ch := range []byte(l) {
		if ch < '0' || ch > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(l, 10, 64)
	if err != nil || (mul > 1 && v > ^uint64(0)/mul) {
		return 0, false
	}
	return v * mul, true
}

// stringmatchFuzz is DEBUG STRINGMATCH-TEST: random patterns against
// random strings through the glob matcher, which must neither crash nor
// hang (Redis's stringmatchlen_fuzz_test).
func stringmatchFuzz() {
	var pat, str [32]byte
	for i := 0; i < 100000; i++ {
		pl, sl := mrand.IntN(len(pat)), mrand.IntN(len(str))
		for j := 0; j < pl; j++ {
			pat[j] = byte(mrand.IntN(256))
		}
		for j := 0; j < sl; j++ {
			str[j] = byte(mrand.IntN(256))
		}
		glob.Match(string(pat[:pl]), string(str[:sl]), false)
	}
}

// debugRewriteAll is CONFIG REWRITE writing every parameter.
func debugRewriteAll(c *client) {
	if c.srv.cfgFile == "" {
		c.replyError("ERR The server is running without a config file")
		return
	}
	if err := c.srv.cfg.RewriteAll(c.srv.cfgFile); err != nil {
		c.replyError("ERR CONFIG-REWRITE-FORCE-ALL failed: " + config.ErrnoText(err))
		return
	}
	c.replyOK()
}

// awaitSleep holds a command that runs on the connection's goroutine
// while a DEBUG SLEEP lasts (see debugSleep).
func (c *client) awaitSleep(gate *chan struct{}) {
	select {
	case <-*gate:
	case <-c.srv.stopping:
	}
}

// debugReload is DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the
// dataset and load the file back, every shard held meanwhile.
func debugReload(c *client, opts [][]byte) {
	save, flush, merge := true, true, false
	for _, o := range opts {
		switch {
		case equalFold(o, "merge"):
			merge = true
		case equalFold(o, "noflush"):
			flush = false
		case equalFold(o, "nosave"):
			save = false
		default:
			c.replyError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
			return
		}
	}
	if c.srv.persist.loading.Load() {
		// DEBUG may run while the file loads at start-up: its save would
		// replace the file with the part loaded so far.
		c.replyError(errLoading)
		return
	}
	var err error
	if !c.holdAll(func(held []*shard.Shard) { err = c.srv.reloadHeld(held, save, flush, merge) }) {
		return
	}
	if err != nil {
		c.srv.log.Warn("DEBUG RELOAD failed", "err", err)
		if _, loading := err.(errReloadLoad); loading {
			c.replyError("ERR Error trying to load the RDB dump")
		} else {
			c.replyError(errSaveFailed) // the save failed: nothing changed
		}
		return
	}
	c.srv.log.Warn("DB reloaded by DEBUG RELOAD")
	c.replyOK()
}

// debugLoadAOF is DEBUG LOADAOF: the AOF written and synced, the dataset
// emptied and loaded back from the AOF directory.
func debugLoadAOF(c *client) {
	if c.srv.persist.loading.Load() {
		c.replyError(errLoading)
		return
	}
	var err error
	if !c.holdAll(func(held []*shard.Shard) {
		s := c.srv
		s.flushAOF(true)
		// Others get -LOADING meanwhile, and nothing the load runs (its
		// scripts) goes to the journal: it comes from there.
		s.persist.loading.Store(true)
		defer s.persist.loading.Store(false)
		on := s.journal.On()
		s.journal.SetOn(false)
		defer s.journal.SetOn(on)
		for _, sh := range held {
			sh.FlushAll()
		}
		s.scripts.FlushFunctions()
		_, err = s.loadAOFHeld(held)
	}) {
		return
	}
	if err != nil {
		c.srv.log.Warn("DEBUG LOADAOF failed", "err", err)
		c.replyError("ERR Error trying to load the AOF files")
		return
	}
	c.srv.log.Warn("Append Only File loaded by DEBUG LOADAOF")
	c.replyOK()
}

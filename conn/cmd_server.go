package conn

import (
	"context"
	"strings"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
	"github.com/valkyrie-kv/valkyrie/shard"
)

var configSubs, configSpecs = newSubcommands("config",
	&subcommand{Spec: shard.Spec{Name: "get", Arity: -3, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.0.0", Summary: "Returns the effective values of configuration parameters.",
		Complexity: "O(N) when N is the number of configuration parameters provided", Syntax: "parameter [parameter ...]"},
		run: cmdConfigGet},
	&subcommand{Spec: shard.Spec{Name: "set", Arity: -4, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.0.0", Summary: "Sets configuration parameters in-flight.",
		Complexity: "O(N) when N is the number of configuration parameters provided", Syntax: "parameter value [parameter value ...]"},
		run: cmdConfigSet},
	&subcommand{Spec: shard.Spec{Name: "resetstat", Arity: 2, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.0.0", Summary: "Resets the server's statistics.", Complexity: "O(1)"},
		run: cmdConfigResetStat},
	&subcommand{Spec: shard.Spec{Name: "rewrite", Arity: 2, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.0", Summary: "Persists the effective configuration to file.", Complexity: "O(1)"},
		run: cmdConfigRewrite},
	&subcommand{Spec: shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale,
		Group: "server", Since: "5.0.0", Summary: "Returns helpful text about the different subcommands.", Complexity: "O(1)"},
		run: cmdConfigHelp},
)

func init() {
	registerLocal(
		&localCommand{Spec: shard.Spec{Name: "config", Arity: -2, Group: "server", Since: "2.0.0",
			Summary: "A container for server configuration commands.", Complexity: "Depends on subcommand.",
			Subcommands: configSpecs}, run: func(c *client, args [][]byte) { configSubs.dispatch(c, args) }},
		&localCommand{Spec: shard.Spec{Name: "shutdown", Arity: -1,
			Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale | shard.NoMulti | shard.AllowBusy,
			Group: "server", Since: "1.0.0", Summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.",
			Complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
			Syntax:     "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]"}, run: cmdShutdown, barrier: true},
	)
}

func cmdConfigGet(c *client, args [][]byte) {
	patterns := make([]string, len(args)-2)
	for i, a := range args[2:] {
		patterns[i] = string(a)
	}
	kv := c.srv.cfg.Get(patterns...)
	c.replyMap(len(kv) / 2)
	for _, s := range kv {
		c.replyBulkString(s)
	}
}

func cmdConfigSet(c *client, args [][]byte) {
	if len(args)%2 != 0 {
		c.replyError(shard.ErrArity("config|set"))
		return
	}
	pairs := make([]string, len(args)-2)
	for i, a := range args[2:] {
		pairs[i] = string(a)
	}
	if c.srv.persist.loading.Load() && c.srv.cfg.DeniedWhileLoading(c.fromLoopback(), pairs...) {
		c.replyError(errLoading)
		return
	}
	if err := c.srv.cfg.SetFrom(c.fromLoopback(), pairs...); err != nil {
		c.replyError(err.Error())
		return
	}
	evict, setMax := false, false
	for i := 0; i < len(pairs); i += 2 {
		if strings.EqualFold(pairs[i], "tracking-table-max-keys") {
			// Redis trims the table before the next command runs: trim
			// it now, so the invalidations precede this reply.
			c.srv.eachShard(c.borrowed, (*shard.Shard).TrimTracking)
		}
		if len(pairs[i]) >= 9 && strings.EqualFold(pairs[i][:9], "maxmemory") {
			evict = true
			setMax = setMax || strings.EqualFold(pairs[i], "maxmemory")
		}
	}
	if evict && c.srv.mem.Over() > 0 {
		c.srv.evictNow(c.borrowed, setMax) // as Redis does on a lower maxmemory
	}
	c.replyOK()
}

// fromLoopback reports whether the peer is local, which Redis requires for
// "protected" parameters when enable-protected-configs is "local".
func (c *client) fromLoopback() bool {
	return isLocalAddr(c.nc.RemoteAddr()) // as protected mode decides
}

func cmdConfigResetStat(c *client, args [][]byte) {
	c.srv.stats.reset()
	c.srv.resetCommandStats(c.borrowed)
	c.srv.lazy.ResetStats()
	c.srv.resetLatency()
	c.srv.eachShard(c.borrowed, (*shard.Shard).ResetStats) // expired_keys, keyspace_hits/misses
	c.srv.resetRates()
	c.srv.persist.saves.Store(0) // rdb_saves, as Redis's resetServerStats
	r := &c.srv.repl
	r.syncFull.Store(0)
	r.syncPartialOK.Store(0)
	r.syncPartialErr.Store(0)
	c.replyOK()
}

func cmdConfigRewrite(c *client, args [][]byte) {
	path := c.srv.cfgFile
	if path == "" {
		c.replyError("ERR The server is running without a config file")
		return
	}
	if err := c.srv.cfg.Rewrite(path); err != nil {
		msg := config.ErrnoText(err)
		c.srv.log.Warn("CONFIG REWRITE failed: " + msg)
		c.replyError("ERR Rewriting config file: " + msg)
		return
	}
	c.srv.log.Warn("CONFIG REWRITE executed with success.")
	c.replyOK()
}

func cmdConfigHelp(c *client, args [][]byte) {
	c.replyHelp("CONFIG",
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and their values.",
		"SET <directive> <value>",
		"    Set the configuration <directive> to <value>.",
		"RESETSTAT",
		"    Reset statistics reported by the INFO command.",
		"REWRITE",
		"    Rewrite the configuration file.")
}

// cmdShutdown stops the server, saving first when save points are set or
// SAVE is given, and not with NOSAVE (the save runs once the connections
// are closed: Server.Shutdown). On success there is no reply: the
// connection closes.
func cmdShutdown(c *client, args [][]byte) {
	var save, nosave, abort, other, force bool
	for _, a := range args[1:] {
		switch {
		case equalFold(a, "nosave"):
			nosave = true
		case equalFold(a, "save"):
			save = true
		case equalFold(a, "now"):
			other = true
		case equalFold(a, "force"):
			other, force = true, true
		case equalFold(a, "abort"):
			abort = true
		default:
			c.replyError(shard.ErrSyntax)
			return
		}
	}
	if (abort && (save || nosave || other)) || (save && nosave) {
		c.replyError(shard.ErrSyntax)
		return
	}
	if abort {
		c.replyError("ERR No shutdown in progress.")
		return
	}
	if !nosave {
		// During a slow script only SHUTDOWN NOSAVE may stop the server.
		if msg := c.busyAny(); msg != "" {
			c.replyError(msg)
			return
		}
	}
	c.srv.log.Warn("SHUTDOWN requested by client", "client", c.id)
	if c.srv.aofWritingInitial() {
		// The AOF turned on at run time has no base yet: the files on
		// disk do not hold the dataset, and a restart would lose it.
		if !force {
			c.srv.log.Warn("Writing initial AOF, can't exit.")
			c.replyError("ERR Errors trying to SHUTDOWN. Check logs.")
			return
		}
		c.srv.log.Warn("Writing initial AOF. Exit anyway.")
	}
	switch {
	case nosave:
		c.srv.persist.shutdownMode.Store(shutdownNoSave)
	case save:
		c.srv.persist.shutdownMode.Store(shutdownSave)
	}
	// Save now, while the server can still say no: a save that fails
	// stops the shutdown, as in Redis, unless FORCE.
	var err error
	if c.srv.wantsShutdownSave() && !c.holdAll(func(held []*shard.Shard) { err = c.srv.saveForShutdown(held) }) {
		return
	}
	if err != nil {
		if !force {
			c.srv.log.Warn("Error trying to save the DB, can't exit.", "err", err)
			c.srv.persist.shutdownMode.Store(shutdownDefault)
			c.replyError("ERR Errors trying to SHUTDOWN. Check logs.")
			return
		}
		c.srv.log.Warn("Error trying to save the DB. Exit anyway.", "err", err)
		c.srv.persist.shutdownMode.Store(shutdownNoSave)
	}
	c.closeAfter = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.srv.Shutdown(ctx)
	}()
}

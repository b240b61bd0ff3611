package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/lmittmann/tint"

	"github.com/valkyrie-kv/valkyrie/conn"
)

// defaultGCPercent is the garbage collector target unless GOGC is set.
const defaultGCPercent = 25

// cli holds the command-line flags. Defaults in ${...} come from the
// configuration file (startup.go); a flag or its environment variable wins.
type cli struct {
	Address     string `help:"Socket address to bind (ip:port); default: the file's port and bind, else 127.0.0.1:6379."`
	TCPHandlers int    `name:"tcp-handlers" default:"${tcp_handlers}" env:"VALKYRIE_TCP_HANDLERS" help:"Threads that run connection (and shard) goroutines in parallel (GOMAXPROCS); 0 or more than max(1, CPUs/2) means max(1, CPUs/2)."`
	Shards      int    `default:"${shards}" env:"VALKYRIE_SHARDS" help:"Number of storage shards; 0 or more than max(1, CPUs/2) means max(1, CPUs/2)."`
	NoClamp     bool   `name:"no-clamp" default:"${no_clamp}" env:"VALKYRIE_NO_CLAMP" help:"Use --tcp-handlers and --shards as given, even above max(1, CPUs/2)."`
	LogLevel    string `name:"log-level" default:"${log_level}" enum:"debug,info,warn,error" help:"Minimum log level (debug, info, warn, error); default: the file's loglevel, else info."`
	LogFormat   string `name:"log-format" default:"text" enum:"text,json" help:"Log format: text (coloured on a terminal) or json."`
	EnableDebug string `name:"enable-debug-command" default:"${enable_debug}" enum:"no,yes,local" help:"Allow the DEBUG command: no, yes, or local (only from loopback clients); default: the file's enable-debug-command, else no. As in Redis it cannot be changed at run time; Redis's test suite needs yes or local."`
	GCHeadroom  int    `name:"gc-headroom-mb" default:"16" help:"Least heap growth in MiB between garbage collections while the data is small (above it GOGC=25 applies); 0 means plain GOGC=25. Ignored when GOGC is set."`
}

func main() {
	redisArgs, kongArgs := splitArgs(os.Args[1:])
	st, err := loadSettings(redisArgs)
	if err != nil {
		// Redis prints these and exits 1.
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	var c cli
	parser := kong.Must(&c,
		kong.Name("valkyrie"),
		kong.Description("A Redis-compatible in-memory key-value server with sharded, lock-free storage. "+
			"Usage: valkyrie [redis.conf] [--<config-parameter> <value>...] [flags]."),
		kong.Vars(st.vars()))
	_, err = parser.Parse(kongArgs)
	parser.FatalIfErrorf(err)
	if st.cfg.Bool("daemonize") {
		os.Stderr.WriteString("valkyrie: 'daemonize yes' is not supported: Valkyrie does not fork; run it in the foreground under a supervisor\n")
		os.Exit(1)
	}
	if err := os.Chdir(st.cfg.Value("dir")); err != nil {
		os.Stderr.WriteString("Can't chdir to '" + st.cfg.Value("dir") + "': " + err.Error() + "\n")
		os.Exit(1)
	}
	out, err := st.logOutput()
	if err != nil {
		os.Stderr.WriteString("Can't open the log file: " + err.Error() + "\n")
		os.Exit(1)
	}
	var level slog.LevelVar
	level.UnmarshalText([]byte(c.LogLevel))
	// CONFIG SET loglevel changes it at run time.
	st.cfg.OnChange("loglevel", func(v string) { level.UnmarshalText([]byte(slogLevelName(v))) })
	log := newLogger(&level, c.LogFormat, out)
	slog.SetDefault(log)
	if err := run(c, st, log, out); err != nil {
		if !errors.Is(err, errListen) && !errors.Is(err, errLoad) {
			log.Error("valkyrie stopped", "err", err)
		}
		os.Exit(1)
	}
}

func run(c cli, st *settings, log *slog.Logger, out io.Writer) error {
	if c.TCPHandlers < 0 || c.Shards < 0 {
		return errors.New("--tcp-handlers and --shards must not be negative")
	}
	if c.GCHeadroom < 0 || c.GCHeadroom > 1<<20 {
		return errors.New("--gc-headroom-mb must be between 0 and 1048576")
	}
	cpus := runtime.NumCPU()
	half := max(1, cpus/2)
	handlers := clamp(log, "tcp-handlers", c.TCPHandlers, half, cpus, c.NoClamp)
	shards := clamp(log, "shards", c.Shards, half, cpus, c.NoClamp)
	runtime.GOMAXPROCS(handlers)
	if os.Getenv("GOGC") == "" {
		// A key-value store's heap is mostly live data, so the default
		// GOGC=100 would let the process grow to twice its data. 25 keeps
		// it within a quarter; only writes allocate, so reads pay nothing.
		// While the data is small the tuner allows more, so that writes
		// do not run a collection every few hundred KiB.
		if c.GCHeadroom > 0 {
			defer startGCTuner(defaultGCPercent, uint64(c.GCHeadroom)<<20).stop()
		} else {
			debug.SetGCPercent(defaultGCPercent)
		}
	}

	// A channel rather than signal.NotifyContext, which stops listening
	// after the first signal: a second SIGINT or SIGTERM must still be
	// seen, to force the exit when the graceful shutdown hangs.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ls, err := st.listen(c.Address, log)
	if err != nil {
		return err
	}
	tlsLs, err := st.listenTLS(c.Address, log)
	if err != nil {
		for _, l := range ls {
			l.Close()
		}
		return err
	}
	defer st.writePIDFile(log)()
	// The flag (default: the file's value) says whether DEBUG is allowed.
	if err := st.cfg.Load("enable-debug-command", c.EnableDebug); err != nil {
		return err
	}
	srv := conn.New(conn.Options{Shards: shards, Logger: log, Config: st.cfg, ConfigFile: st.path, Persistent: true})
	srv.MeasureStartupMemory()
	if err := srv.LoadUsersAtStartup(st.users.Lines()); err != nil {
		return err // users from redis.conf or the aclfile, as Redis loads them
	}
	if st.cfg.Bool("always-show-logo") && c.LogFormat == "text" {
		banner(out, ls, shards)
	}
	var addrs []string
	for _, l := range append(ls[:len(ls):len(ls)], tlsLs...) {
		addrs = append(addrs, l.Addr().String())
	}
	log.Info("valkyrie ready", "address", addrs[0], "addresses", addrs, "config_file", st.path, "shards", shards,
		"tcp_handlers", handlers, "gomaxprocs", handlers, "pid", os.Getpid())

	srv.BeginLoading()
	serveErr := make(chan error, len(ls)+len(tlsLs))
	for _, l := range ls {
		go func() { serveErr <- srv.Serve(l) }()
	}
	for _, l := range tlsLs {
		go func() { serveErr <- srv.ServeTLS(l) }()
	}
	// As Redis, the file loads while clients may connect: they get
	// -LOADING until it is done.
	loaded := make(chan error, 1)
	go func() { loaded <- srv.LoadAtStartup() }()
	refused := false // a signal's save failed: the next signal exits
	for stop := false; !stop; {
		select {
		case lerr := <-loaded:
			loaded = nil
			if errors.Is(lerr, conn.ErrLoadLogged) {
				// As Redis: the reason is the log's last line, and the
				// process exits at once (nothing was loaded to save).
				os.Exit(1)
			}
			if lerr != nil {
				log.Error(lerr.Error())
				shutdown(srv, log)
				return errLoad
			}
			log.Info("Ready to accept connections")
		case sig := <-sigs:
			if refused {
				log.Error("second signal after a failed save: exiting without saving", "signal", sig.String())
				os.Exit(1)
			}
			log.Info("signal received, shutting down", "signal", sig.String())
			if perr := srv.PrepareShutdown(); perr != nil {
				// As Redis: a server that cannot save stays up rather than
				// lose the data. A second signal exits anyway.
				log.Error("Errors trying to shut down the server: the save failed; still running (signal again to exit without saving)", "err", perr)
				refused = true
				continue
			}
			stop = true
		case <-srv.Stopping():
			log.Info("SHUTDOWN received, shutting down")
			stop = true
		case err = <-serveErr:
			if errors.Is(err, conn.ErrServerClosed) {
				err = nil
			}
			stop = true
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		shutdown(srv, log)
	}()
	select {
	case <-done:
	case sig := <-sigs:
		log.Error("second signal: exiting without finishing the shutdown", "signal", sig.String())
		os.Exit(1)
	case <-time.After(shutdownTimeout + shutdownGrace):
		log.Error("shutdown did not finish in time; exiting", "waited", shutdownTimeout+shutdownGrace)
		os.Exit(1)
	}
	return err
}

const (
	// shutdownTimeout bounds the wait for connections to finish.
	shutdownTimeout = 10 * time.Second
	// shutdownGrace is how much longer the shutdown may take (stopping
	// the shards) before the process exits regardless.
	shutdownGrace = 5 * time.Second
)

// beforeShutdown, when set, runs at the start of shutdown; tests use it
// to make the shutdown hang.
var beforeShutdown func()

func shutdown(srv *conn.Server, log *slog.Logger) {
	if beforeShutdown != nil {
		beforeShutdown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown did not drain every connection", "err", err)
	}
	log.Info("bye")
}

// clamp applies the original flag semantics: 0 means the default, and the
// value is capped at half the CPUs unless noClamp is set.
func clamp(log *slog.Logger, flag string, v, half, cpus int, noClamp bool) int {
	switch {
	case v == 0:
		return half
	case v > half && !noClamp:
		log.Info("clamped to half the CPUs", "flag", "--"+flag, "requested", v, "using", half, "cpus", cpus)
		return half
	}
	return v
}

func newLogger(level slog.Leveler, format string, out io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}))
	}
	tty := false
	if f, ok := out.(*os.File); ok {
		fi, err := f.Stat()
		tty = err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
	return slog.New(tint.NewTextHandler(out, &tint.Options{Level: level, NoColor: !tty, TimeFormat: time.TimeOnly}))
}

package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/valkyrie-kv/valkyrie/conn"
	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// Valkyrie starts like redis-server: `valkyrie [redis.conf] [--param value
// ...]`, with its own kong flags (--address, --shards, ...) mixed in. The
// kong flags are picked out first; the rest is read as redis-server reads
// its command line, the configuration file first and then the --param
// directives. What the file says about shards, tcp-handlers, no-clamp and
// loglevel becomes kong's defaults, so a flag (or its environment
// variable) wins over the file.

// kongFlags maps each kong flag's name to whether it takes a value.
func kongFlags() map[string]bool {
	flags := map[string]bool{"help": false}
	t := reflect.TypeOf(cli{})
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("name")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		flags[name] = f.Type.Kind() != reflect.Bool
	}
	return flags
}

// splitArgs separates kong's flags (with their values) from the
// redis-server style arguments.
func splitArgs(args []string) (redis, kong []string) {
	flags := kongFlags()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" {
			kong = append(kong, a)
			continue
		}
		if !strings.HasPrefix(a, "--") {
			redis = append(redis, a)
			continue
		}
		name, _, hasValue := strings.Cut(a[2:], "=")
		takesValue, ok := flags[name]
		if !ok {
			redis = append(redis, a)
			continue
		}
		kong = append(kong, a)
		if takesValue && !hasValue && i+1 < len(args) {
			i++
			kong = append(kong, args[i])
		}
	}
	return redis, kong
}

// settings is what the configuration file and --param arguments said.
type settings struct {
	cfg  *config.Table
	path string // absolute path of the configuration file, "" for none

	shards, tcpHandlers int
	noClamp             bool
	users               conn.UserDirectives // the `user` lines
}

// loadSettings reads the configuration file and directives. Errors are
// *config.LoadError or *config.OpenError, whose text is Redis's.
func loadSettings(args []string) (*settings, error) {
	st := &settings{cfg: config.New()}
	path, options := config.CommandLine(args)
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		st.path = abs
	}
	err := st.cfg.LoadFile(config.FileOptions{
		Path:    st.path,
		Options: options,
		Extra: map[string]config.Directive{
			"shards":       intDirective(&st.shards),
			"tcp-handlers": intDirective(&st.tcpHandlers),
			"user":         st.users.Add,
			"rename-command": func(args []string) string {
				if len(args) != 2 {
					return "Bad directive or wrong number of arguments"
				}
				return conn.RenameCommand(args[0], args[1])
			},
			"no-clamp": func(args []string) string {
				if len(args) != 1 {
					return "wrong number of arguments"
				}
				switch strings.ToLower(args[0]) {
				case "yes":
					st.noClamp = true
				case "no":
					st.noClamp = false
				default:
					return "argument must be 'yes' or 'no'"
				}
				return ""
			},
		},
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func intDirective(dst *int) config.Directive {
	return func(args []string) string {
		if len(args) != 1 {
			return "wrong number of arguments"
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 || n > 1<<20 {
			return "argument must be between 0 and 1048576"
		}
		*dst = n
		return ""
	}
}

// vars are kong's defaults taken from the file.
func (st *settings) vars() map[string]string {
	return map[string]string{
		"shards":       strconv.Itoa(st.shards),
		"tcp_handlers": strconv.Itoa(st.tcpHandlers),
		"no_clamp":     strconv.FormatBool(st.noClamp),
		"log_level":    slogLevelName(st.cfg.Value("loglevel")),
		"enable_debug": st.cfg.Value("enable-debug-command"),
	}
}

// slogLevelName maps Redis's loglevel onto the slog level names.
func slogLevelName(redis string) string {
	switch redis {
	case "debug", "verbose":
		return "debug"
	case "warning":
		return "warn"
	}
	return "info"
}

// logOutput opens "logfile" for appending, or gives stdout when it is empty.
func (st *settings) logOutput() (io.Writer, error) {
	name := st.cfg.Value("logfile")
	if name == "" {
		return os.Stdout, nil
	}
	return os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// errListen stops start-up when a port cannot be bound; the reason is
// already logged.
var errListen = errors.New("could not listen")

// errLoad stops start-up when the RDB file cannot be loaded; the reason
// is logged already.
var errLoad = errors.New("could not load the dataset")

// listen opens the listeners: --address alone when given, else each "bind"
// address on "port", and the "unixsocket". Without a bind directive the
// addresses are Redis's default, "* -::*", when Valkyrie starts from a
// configuration file as redis-server does, and 127.0.0.1 (the seed's
// default) when it starts without one. An address Redis would skip (one
// marked optional with '-' that is not available, an unsupported family)
// is skipped; any other failure stops start-up with Redis's log lines.
func (st *settings) listen(address string, log *slog.Logger) ([]net.Listener, error) {
	var ls []net.Listener
	fail := func(addr string, port string, err error) ([]net.Listener, error) {
		for _, l := range ls {
			l.Close()
		}
		log.Error("Warning: Could not create server TCP listening socket " + addr + ": " + listenErrText(err))
		log.Error("Failed listening on port " + port + " (TCP), aborting.")
		return nil, errListen
	}
	if address != "" {
		l, err := net.Listen("tcp", address)
		if err != nil {
			_, port, _ := net.SplitHostPort(address)
			return fail(address, port, err)
		}
		ls = append(ls, l)
		// CONFIG GET port and bind tell where it listens.
		a := l.Addr().(*net.TCPAddr)
		pairs := []string{"port", strconv.Itoa(a.Port)}
		if host, _, _ := net.SplitHostPort(address); host != "" {
			pairs = append(pairs, "bind", a.IP.String())
		}
		if err := st.cfg.Load(pairs...); err != nil {
			l.Close()
			return nil, err
		}
	} else {
		if err := st.defaultBind(); err != nil {
			return nil, err
		}
		if port := st.cfg.Value("port"); port != "0" {
			for _, b := range strings.Fields(st.cfg.Value("bind")) {
				l, err := conn.ListenBind(b, port)
				if err != nil {
					if conn.BindSkippable(b, err) {
						continue
					}
					return fail(strings.TrimPrefix(b, "-")+":"+port, port, err)
				}
				ls = append(ls, l)
			}
		}
	}
	if path := st.cfg.Value("unixsocket"); path != "" {
		os.Remove(path) // a socket left by an earlier run
		l, err := net.Listen("unix", path)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			log.Error("Failed opening Unix socket: " + listenErrText(err))
			return nil, errListen
		}
		if perm := st.cfg.Int("unixsocketperm"); perm != 0 {
			os.Chmod(path, os.FileMode(perm))
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 && st.cfg.Int("tls-port") == 0 {
		return nil, errors.New("configured to not listen anywhere, exiting")
	}
	return ls, nil
}

// defaultBind sets "bind" to 127.0.0.1 when neither a configuration file
// nor a --bind argument set it and Valkyrie runs without a file; from a
// file it stays Redis's default, "* -::*".
func (st *settings) defaultBind() error {
	if st.path != "" || st.cfg.Loaded("bind") {
		return nil
	}
	return st.cfg.Load("bind", "127.0.0.1")
}

// listenTLS opens the tls-port listeners, none when it is 0: on --address's
// host when given, else on each "bind" address, as Redis does. The
// certificates are checked first; a bad set stops start-up.
func (st *settings) listenTLS(address string, log *slog.Logger) ([]net.Listener, error) {
	port := st.cfg.Value("tls-port")
	if port == "0" {
		return nil, nil
	}
	if _, err := conn.TLSConfig(st.cfg); err != nil {
		log.Error(err.Error())
		log.Error("Failed to configure TLS. Check logs for more info.")
		return nil, errListen
	}
	if err := st.defaultBind(); err != nil {
		return nil, err
	}
	var ls []net.Listener
	fail := func(b string, err error) ([]net.Listener, error) {
		for _, l := range ls {
			l.Close()
		}
		log.Error("Warning: Could not create server TCP listening socket " + b + ":" + port + ": " + listenErrText(err))
		log.Error("Failed listening on port " + port + " (tls), aborting.")
		return nil, errListen
	}
	if address != "" {
		host, _, _ := net.SplitHostPort(address)
		l, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			return fail(host, err)
		}
		return []net.Listener{l}, nil
	}
	for _, b := range strings.Fields(st.cfg.Value("bind")) {
		l, err := conn.ListenBind(b, port)
		if err != nil {
			if conn.BindSkippable(b, err) {
				continue
			}
			return fail(strings.TrimPrefix(b, "-"), err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// listenErrText is the errno text of a listen error, "bind: Address
// already in use" style.
func listenErrText(err error) string {
	var sc *os.SyscallError
	if errors.As(err, &sc) {
		return sc.Syscall + ": " + config.ErrnoText(sc.Err)
	}
	return config.ErrnoText(err)
}

// writePIDFile writes "pidfile", if set; the returned function removes it.
func (st *settings) writePIDFile(log *slog.Logger) func() {
	name := st.cfg.Value("pidfile")
	if name == "" {
		return func() {}
	}
	if err := os.WriteFile(name, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		log.Warn("Failed to write PID file: " + config.ErrnoText(err))
		return func() {}
	}
	return func() { os.Remove(name) }
}

// banner is written under always-show-logo yes; Redis's test harness waits
// for its " PID: <pid>" line.
func banner(w io.Writer, ls []net.Listener, shards int) {
	var b strings.Builder
	b.WriteString("\n    Valkyrie, speaking Redis " + config.RedisVersion + "\n")
	b.WriteString("    Running in standalone mode, " + strconv.Itoa(shards) + " shards\n")
	for _, l := range ls {
		if a, ok := l.Addr().(*net.TCPAddr); ok {
			b.WriteString("    Port: " + strconv.Itoa(a.Port) + "\n")
			break
		}
	}
	b.WriteString("    PID: " + strconv.Itoa(os.Getpid()) + "\n\n")
	io.WriteString(w, b.String())
}

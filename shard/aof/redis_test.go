package aof

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// These tests compare the package with a real redis-server 7.0.15 and skip
// when it is absent. Live servers listen on 127.0.0.1:7411 only.

const redisTestAddr = "127.0.0.1:7411"

func redisBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	return bin
}

type redisProc struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

// startRedis starts redis-server with dir as working directory and log file
// dir/redis.log. With port 0 it does not listen; otherwise it waits until
// the server answers PING or exits.
func startRedis(t *testing.T, bin, dir string, port string, extra ...string) *redisProc {
	t.Helper()
	logPath := filepath.Join(dir, "redis.log")
	os.Remove(logPath)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--logfile", logPath, "--save", "", "--daemonize", "no"}, extra...)
	p := &redisProc{cmd: exec.Command(bin, args...), log: logPath, done: make(chan error, 1)}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop() })
	if port == "0" {
		return p
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.done <- nil
			return p
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			c.Write([]byte("PING\r\n"))
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis-server did not start; log:\n%s", p.logText())
	return nil
}

// exited waits up to 5 s for the process to end by itself.
func (p *redisProc) exited(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(5 * time.Second):
		t.Fatalf("redis-server still running; log:\n%s", p.logText())
	}
}

// stop sends SIGTERM to our own process (by its PID) and waits.
func (p *redisProc) stop() {
	select {
	case err := <-p.done:
		p.done <- err
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		p.done <- <-p.done
	}
}

func (p *redisProc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// TestManifestErrorsAgainstRedis starts redis-server on each bad manifest
// of manifestErrorCases and checks it logs the same message, line number
// and line as ParseManifest reports.
func TestManifestErrorsAgainstRedis(t *testing.T) {
	bin := redisBinary(t)
	for _, c := range manifestErrorCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			aofDir := filepath.Join(dir, "appendonlydir")
			os.Mkdir(aofDir, 0o755)
			os.WriteFile(filepath.Join(aofDir, "appendonly.aof.manifest"), []byte(c.text), 0o644)
			p := startRedis(t, bin, dir, "0", "--appendonly", "yes", "--unixsocket", filepath.Join(dir, "s"))
			p.exited(t)
			log := p.logText()
			_, err := ParseManifest(strings.NewReader(c.text))
			me := err.(*ManifestError)
			if !strings.Contains(log, "*** FATAL AOF MANIFEST FILE ERROR ***") || !strings.Contains(log, " "+me.Msg+"\n") {
				t.Fatalf("redis log lacks %q:\n%s", me.Msg, log)
			}
			if got := strings.Contains(log, "Reading the manifest file, at line "); got != me.HasLine {
				t.Fatalf("line printed %v, want %v:\n%s", got, me.HasLine, log)
			}
			if me.HasLine {
				for _, want := range me.LogLines()[1:3] {
					if !strings.Contains(log, want) {
						t.Fatalf("redis log lacks %q:\n%s", want, log)
					}
				}
			}
		})
	}
}

func waitRewrite(t *testing.T, ctx context.Context, c *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("rewrite did not finish")
}

func loadFile(t *testing.T, path string) ([][]string, Result, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds [][]string
	l := Loader{Apply: func(args [][]byte) error {
		var s []string
		for _, a := range args {
			s = append(s, string(a))
		}
		cmds = append(cmds, s)
		return nil
	}}
	res, err := l.Load(f)
	return cmds, res, err
}

func checkManifestFile(t *testing.T, path string, m *Manifest) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := m.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("redis manifest:\n%q\nours:\n%q", got, want)
	}
	parsed, err := ParseManifest(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b []File) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }
	if !reflect.DeepEqual(parsed.Base, m.Base) || !same(parsed.Incr, m.Incr) || !same(parsed.History, m.History) {
		t.Fatalf("parsed %+v, want %+v", parsed, m)
	}
}

// TestRedisManifestAndIncr runs a real Redis through start-up and two
// rewrites, replays the same steps on a Manifest and checks that the
// manifests are byte-identical, then reads Redis's incr file.
func TestRedisManifestAndIncr(t *testing.T) {
	bin := redisBinary(t)
	dir := t.TempDir()
	const fn = `my "aof".aof` // needs quoting in the manifest
	aofDir := filepath.Join(dir, "appendonlydir")
	manifest := filepath.Join(aofDir, ManifestName(fn))
	p := startRedis(t, bin, dir, "7411", "--appendonly", "yes", "--appendfilename", fn,
		"--aof-disable-auto-gc", "yes", "--aof-use-rdb-preamble", "yes", "--appendfsync", "always")
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: redisTestAddr, Protocol: 2, DisableIndentity: true})
	defer c.Close()

	m := &Manifest{}
	m.NewBase(fn, true) // empty start: a base is created at once
	m.LastIncr(fn)
	checkManifestFile(t, manifest, m)
	base, _ := os.ReadFile(filepath.Join(aofDir, m.Base.Name))
	if !IsRDB(base) {
		t.Fatalf("base %q", base)
	}

	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	m.StartRewrite(fn)
	waitRewrite(t, ctx, c)
	m.FinishRewrite(fn, true, false, true)
	checkManifestFile(t, manifest, m)

	// Without the preamble the next base is a command file.
	c.ConfigSet(ctx, "aof-use-rdb-preamble", "no")
	c.Set(ctx, "b", "2", 0)
	if err := c.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	m.NewIncr(fn)
	waitRewrite(t, ctx, c)
	m.NewBase(fn, false)
	m.MarkIncrHistory(true)
	checkManifestFile(t, manifest, m)
	baseCmds, res, err := loadFile(t, filepath.Join(aofDir, m.Base.Name))
	if err != nil || res.Truncated || len(baseCmds) != 3 || baseCmds[0][0] != "SELECT" {
		t.Fatalf("base: %q %+v %v", baseCmds, res, err)
	}

	// Commands in the incr file, with a transaction and binary data.
	bin2 := "\x00\r\n\xff"
	c.Set(ctx, "k", bin2, 0)
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		p.LPush(ctx, "l", "x", "y")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.Del(ctx, "a")
	last := filepath.Join(aofDir, m.Incr[len(m.Incr)-1].Name)
	cmds, res, err := loadFile(t, last)
	want := [][]string{
		{"SELECT", "0"}, {"set", "k", bin2}, {"MULTI"}, {"incr", "n"}, {"lpush", "l", "x", "y"}, {"EXEC"}, {"del", "a"},
	}
	if err != nil || res.Truncated || !reflect.DeepEqual(cmds, want) {
		t.Fatalf("incr: %q %+v %v", cmds, res, err)
	}
	st, _ := os.Stat(last)
	if res.End != st.Size() || res.ValidUpTo != st.Size() {
		t.Fatalf("%+v size %d", res, st.Size())
	}

	// A manifest we write for the same content is what Redis reads back.
	p.stop()
	os.WriteFile(manifest, m.Append(nil), 0o644)
	p = startRedis(t, bin, dir, "7411", "--appendonly", "yes", "--appendfilename", fn)
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != bin2 {
		t.Fatalf("after restart: %q %v\n%s", v, err, p.logText())
	}
	p.stop()
}

// TestRedisTruncation cuts Redis's incr file in the ways Load tells apart
// and checks that Redis truncates it to the same ValidUpTo, with the log
// lines of this package.
func TestRedisTruncation(t *testing.T) {
	bin := redisBinary(t)
	set := cmd("set", "x", "1")
	cases := []struct {
		name, tail string
		truncate   bool // aof-load-truncated
		logs       func(name string, r Result) []string
		fatal      bool
	}{
		{"cut command", set + "*3\r\n$3\r\nset\r\n$1", true, func(n string, r Result) []string {
			b, a := TruncatedLog(n, r.ValidUpTo)
			return append(b, a)
		}, false},
		{"open multi", set + cmd("multi") + set, true, func(n string, r Result) []string {
			b, a := TruncatedLog(n, r.ValidUpTo)
			return append([]string{MsgRevertMulti(n)}, append(b, a)...)
		}, false},
		{"cut inside multi", cmd("multi") + set + "*1", true, func(n string, r Result) []string {
			b, a := TruncatedLog(n, r.ValidUpTo)
			return append(b, a)
		}, false},
		{"cut, repair off", set + "*2\r\n", false, func(n string, r Result) []string {
			return []string{MsgUnexpectedEOF(n)}
		}, true},
		{"bad format", set + "junk\r\n", true, func(n string, r Result) []string {
			return []string{MsgBadFormat(n)}
		}, true},
		{"unknown command", cmd("bla") + set, true, func(n string, r Result) []string {
			return []string{MsgUnknownCommand("bla", n)}
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			aofDir := filepath.Join(dir, "appendonlydir")
			os.Mkdir(aofDir, 0o755)
			m := &Manifest{}
			m.NewBase("appendonly.aof", false)
			incr := m.NewIncr("appendonly.aof")
			os.WriteFile(filepath.Join(aofDir, ManifestName("appendonly.aof")), m.Append(nil), 0o644)
			os.WriteFile(filepath.Join(aofDir, m.Base.Name), []byte(cmd("set", "base", "1")), 0o644)
			text := cmd("set", "a", "1") + c.tail
			incrPath := filepath.Join(aofDir, incr)
			os.WriteFile(incrPath, []byte(text), 0o644)

			_, res, err := loadFile(t, incrPath)
			yn := "no"
			if c.truncate {
				yn = "yes"
			}
			p := startRedis(t, bin, dir, "7411", "--appendonly", "yes", "--aof-load-truncated", yn)
			if c.fatal {
				p.exited(t)
			}
			log := p.logText()
			for _, want := range c.logs(incr, res) {
				if !strings.Contains(log, want) {
					t.Fatalf("redis log lacks %q:\n%s", want, log)
				}
			}
			if c.name == "bad format" && !errors.Is(err, ErrBadFormat) {
				t.Fatal(err)
			}
			if c.fatal {
				return
			}
			if err != nil || !res.Truncated {
				t.Fatalf("%+v %v", res, err)
			}
			p.stop()
			st, _ := os.Stat(incrPath)
			if st.Size() != res.ValidUpTo {
				t.Fatalf("redis truncated to %d, we say %d", st.Size(), res.ValidUpTo)
			}
		})
	}
}

// A truncated file that is not the last one is fatal even with
// aof-load-truncated yes.
func TestRedisTruncatedNotLast(t *testing.T) {
	bin := redisBinary(t)
	dir := t.TempDir()
	aofDir := filepath.Join(dir, "appendonlydir")
	os.Mkdir(aofDir, 0o755)
	m := &Manifest{}
	m.NewBase("appendonly.aof", false)
	i1 := m.NewIncr("appendonly.aof")
	i2 := m.NewIncr("appendonly.aof")
	os.WriteFile(filepath.Join(aofDir, ManifestName("appendonly.aof")), m.Append(nil), 0o644)
	os.WriteFile(filepath.Join(aofDir, m.Base.Name), []byte(cmd("set", "base", "1")), 0o644)
	os.WriteFile(filepath.Join(aofDir, i1), []byte(cmd("set", "a", "1")+"*2\r\n"), 0o644)
	os.WriteFile(filepath.Join(aofDir, i2), []byte(cmd("set", "b", "1")), 0o644)
	p := startRedis(t, bin, dir, "7411", "--appendonly", "yes", "--aof-load-truncated", "yes")
	p.exited(t)
	if log := p.logText(); !strings.Contains(log, MsgNotLastTruncated) {
		t.Fatalf("log:\n%s", log)
	}
}

// TestRedisReaderQuirks loads odd but accepted (or refused) command files
// in redis-server and checks it agrees with Load: same keys and values
// when Load accepts, and the matching fatal log line when it refuses.
func TestRedisReaderQuirks(t *testing.T) {
	bin := redisBinary(t)
	set := func(k, v string) string { return cmd("set", k, v) }
	cases := []struct {
		name, text string
		log        string // for refused files
	}{
		{"crlf not checked", "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\nbXX" + set("a2", "x"), ""},
		{"length like strtol", "*3\r\n$3\r\nset\r\n$ 1junk\r\nc\r\n$1\r\nd\r\n", ""},
		{"argc like atoi", "*3abc\r\n$3\r\nset\r\n$1\r\ne\r\n$1\r\nf\r\n", ""},
		{"argc wraps", "*4294967299\r\n$3\r\nset\r\n$1\r\ng\r\n$1\r\nh\r\n", ""},
		{"annotations", "#TS:123\r\n" + set("i", "j") + "#x", ""},
		{"empty value", "*3\r\n$3\r\nset\r\n$1\r\nz\r\n$0\r\n\r\n", ""},
		{"transaction", cmd("MULTI") + set("m", "1") + set("n", "2") + cmd("EXEC"), ""},
		{"long annotation", "#" + strings.Repeat("x", 1100) + "\n" + set("a", "b"), MsgBadFormat("appendonly.aof.1.incr.aof")},
		{"nul after star", "*\x00\r\n" + set("a", "b"), MsgUnrecoverable("appendonly.aof.1.incr.aof", "")},
		{"blank line", set("a", "b") + "\r\n", MsgBadFormat("appendonly.aof.1.incr.aof")},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			aofDir := filepath.Join(dir, "appendonlydir")
			os.Mkdir(aofDir, 0o755)
			m := &Manifest{}
			incr := m.NewIncr("appendonly.aof")
			os.WriteFile(filepath.Join(aofDir, ManifestName("appendonly.aof")), m.Append(nil), 0o644)
			os.WriteFile(filepath.Join(aofDir, incr), []byte(c.text), 0o644)
			want := map[string]string{}
			l := Loader{Apply: func(args [][]byte) error {
				if strings.EqualFold(string(args[0]), "set") {
					want[string(args[1])] = string(args[2])
				}
				return nil
			}}
			res, err := l.Load(strings.NewReader(c.text))
			p := startRedis(t, bin, dir, "7411", "--appendonly", "yes", "--aof-load-truncated", "no")
			if c.log != "" {
				if err == nil {
					t.Fatalf("Load accepted it: %+v", res)
				}
				p.exited(t)
				if log := p.logText(); !strings.Contains(log, c.log) {
					t.Fatalf("redis log lacks %q:\n%s", c.log, log)
				}
				return
			}
			if err != nil || res.Truncated {
				t.Fatalf("%+v %v", res, err)
			}
			cl := redis.NewClient(&redis.Options{Addr: redisTestAddr, Protocol: 2, DisableIndentity: true})
			defer cl.Close()
			keys, err := cl.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatalf("%v\n%s", err, p.logText())
			}
			got := map[string]string{}
			for _, k := range keys {
				got[k], _ = cl.Get(ctx, k).Result()
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("redis has %q, we loaded %q", got, want)
			}
		})
	}
}

// TestRedisEnableAtRuntime switches AOF on with CONFIG SET (the temp incr
// file path of a rewrite), then rewrites with AOF off (every incr file
// becomes history).
func TestRedisEnableAtRuntime(t *testing.T) {
	bin := redisBinary(t)
	dir := t.TempDir()
	const fn = "appendonly.aof"
	manifest := filepath.Join(dir, "appendonlydir", ManifestName(fn))
	startRedis(t, bin, dir, "7411", "--appendonly", "no", "--aof-disable-auto-gc", "yes", "--appendfsync", "always")
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: redisTestAddr, Protocol: 2, DisableIndentity: true})
	defer c.Close()
	c.Set(ctx, "a", "1", 0)
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitRewrite(t, ctx, c)
	m := &Manifest{}
	if base, incr := m.FinishRewrite(fn, true, true, true); base != "appendonly.aof.1.base.rdb" || incr != "appendonly.aof.1.incr.aof" {
		t.Fatal(base, incr)
	}
	checkManifestFile(t, manifest, m)

	c.Set(ctx, "b", "1", 0)
	m.StartRewrite(fn)
	c.BgRewriteAOF(ctx)
	waitRewrite(t, ctx, c)
	m.FinishRewrite(fn, true, false, true)
	checkManifestFile(t, manifest, m)

	c.ConfigSet(ctx, "appendonly", "no")
	c.BgRewriteAOF(ctx)
	waitRewrite(t, ctx, c)
	m.FinishRewrite(fn, true, false, false)
	if len(m.Incr) != 0 {
		t.Fatal(m.Incr)
	}
	checkManifestFile(t, manifest, m)
}

package config

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// respErr is an error reply from the server.
type respErr string

// respConn is a minimal RESP2 client, enough for CONFIG and KEYS.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func (rc *respConn) do(t *testing.T, args ...string) any {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		t.Fatalf("write: %v", err)
	}
	v, err := rc.read()
	if err != nil {
		t.Fatalf("read reply to %q: %v", args, err)
	}
	return v
}

func (rc *respConn) read() (any, error) {
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("bad line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respErr(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = rc.read(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}

// startRedis runs a private redis-server on a free loopback port, or skips.
func startRedis(t *testing.T, extra ...string) (*respConn, string, string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	dir := t.TempDir()
	args := append([]string{"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { c.Close() })
	return &respConn{c: c, r: bufio.NewReader(c)}, port, dir
}

// pairs turns a flat CONFIG GET reply into sorted "name=value" strings.
func pairs(t *testing.T, flat any) []string {
	t.Helper()
	arr, ok := flat.([]any)
	if !ok {
		t.Fatalf("CONFIG GET reply is %#v", flat)
	}
	var out []string
	for i := 0; i+1 < len(arr); i += 2 {
		out = append(out, fmt.Sprintf("%s=%q", arr[i], arr[i+1]))
	}
	slices.Sort(out)
	return out
}

func flatPairs(flat []string) []string {
	var out []string
	for i := 0; i+1 < len(flat); i += 2 {
		out = append(out, fmt.Sprintf("%s=%q", flat[i], flat[i+1]))
	}
	slices.Sort(out)
	return out
}

func diffLists(a, b []string) string {
	var d []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			d = append(d, "redis only: "+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			d = append(d, "table only: "+x)
		}
	}
	return strings.Join(d, "\n")
}

var hiddenNames = []string{"use-exit-on-panic", "rdb-key-save-delay", "key-load-delay",
	"watchdog-period", "loading-process-events-interval-bytes", "lua-enable-deprecated-api"}

// compareTables checks every parameter, hidden ones included, of tb against
// the server.
func compareTables(t *testing.T, rc *respConn, tb *Table, when string) {
	t.Helper()
	want := pairs(t, rc.do(t, "CONFIG", "GET", "*"))
	got := flatPairs(tb.Get("*"))
	if d := diffLists(want, got); d != "" {
		t.Fatalf("%s: CONFIG GET * differs:\n%s", when, d)
	}
	want = pairs(t, rc.do(t, append([]string{"CONFIG", "GET"}, hiddenNames...)...))
	got = flatPairs(tb.Get(hiddenNames...))
	if d := diffLists(want, got); d != "" {
		t.Fatalf("%s: hidden parameters differ:\n%s", when, d)
	}
}

// TestLoadAgainstRedis starts a server with command-line options, loads the
// same options into a Table, and then exercises protected configs, which
// the options enable for local clients.
func TestLoadAgainstRedis(t *testing.T) {
	opts := []string{
		"save", "60 1", "save", "30 2", "hz", "1000", "databases", "4",
		"unixsocketperm", "0750", "maxmemory", "1gb", "loglevel", "WARNING",
		"enable-protected-configs", "local", "dbfilename", "x.rdb",
		"notify-keyspace-events", "EKA", "slave-read-only", "no",
		"client-output-buffer-limit", "pubsub 1mb 1mb 0", "io-threads", "2",
		"maxmemory-clients", "5%", "syslog-facility", "LOCAL3",
		"shutdown-on-sigterm", "now nosave", "oom-score-adj-values", "0 100 900",
	}
	var extra []string
	for i := 0; i < len(opts); i += 2 {
		extra = append(extra, "--"+opts[i], opts[i+1])
	}
	rc, port, dir := startRedis(t, extra...)
	tb := New()
	base := []string{"port", port, "bind", "127.0.0.1", "save", "", "appendonly", "no", "dir", dir}
	if err := tb.Load(append(base, opts...)...); err != nil {
		t.Fatal(err)
	}
	compareTables(t, rc, tb, "after startup options")

	sub := filepath.Join(dir, "sub")
	file := filepath.Join(dir, "file")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"dbfilename", "y.rdb"},
		{"dbfilename", "a/b.rdb"},
		{"dbfilename", "a\\b.rdb"},
		{"dir", sub},
		{"dir", ".."},
		{"dir", "sub"},
		{"dir", filepath.Join(dir, "missing")},
		{"dir", file},
		{"dir", ""},
		{"dir", dir, "dbfilename", "dump.rdb"},
		{"daemonize", "no"},
	} {
		want := "OK"
		if r, ok := rc.do(t, append([]string{"CONFIG", "SET"}, args...)...).(respErr); ok {
			want = string(r)
		}
		got := "OK"
		if err := tb.SetFrom(true, args...); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CONFIG SET %q:\n redis: %s\n table: %s", args, want, got)
		}
		compareTables(t, rc, tb, fmt.Sprintf("after CONFIG SET %q", args))
	}
	if err := tb.Set("dbfilename", "z.rdb"); err == nil {
		t.Error("non-local Set of a protected config succeeded with enable-protected-configs local")
	}
}

func TestAgainstRedis(t *testing.T) {
	rc, port, dir := startRedis(t)
	tb := New()
	if err := tb.Load("port", port, "bind", "127.0.0.1", "save", "", "appendonly", "no", "dir", dir); err != nil {
		t.Fatal(err)
	}
	compareAll := func(when string) {
		t.Helper()
		compareTables(t, rc, tb, when)
	}
	compareAll("defaults")

	t.Run("get", func(t *testing.T) {
		for _, pats := range getCases {
			want := pairs(t, rc.do(t, append([]string{"CONFIG", "GET"}, pats...)...))
			got := flatPairs(tb.Get(pats...))
			if d := diffLists(want, got); d != "" {
				t.Errorf("CONFIG GET %q:\n%s", pats, d)
			}
			if n := len(tb.Get(pats...)) / 2; n != len(want) {
				t.Errorf("CONFIG GET %q: %d names, redis %d", pats, n, len(want))
			}
		}
	})

	t.Run("set", func(t *testing.T) {
		for _, args := range setCases {
			want := "OK"
			switch r := rc.do(t, append([]string{"CONFIG", "SET"}, args...)...).(type) {
			case respErr:
				want = string(r)
			case string:
				want = r
			default:
				t.Fatalf("CONFIG SET %q: reply %#v", args, r)
			}
			got := "OK"
			if err := tb.Set(args...); err != nil {
				got = err.Error()
			}
			if got != want {
				t.Errorf("CONFIG SET %q:\n redis: %s\n table: %s", args, want, got)
			}
			compareAll(fmt.Sprintf("after CONFIG SET %q", args))
		}
	})
}

// TestRandomAgainstRedis sends pseudo-random (fixed seed) CONFIG SET calls
// built from tricky fragments to the server and a Table. Parameters whose
// changes act on the process (ports, binding, AOF, TLS, client limits,
// oom_score_adj, password, watchdog) are left out.
func TestRandomAgainstRedis(t *testing.T) {
	rc, port, dir := startRedis(t)
	tb := New()
	if err := tb.Load("port", port, "bind", "127.0.0.1", "save", "", "appendonly", "no", "dir", dir); err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{"port": true, "tls-port": true, "bind": true, "appendonly": true,
		"maxclients": true, "oom-score-adj": true, "requirepass": true, "watchdog-period": true,
		"tls-cluster": true, "tls-replication": true}
	var names []string
	for _, n := range append(slices.Clone(allNames), hiddenNames...) {
		if !skip[n] {
			names = append(names, n)
		}
	}
	atoms := []string{"0", "1", "-1", "7", "010", "+5", "-0", "abc", "", " ", "yes", "no", "YES",
		"k", "kb", "mb", "GB", "g", "m", "b", "%", "5%", "100%", "101%", "-3%", "2147483647",
		"2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
		"9223372036854775807", "9223372036854775808", "18446744073709551615",
		"18446744073709551616", "99999999999999999999999", "0777", "1000", "8", "1e3", "0x1f",
		"1.5", ".5", "inf", "nan", "normal", "slave", "replica", "pubsub", "master", "now", "save",
		"nosave", "force", "default", "local", "relative", "absolute", "A", "K", "E", "x", "g$",
		"\x00", "{title}", "{port}", "-", "ip", "hostname", "notice", "allkeys-lru", "everysec",
		"disabled", "swapdb", "clients", "3600", "60 1"}
	r := rand.New(rand.NewSource(1))
	value := func() string {
		var b strings.Builder
		for i := range 1 + r.Intn(4) {
			if i > 0 && r.Intn(3) > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(atoms[r.Intn(len(atoms))])
		}
		return b.String()
	}
	for range 3000 {
		var args []string
		for range 1 + r.Intn(2) {
			args = append(args, names[r.Intn(len(names))], value())
		}
		want := "OK"
		if e, ok := rc.do(t, append([]string{"CONFIG", "SET"}, args...)...).(respErr); ok {
			want = string(e)
		}
		got := "OK"
		if err := tb.Set(args...); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CONFIG SET %q:\n redis: %s\n table: %s", args, want, got)
		}
		compareTables(t, rc, tb, fmt.Sprintf("after CONFIG SET %q", args))
	}
}

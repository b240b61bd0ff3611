package config

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
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
func startRedis(t *testing.T) (*respConn, string, string) {
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
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
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

func TestAgainstRedis(t *testing.T) {
	rc, port, dir := startRedis(t)
	tb := New()
	if err := tb.Load("port", port, "bind", "127.0.0.1", "save", "", "appendonly", "no", "dir", dir); err != nil {
		t.Fatal(err)
	}
	compareAll := func(when string) {
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
	compareAll("defaults")

	t.Run("glob", func(t *testing.T) {
		for _, k := range globKeys {
			rc.do(t, "SET", k, "1")
		}
		for _, tc := range globCases {
			reply, ok := rc.do(t, "KEYS", tc.pattern).([]any)
			if !ok {
				t.Fatalf("KEYS %q: %#v", tc.pattern, reply)
			}
			var want, got []string
			for _, k := range reply {
				want = append(want, k.(string))
			}
			for _, k := range globKeys {
				if Match(tc.pattern, k, false) {
					got = append(got, k)
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Errorf("KEYS %q: redis %q, Match %q", tc.pattern, want, got)
			}
		}
		rc.do(t, "FLUSHALL")
	})

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

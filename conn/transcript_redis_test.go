package conn

// Connections for transcript tests, and a private redis-server to record
// transcripts from and compare against.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	trTimeout = 5 * time.Second        // bound on every read and write
	trQuiet   = 100 * time.Millisecond // -update: no reply within this means no more replies
	trSettle  = 50 * time.Millisecond  // end of file: how long to wait for stray bytes
)

// trConn is a raw client connection.
type trConn struct {
	nc net.Conn
	br *bufio.Reader
}

func trDial(addr string) (*trConn, error) {
	nc, err := net.DialTimeout("tcp", addr, trTimeout)
	if err != nil {
		return nil, err
	}
	return &trConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}, nil
}

func (c *trConn) close() { c.nc.Close() }

func (c *trConn) send(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(trTimeout))
	_, err := c.nc.Write(b)
	return err
}

// next reads one reply, or notices the server closing, within trTimeout.
func (c *trConn) next() trEvent {
	c.nc.SetReadDeadline(time.Now().Add(trTimeout))
	return c.read()
}

func (c *trConn) read() trEvent {
	if _, err := c.br.Peek(1); err != nil {
		if trIsClosed(err) {
			return trEvent{closed: true}
		}
		return trEvent{err: err}
	}
	b, err := trReadReply(c.br, nil, 0)
	return trEvent{reply: b, err: err}
}

// poll waits up to quiet for a reply to begin; ok is false if none did.
func (c *trConn) poll(quiet time.Duration) (ev trEvent, ok bool) {
	c.nc.SetReadDeadline(time.Now().Add(quiet))
	if _, err := c.br.Peek(1); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return trEvent{}, false
		}
	}
	c.nc.SetReadDeadline(time.Now().Add(trTimeout))
	return c.read(), true
}

// trIsClosed reports whether a read error means the peer closed.
func trIsClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// trOpen is a connection left open by a case, checked at the end of the
// file for bytes nobody expected.
type trOpen struct {
	label string // "case name" or "redis-server case name"
	c     *trConn
}

// trCheckSilent fails if any connection holds or receives unexpected bytes
// (or gets closed) within trSettle, then closes them all.
func trCheckSilent(t *testing.T, open []trOpen) {
	t.Helper()
	if len(open) == 0 {
		return
	}
	// Wait once for stray bytes to arrive, then look at each connection
	// with a deadline still in the future: a read whose deadline has
	// passed fails at once without even looking at the socket.
	time.Sleep(trSettle)
	for _, o := range open {
		o.c.nc.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		_, err := o.c.br.Peek(1)
		switch n := o.c.br.Buffered(); {
		case n > 0:
			extra, _ := o.c.br.Peek(n)
			t.Errorf("%s: unexpected bytes after the last expected reply: %q", o.label, extra)
		case err != nil && trIsClosed(err):
			t.Errorf("%s: the server closed the connection, which the transcript does not expect", o.label)
		}
		o.c.close()
	}
}

// trCommand sends one command and returns its reply.
func trCommand(addr string, args ...string) ([]byte, error) {
	c, err := trDial(addr)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var bs [][]byte
	for _, a := range args {
		bs = append(bs, []byte(a))
	}
	if err := c.send(trMultibulk(bs)); err != nil {
		return nil, err
	}
	ev := c.next()
	if ev.err != nil || ev.closed {
		return nil, fmt.Errorf("%s: %v", strings.Join(args, " "), ev)
	}
	return ev.reply, nil
}

// trFlushAll empties the server at addr.
func trFlushAll(t *testing.T, addr string) {
	t.Helper()
	got, err := trCommand(addr, "FLUSHALL")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "+OK\r\n" {
		t.Fatalf("FLUSHALL replied %q", got)
	}
}

// trRedisBinary returns the path of redis-server, or "" when it is absent.
func trRedisBinary() string {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return ""
	}
	return bin
}

// trRedisVersion returns the first line of redis-server --version.
func trRedisVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// trLockedBuffer collects a child's output; it may be read while the
// child still writes.
type trLockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *trLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *trLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// trStartRedis starts a fresh redis-server on a free loopback port and
// returns its address; the process is killed when the test ends. extra
// arguments are appended to its command line.
func trStartRedis(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := trTryRedis(t, bin, extra...)
		if err == nil {
			return addr
		}
		lastErr = err
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return ""
}

// trTryRedis makes one attempt at trStartRedis. The port is free when
// picked but may be taken by someone else before redis-server binds it,
// so the server that answers must report our child's process id.
func trTryRedis(t *testing.T, bin string, extra ...string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	addr := "127.0.0.1:" + port
	dir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--dir", dir}, extra...)...)
	cmd.Dir = dir
	trChildAttr(cmd)
	out := &trLockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	want := "process_id:" + strconv.Itoa(cmd.Process.Pid) + "\r\n"
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return "", fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		info, err := trCommand(addr, "INFO", "server")
		if err == nil {
			if !bytes.Contains(info, []byte(want)) {
				stop()
				return "", fmt.Errorf("port %s is answered by another server", port)
			}
			t.Cleanup(stop)
			return addr, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return "", fmt.Errorf("no answer on %s within 10s: %s", addr, out.String())
}

package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run main in a child process: the test binary, run again
// with mainChildEnv set, so no build step is needed.

const (
	mainChildEnv = "VALKYRIE_TEST_MAIN_CHILD" // space-separated arguments
	hangEnv      = "VALKYRIE_TEST_HANG_SHUTDOWN"
)

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(mainChildEnv); ok {
		if os.Getenv(hangEnv) != "" {
			beforeShutdown = func() { select {} } // a shutdown that never ends
		}
		os.Args = append([]string{"valkyrie"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is a running valkyrie process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed once Wait returned
	mu     sync.Mutex
	logs   []string // msg of each log line
}

// logged reports whether the child logged msg, and returns every message
// logged so far.
func (c *child) logged(msg string) (bool, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.logs, msg), slices.Clone(c.logs)
}

// startChild starts valkyrie on a free loopback port. It is killed by PID
// when the test ends, and by the kernel if the test process dies first.
// extra flags are added to its command line.
func startChild(t *testing.T, hang bool, extra ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainChildEnv+"=--address 127.0.0.1:0 --log-format json --shards 4 --no-clamp "+strings.Join(extra, " "))
	if hang {
		cmd.Env = append(cmd.Env, hangEnv+"=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Dir = t.TempDir()           // its RDB file, saved at shutdown, goes there
	stdout, err := cmd.StdoutPipe() // the log goes to stdout, as Redis's does
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var addr string
		for sc.Scan() {
			var rec struct{ Msg, Address string }
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			c.mu.Lock()
			c.logs = append(c.logs, rec.Msg)
			c.mu.Unlock()
			switch rec.Msg {
			case "valkyrie ready":
				addr = rec.Address
			case "Ready to accept connections": // the RDB file is loaded: no -LOADING
				ready <- addr
			}
		}
		cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.exited
	})
	select {
	case c.addr = <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("valkyrie did not start")
	}
	return c
}

// waitExit waits at most d for the child to exit and returns its code.
func (c *child) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		_, logs := c.logged("")
		t.Fatalf("valkyrie did not exit within %v (log: %q)", d, logs)
	}
	return 0
}

func resp(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// call sends one command on a new connection and returns the first line
// of the reply.
func call(t *testing.T, addr string, args ...string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(resp(args...))
	line, _ := bufio.NewReader(nc).ReadString('\n')
	return strings.TrimRight(line, "\r\n")
}

// startEndlessScript runs a script that writes, so SCRIPT KILL refuses it,
// and then loops forever; it returns once the script has written. It polls
// with FUNCTION KILL, which never kills an EVAL script (SCRIPT KILL would,
// if it came before the write).
func startEndlessScript(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	// KILL (here the probe) reaches only a script past the threshold.
	if r := call(t, addr, "CONFIG", "SET", "busy-reply-threshold", "10"); r != "+OK" {
		t.Fatal(r)
	}
	nc.Write(resp("EVAL", "redis.call('set', KEYS[1], 'v') while true do end", "1", "k"))
	for deadline := time.Now().Add(5 * time.Second); ; {
		r := call(t, addr, "FUNCTION", "KILL")
		if strings.HasPrefix(r, "-UNKILLABLE") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script did not start: FUNCTION KILL = %q", r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSIGTERMDuringEndlessScript: SIGTERM while a script loops forever used
// to wait for it forever; now the shutdown cancels it and the process
// exits cleanly at once.
func TestSIGTERMDuringEndlessScript(t *testing.T) {
	c := startChild(t, false)
	startEndlessScript(t, c.addr)
	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestShutdownNosaveDuringEndlessScript: SHUTDOWN NOSAVE stops the process
// while an unkillable script runs, as Redis allows.
func TestShutdownNosaveDuringEndlessScript(t *testing.T) {
	c := startChild(t, false)
	startEndlessScript(t, c.addr)
	call(t, c.addr, "SHUTDOWN", "NOSAVE")
	if code := c.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestSecondSignalForcesExit: signal.NotifyContext stopped listening after
// the first signal, so a second SIGTERM during a hung shutdown was
// swallowed. Now it makes the process exit at once with status 1.
func TestSecondSignalForcesExit(t *testing.T) {
	c := startChild(t, true)
	c.cmd.Process.Signal(syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ok, _ := c.logged("signal received, shutting down"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first SIGTERM was not logged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-c.exited:
		t.Fatal("exited on the first signal although the shutdown hangs")
	case <-time.After(100 * time.Millisecond):
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.waitExit(t, 3*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if ok, logs := c.logged("second signal: exiting without finishing the shutdown"); !ok {
		t.Fatalf("no log of the forced exit: %q", logs)
	}
}

// TestSIGTERMWithFailingSaveStaysUp: as Redis, a server whose final save
// fails keeps running rather than lose its data; a second signal exits.
func TestSIGTERMWithFailingSaveStaysUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, false, "--dir", dir, "--save", "3600", "1")
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("SET k v\r\n"))
	buf := make([]byte, 64)
	conn.Read(buf)
	if err := os.RemoveAll(dir); err != nil { // the save cannot create its file
		t.Fatal(err)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ok, _ := c.logged("Errors trying to shut down the server: the save failed; still running (signal again to exit without saving)"); ok {
			break
		}
		if time.Now().After(deadline) {
			_, logs := c.logged("")
			t.Fatalf("no refusal logged: %q", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	conn.Write([]byte("PING\r\n"))
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("PING after the refused shutdown: %q %v", buf[:n], err)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.waitExit(t, 3*time.Second); code != 1 {
		t.Fatalf("exit code %d after the second signal, want 1", code)
	}
}

package conn

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// The tests below run a server in a child process (this test binary, run
// again) whose open-file limit is 64, so that a client can exhaust it.

const fdChildEnv = "VALKYRIE_FDLIMIT_CHILD"

// TestFDLimitChild is the child's side; it does nothing in a normal run.
// Mode "cap": the limit is lowered before the server starts, which must
// cap maxclients. Mode "emfile": it is lowered after, so accept fails with
// EMFILE, which must not stop the server.
func TestFDLimitChild(t *testing.T) {
	mode := os.Getenv(fdChildEnv)
	if mode == "" {
		t.Skip("child process of TestFDLimit*")
	}
	go func() { // the parent closes stdin (or dies): exit
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.New()
	cfg.Load("maxclients", "100")
	if mode == "cap" {
		if err := setNofile(64, 64); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(Options{Shards: 2, Config: cfg})
	if mode == "emfile" {
		if err := setNofile(64, 64); err != nil {
			t.Fatal(err)
		}
	}
	os.Stdout.WriteString("ADDR " + l.Addr().String() + "\n")
	err = srv.Serve(l)
	os.Stdout.WriteString("SERVE RETURNED " + err.Error() + "\n")
	os.Exit(3) // as cmd/valkyrie exits when Serve fails
}

// startFDChild starts the child in mode and returns its address. The
// child is killed by PID when the test ends, and by the kernel if the test
// process dies first.
func startFDChild(t *testing.T, mode string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDLimitChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("the child server did not start")
	}
	return ""
}

// ping sends PING on nc and returns the reply line ("" on a timeout).
func ping(nc net.Conn, rd *bufio.Reader, wait time.Duration) (string, error) {
	nc.SetDeadline(time.Now().Add(wait))
	if _, err := nc.Write(respCommand("PING")); err != nil {
		return "", err
	}
	line, err := rd.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// TestFDLimitCapsMaxClients: with an open-file limit of 64 and maxclients
// 100, the server starts with maxclients 32 (64 less the 32 Redis keeps in
// reserve), refuses the clients past it with Redis's error, keeps serving,
// and CONFIG SET maxclients above the cap fails as in Redis.
func TestFDLimitCapsMaxClients(t *testing.T) {
	addr := startFDChild(t, "cap")
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1})
	defer admin.Close()
	got, err := admin.ConfigGet(ctx, "maxclients").Result()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := strconv.Atoi(got["maxclients"])
	// A process allowed to raise its hard limit gets 132 files and keeps
	// maxclients 100, as Redis would.
	if m != 32 && m != 100 {
		t.Fatalf("maxclients = %d, want 32 (or 100 with CAP_SYS_RESOURCE)", m)
	}

	var held []net.Conn
	defer func() {
		for _, nc := range held {
			nc.Close()
		}
	}()
	accepted, refused := 1, 0 // admin is one client
	for range m + 10 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ping(nc, bufio.NewReader(nc), 5*time.Second)
		switch r {
		case "+PONG":
			accepted++
			held = append(held, nc)
		case "-ERR max number of clients reached":
			refused++
			nc.Close()
		default:
			nc.Close()
			t.Fatalf("client %d: reply %q, %v", accepted+refused, r, err)
		}
	}
	if accepted != m || refused != 11 {
		t.Fatalf("accepted %d, refused %d; want %d and 11", accepted, refused, m)
	}
	if r, err := admin.Ping(ctx).Result(); r != "PONG" {
		t.Fatalf("the server stopped answering: %q %v", r, err)
	}
	if m == 32 {
		err := admin.ConfigSet(ctx, "maxclients", "1000").Err()
		want := "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 32"
		if err == nil || err.Error() != want {
			t.Fatalf("CONFIG SET maxclients 1000 = %v, want %q", err, want)
		}
		if got, _ := admin.ConfigGet(ctx, "maxclients").Result(); got["maxclients"] != "32" {
			t.Fatalf("maxclients after the failed SET = %q", got["maxclients"])
		}
		if err := admin.ConfigSet(ctx, "maxclients", "20").Err(); err != nil {
			t.Fatalf("CONFIG SET maxclients 20: %v", err)
		}
	}
	for _, nc := range held {
		nc.Close()
	}
	held = nil
	// The server notices the closes shortly; until then it may still be full.
	for deadline := time.Now().Add(5 * time.Second); ; {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ping(nc, bufio.NewReader(nc), 5*time.Second)
		nc.Close()
		if r == "+PONG" {
			break
		}
		if r != "-ERR max number of clients reached" || time.Now().After(deadline) {
			t.Fatalf("a new client after the others left: %q %v", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFDLimitAcceptEMFILE: when the process runs out of descriptors
// before maxclients, accept fails with EMFILE. That used to stop the server
// (Serve returned and the process exited); now it keeps serving, and the
// waiting clients are accepted once descriptors are free again.
func TestFDLimitAcceptEMFILE(t *testing.T) {
	addr := startFDChild(t, "emfile")
	type conn struct {
		nc net.Conn
		rd *bufio.Reader
	}
	var held, waiting []conn
	defer func() {
		for _, c := range append(held, waiting...) {
			c.nc.Close()
		}
	}()
	for len(held) < 100 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := conn{nc, bufio.NewReader(nc)}
		r, err := ping(nc, c.rd, 500*time.Millisecond)
		if r == "+PONG" {
			held = append(held, c)
			continue
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("client %d: %q %v", len(held), r, err)
		}
		waiting = append(waiting, c) // in the listen backlog: EMFILE
		break
	}
	if len(waiting) == 0 {
		t.Fatal("100 clients and no EMFILE: the child's limit did not apply")
	}
	if len(held) == 0 {
		t.Fatal("not even the first client was answered")
	}
	t.Logf("%d clients accepted before EMFILE", len(held))
	time.Sleep(50 * time.Millisecond) // a few more failed accepts
	c := held[0]
	if r, err := ping(c.nc, c.rd, 5*time.Second); r != "+PONG" {
		t.Fatalf("the server stopped after EMFILE: %q %v", r, err)
	}
	for _, c := range held[1:11] {
		c.nc.Close()
	}
	held = append(held[:1], held[11:]...)
	w := waiting[0]
	w.nc.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := w.rd.ReadString('\n')
	if line != "+PONG\r\n" {
		t.Fatalf("the client that waited in the backlog: %q %v", line, err)
	}
}

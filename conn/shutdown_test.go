package conn

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// respCommand encodes args as a RESP array.
func respCommand(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// rawCall sends one command on a fresh connection and returns the first
// reply line.
func rawCall(t *testing.T, addr string, args ...string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(respCommand(args...)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		return "read error: " + err.Error()
	}
	return strings.TrimRight(line, "\r\n")
}

// serveUnmanaged runs a server whose shutdown the test drives itself; the
// cleanup only makes sure it is stopped.
func serveUnmanaged(t *testing.T, shards int) (*Server, string, <-chan error) {
	t.Helper()
	srv, addr, done := listenAndServe(t, shards)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, addr, done
}

// startEndlessScript starts a script that writes (so SCRIPT KILL refuses
// it) and then loops forever, and waits until it has written. It polls
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
	if r := rawCall(t, addr, "CONFIG", "SET", "busy-reply-threshold", "10"); r != "+OK" {
		t.Fatal(r)
	}
	if _, err := nc.Write(respCommand("EVAL", "redis.call('set', KEYS[1], 'v') while true do end", "1", "k")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := rawCall(t, addr, "FUNCTION", "KILL")
		if strings.HasPrefix(r, "-UNKILLABLE") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script did not start: FUNCTION KILL = %q", r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShutdownDuringEndlessScript: Shutdown used to wait for the script
// forever (its connection never finished, and stopping its shard waited for
// the loan). Now it cancels scripts, even unkillable ones, and returns at
// once with every connection drained.
func TestShutdownDuringEndlessScript(t *testing.T) {
	srv, addr, served := serveUnmanaged(t, 8)
	startEndlessScript(t, addr)

	ret := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ret <- srv.Shutdown(ctx)
	}()
	select {
	case err := <-ret:
		if err != nil {
			t.Fatalf("Shutdown = %v; the script's connection should have finished", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hangs while a script runs")
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
}

// TestShutdownWithLentShard: a shard that is never given back must not
// hold Shutdown beyond its context.
func TestShutdownWithLentShard(t *testing.T) {
	srv, _, _ := serveUnmanaged(t, 8)
	loan := shard.NewLoan()
	if _, err := srv.workers[3].Borrow(loan); err != nil {
		t.Fatal(err)
	}
	defer loan.Return()
	ret := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		ret <- srv.Shutdown(ctx)
	}()
	select {
	case <-ret:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hangs on a lent shard")
	}
	select {
	case <-srv.workers[3].Done():
	default:
		t.Fatal("the lent shard's worker did not stop")
	}
}

// TestShutdownNosaveDuringBusyScript: as in Redis, a script past
// busy-reply-threshold turns plain SHUTDOWN away with BUSY, and SHUTDOWN
// NOSAVE stops the server all the same.
func TestShutdownNosaveDuringBusyScript(t *testing.T) {
	srv, addr, _ := serveUnmanaged(t, 8)
	if r := rawCall(t, addr, "CONFIG", "SET", "busy-reply-threshold", "0"); r != "+OK" {
		t.Fatal(r)
	}
	startEndlessScript(t, addr)
	if r := rawCall(t, addr, "SHUTDOWN"); r != "-"+script.BusyEval {
		t.Fatalf("SHUTDOWN during a slow script = %q, want %q", r, "-"+script.BusyEval)
	}
	if r := rawCall(t, addr, "SHUTDOWN", "SAVE"); r != "-"+script.BusyEval {
		t.Fatalf("SHUTDOWN SAVE during a slow script = %q", r)
	}
	rawCall(t, addr, "SHUTDOWN", "NOSAVE") // no reply: the connection closes
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SHUTDOWN NOSAVE did not stop the server during a script")
	}
}

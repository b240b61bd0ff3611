package conn

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first n accepts as a process out of descriptors
// does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestServeRetriesAcceptErrors: an accept error (EMFILE here) used to make
// Serve return, and the process exit; now Serve waits and retries.
func TestServeRetriesAcceptErrors(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &flakyListener{Listener: inner}
	l.fails.Store(4)
	srv := New(Options{Shards: 2})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		select {
		case err := <-served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve after Shutdown = %v", err)
			}
		case <-time.After(5 * time.Second): // it returned earlier: see below
		}
	}()
	if r := rawCall(t, inner.Addr().String(), "PING"); r != "+PONG" {
		select {
		case err := <-served:
			t.Fatalf("Serve returned %v on an accept error", err)
		default:
		}
		t.Fatalf("PING = %q", r)
	}
	if n := l.fails.Load(); n >= 0 {
		t.Fatalf("the listener still has %d failures to return", n+1)
	}
}

// TestServeReturnsWhenListenerClosed: a listener closed by its owner is
// not retried forever.
func TestServeReturnsWhenListenerClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 1})
	defer srv.Shutdown(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	select {
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept retrying a closed listener")
	}
}

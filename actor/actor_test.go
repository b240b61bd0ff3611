package actor

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestMessagesRunInOrderOnOneGoroutine(t *testing.T) {
	var got []int // touched only by the actor's goroutine
	done := make(chan []int, 1)
	a := Start(Options{Mailbox: 4}, func(m int) {
		if m < 0 {
			done <- got
			return
		}
		got = append(got, m)
	})
	defer a.Stop()
	for i := 0; i < 100; i++ {
		if err := a.Send(i); err != nil {
			t.Fatal(err)
		}
	}
	a.Send(-1)
	seq := <-done
	for i, v := range seq {
		if v != i {
			t.Fatalf("message %d arrived as %d", i, v)
		}
	}
	if len(seq) != 100 {
		t.Fatalf("handled %d messages, want 100", len(seq))
	}
}

func TestSendAfterStopReturnsErrStopped(t *testing.T) {
	a := Start(Options{Mailbox: 1}, func(int) {})
	a.Stop()
	a.Stop() // idempotent
	if err := a.Send(1); !errors.Is(err, ErrStopped) {
		t.Fatalf("Send after Stop = %v, want ErrStopped", err)
	}
	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func TestBlockedSendIsReleasedByStop(t *testing.T) {
	block := make(chan struct{})
	a := Start(Options{Mailbox: 1}, func(int) { <-block })
	a.Send(1) // taken by the handler, which blocks
	a.Send(2) // fills the mailbox
	errc := make(chan error, 1)
	go func() { errc <- a.Send(3) }() // must block: mailbox full
	select {
	case err := <-errc:
		t.Fatalf("Send on a full mailbox returned early: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	stopped := make(chan struct{})
	go func() { a.Stop(); close(stopped) }()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("blocked Send = %v, want ErrStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked Send hung after Stop")
	}
	close(block)
	<-stopped
}

func TestTickIsDeliveredOnTheActor(t *testing.T) {
	var ticks atomic.Int32
	a := Start(Options{Mailbox: 1, Tick: time.Millisecond, OnTick: func() { ticks.Add(1) }}, func(int) {})
	defer a.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for ticks.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d ticks in 5s at a 1ms period", ticks.Load())
		}
		time.Sleep(time.Millisecond)
	}
	a.SetTick(time.Hour)
	time.Sleep(20 * time.Millisecond) // let an in-flight tick land
	n := ticks.Load()
	time.Sleep(50 * time.Millisecond)
	if ticks.Load() > n+1 {
		t.Fatalf("ticks continued at the old period after SetTick: %d -> %d", n, ticks.Load())
	}
}

func TestPending(t *testing.T) {
	block := make(chan struct{})
	a := Start(Options{Mailbox: 8}, func(int) { <-block })
	a.Send(0)
	for i := 1; i <= 3; i++ {
		a.Send(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Pending() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Pending = %d, want 3", a.Pending())
		}
		time.Sleep(time.Millisecond)
	}
	close(block)
	a.Stop()
}

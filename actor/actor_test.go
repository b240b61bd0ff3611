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

// Ticks that fall while the handler is busy must not fill the mailbox with
// wake-ups: they would take the room of real messages (a TrySend fails, a
// Send blocks) and show as pending messages.
func TestTicksWhileBusyKeepTheMailboxFree(t *testing.T) {
	block := make(chan struct{})
	var ticks atomic.Int32
	a := Start(Options{Mailbox: 8, Tick: time.Millisecond, OnTick: func() { ticks.Add(1) }}, func(m int) {
		if m == 0 {
			<-block
		}
	})
	defer a.Stop()
	released := false
	release := func() {
		if !released {
			released = true
			close(block)
		}
	}
	defer release() // before Stop, which waits for the handler
	if err := a.Send(0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // some 50 ticks while the handler is busy
	if p := a.Pending(); p > 1 {
		t.Errorf("Pending = %d with no message waiting", p)
	}
	for i := 1; i <= 6; i++ {
		if !a.TrySend(i) {
			t.Fatalf("TrySend %d failed: the mailbox of 8 holds only wake-ups", i)
		}
	}
	release()
	deadline := time.Now().Add(5 * time.Second)
	for n := ticks.Load(); ticks.Load() == n; {
		if time.Now().After(deadline) {
			t.Fatal("no tick after the handler returned")
		}
		time.Sleep(time.Millisecond)
	}
}

// An unbuffered mailbox has no room for a wake-up: Stop must still end a
// loop that was on its way to the receive.
func TestStopWithoutMailboxRoom(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20000 {
			a := Start(Options{}, func(int) {})
			go a.Send(1)
			a.Stop()
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop hung on an actor with Mailbox 0")
	}
}

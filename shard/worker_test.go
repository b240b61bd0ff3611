package shard

import (
	"errors"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/actor"
)

// TestStopWhileLent: Stop must not wait for a borrower that never gives the
// shard back (a script that runs forever); afterwards the worker lends no
// more, runs no batch, and a late Return does not block.
func TestStopWhileLent(t *testing.T) {
	w := Start(New(0), WorkerOptions{Tick: time.Millisecond})
	l := NewLoan()
	if _, err := w.Borrow(l); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		w.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hung on a lent shard")
	}
	if _, err := w.Borrow(NewLoan()); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Borrow after Stop: %v, want ErrStopped", err)
	}
	done := make(chan struct{})
	go func() {
		l.Return()
		l.Return() // a second, stray return must not block either
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Return blocked after Stop")
	}
}

// TestLoanReturnedNormally: the ordinary path still hands the shard back and
// lends it again.
func TestLoanReturnedNormally(t *testing.T) {
	w := Start(New(0), WorkerOptions{})
	defer w.Stop()
	l := NewLoan()
	for range 3 {
		s, err := w.Borrow(l)
		if err != nil || s == nil {
			t.Fatalf("Borrow: %v", err)
		}
		l.Return()
	}
}

// A borrower that gave up (BorrowWithin) leaves its request in the
// mailbox; the worker skips it or, if the same Loan waits again, grants
// that wait. Either way each wait gets the shard exactly once, and the
// worker is never parked on a loan nobody holds.
func TestBorrowWithinGiveUpThenReuse(t *testing.T) {
	w := Start(New(0), WorkerOptions{})
	defer w.Stop()
	holder, l := NewLoan(), NewLoan()
	if _, err := w.Borrow(holder); err != nil {
		t.Fatal(err)
	}
	if s, err := w.BorrowWithin(l, 10*time.Millisecond); err != nil || s != nil {
		t.Fatalf("BorrowWithin while lent = %v, %v; want a give-up", s, err)
	}
	holder.Return()
	for range 3 { // the stale request and fresh ones, in any order
		s, err := w.Borrow(l)
		if err != nil || s == nil {
			t.Fatalf("Borrow after a give-up: %v", err)
		}
		l.Return()
	}
	// The worker still serves batches: it is not parked on a stale loan.
	done := make(chan *Batch, 1)
	b := &Batch{}
	if err := w.Submit(b, done); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the worker is stuck after a stale loan")
	}
	if s, err := w.BorrowWithin(l, time.Second); err != nil || s == nil {
		t.Fatalf("BorrowWithin of a free shard = %v, %v", s, err)
	}
	l.Return()
}

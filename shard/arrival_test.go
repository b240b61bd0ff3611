package shard

import (
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// execStamped runs one command on the worker as a connection would, with
// the arrival time stamp, and returns its reply.
func execStamped(t *testing.T, w *Worker, stamp int64, wt *Waiter, args ...string) string {
	t.Helper()
	b := &Batch{Proto: wire.RESP2, NumShards: 1, Stamp: stamp,
		Calls: []Call{{Cmd: Lookup(args[0]), Args: bargs(args...), Waiter: wt}}}
	answer := make(chan *Batch, 1)
	if err := w.Submit(b, answer); err != nil {
		t.Fatal(err)
	}
	return string((<-answer).Reply(0))
}

// A push that reaches the shard before blocking pops that arrived earlier
// (their goroutines ran late) must not go to whichever pop runs first: the
// pops queue in arrival order and the key is held until they have had time
// to come in, then served, as Redis would have served them. One that
// arrived after the data pops at once.
func TestLateBlockingPopsServedInArrivalOrder(t *testing.T) {
	for _, tc := range []struct {
		name, push, pop string
		key             string
	}{
		{"list", "rpush", "blpop", "q"},
		{"zset", "zadd", "bzpopmin", "z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Start(New(0), WorkerOptions{Tick: time.Hour}) // no tick: the hold's own wake-up must serve
			defer w.Stop()
			waiter := func(since int64) *Waiter {
				cmd := Lookup(tc.pop)
				wt := cmd.NewWaiter(bargs(tc.pop, tc.key, "0"))
				wt.Proto, wt.Since = wire.RESP2, since
				return wt
			}
			base := time.Now().UnixNano()
			pushArgs := []string{tc.push, tc.key, "a"}
			if tc.push == "zadd" {
				pushArgs = []string{"zadd", tc.key, "1", "a"}
			}
			if got := execStamped(t, w, base+300, nil, pushArgs...); got != ":1\r\n" {
				t.Fatalf("push: %q", got)
			}
			second, first := waiter(base+200), waiter(base+100)
			for _, wt := range []*Waiter{second, first} { // reach the shard out of order
				if got := execStamped(t, w, wt.Since, wt, tc.pop, tc.key, "0"); got != "" {
					t.Fatalf("a pop that arrived before the push replied at once: %q", got)
				}
				if !wt.Registered {
					t.Fatal("the pop did not queue")
				}
			}
			select {
			case wk := <-first.Woken:
				if len(wk.Reply) == 0 || !strings.Contains(string(wk.Reply), "a") {
					t.Fatalf("first pop got %q", wk.Reply)
				}
			case <-second.Woken:
				t.Fatal("the pop that arrived second was served first")
			case <-time.After(time.Second):
				t.Fatal("the held key was never served")
			}
			if since := time.Since(time.Unix(0, base)); since < holdFor {
				t.Fatalf("served %v after the push arrived, before the hold (%v) ended", since, holdFor)
			}
			select {
			case wk := <-second.Woken:
				t.Fatalf("second pop served with nothing left: %q", wk.Reply)
			default:
			}
			// A push now serves the queued pop at once: it waited long.
			execStamped(t, w, time.Now().UnixNano(), nil, pushArgs...)
			select {
			case <-second.Woken:
			default:
				t.Fatal("a queued pop was not served by the push")
			}
			// Data that was there before a pop arrived is popped at once.
			execStamped(t, w, time.Now().UnixNano(), nil, pushArgs...)
			late := waiter(time.Now().UnixNano())
			if got := execStamped(t, w, late.Since, late, tc.pop, tc.key, "0"); !strings.Contains(got, "a") {
				t.Fatalf("a pop that found old data got %q", got)
			}
		})
	}
}

func stampedWaiter(pop, key string, since int64) *Waiter {
	wt := Lookup(pop).NewWaiter(bargs(pop, key, "0"))
	wt.Proto, wt.Since = wire.RESP2, since
	return wt
}

// A wall clock stepped back makes a key look born in the future to every
// later command: that must not hold it (or its clients) for the step.
func TestClockStepBackDoesNotHoldKey(t *testing.T) {
	w := Start(New(0), WorkerOptions{Tick: time.Hour})
	defer w.Stop()
	execStamped(t, w, time.Now().UnixNano()+int64(time.Hour), nil, "rpush", "q", "a")
	wt := stampedWaiter("blpop", "q", time.Now().UnixNano())
	if got := execStamped(t, w, wt.Since, wt, "blpop", "q", "0"); got != "*2\r\n$1\r\nq\r\n$1\r\na\r\n" {
		t.Fatalf("BLPOP on a list with data got %q (registered %v)", got, wt.Registered)
	}
}

// While a key is held for clients that arrived before its data, a client
// that arrived after the data must queue behind them, not take it.
func TestNewcomerQueuesBehindHeldWaiters(t *testing.T) {
	w := Start(New(0), WorkerOptions{Tick: time.Hour})
	defer w.Stop()
	base := time.Now().UnixNano()
	execStamped(t, w, base+300, nil, "rpush", "q", "a")
	first := stampedWaiter("blpop", "q", base+100)
	if got := execStamped(t, w, first.Since, first, "blpop", "q", "0"); got != "" {
		t.Fatalf("first: %q", got)
	}
	late := stampedWaiter("blpop", "q", base+400)
	if got := execStamped(t, w, late.Since, late, "blpop", "q", "0"); got != "" {
		t.Fatalf("a client that came after the data took it from a held key: %q", got)
	}
	select {
	case wk := <-first.Woken:
		if want := "*2\r\n$1\r\nq\r\n$1\r\na\r\n"; string(wk.Reply) != want {
			t.Fatalf("first got %q, want %q", wk.Reply, want)
		}
	case <-time.After(time.Second):
		t.Fatal("the held waiter was never served")
	}
	execStamped(t, w, time.Now().UnixNano(), nil, "rpush", "q", "b")
	select {
	case wk := <-late.Woken:
		if want := "*2\r\n$1\r\nq\r\n$1\r\nb\r\n"; string(wk.Reply) != want {
			t.Fatalf("late got %q, want %q", wk.Reply, want)
		}
	case <-time.After(time.Second):
		t.Fatal("the queued newcomer was not served by the next push")
	}
}

// A hold ends when it is due even if the wall clock stepped back meanwhile.
func TestHoldingEndsAfterClockStep(t *testing.T) {
	now := time.Now().UnixNano()
	if !holding(now+int64(holdFor)/2, now) {
		t.Fatal("a running hold ended early")
	}
	if holding(now+int64(time.Hour), now) {
		t.Fatal("a hold set before the clock stepped back an hour still runs")
	}
	if holding(now-1, now) {
		t.Fatal("a passed hold still runs")
	}
}

// A push to a key held for late blocked clients returns a gate with its
// batch (Batch.Gates) that opens only once the held key's waiters are
// served: the connection holds the push's reply until then, as Redis
// answers the push after serving the clients that blocked before it.
func TestPushToHeldKeyWaitsForItsWaiters(t *testing.T) {
	w := Start(New(0), WorkerOptions{Tick: time.Hour})
	defer w.Stop()
	base := time.Now().UnixNano()
	if got := execStamped(t, w, base+300, nil, "rpush", "q", "a"); got != ":1\r\n" {
		t.Fatalf("push: %q", got)
	}
	late := stampedWaiter("blpop", "q", base+100)
	if got := execStamped(t, w, late.Since, late, "blpop", "q", "0"); got != "" || !late.Registered {
		t.Fatalf("the late pop did not queue: %q", got)
	}
	b := &Batch{Proto: wire.RESP2, NumShards: 1, Stamp: time.Now().UnixNano(),
		Calls: []Call{{Cmd: Lookup("rpush"), Args: bargs("rpush", "q", "b")}}}
	answer := make(chan *Batch, 1)
	if err := w.Submit(b, answer); err != nil {
		t.Fatal(err)
	}
	<-answer
	if len(b.Gates) != 1 {
		t.Fatalf("a push to a held key with a waiter returned %d gates, want 1", len(b.Gates))
	}
	select {
	case <-b.Gates[0]:
	case <-time.After(time.Second):
		t.Fatal("the gate never opened")
	}
	if since := time.Since(time.Unix(0, base+300)); since < holdFor {
		t.Fatalf("the gate opened %v after the key was born, before its hold (%v) ended", since, holdFor)
	}
	select {
	case wk := <-late.Woken:
		if !strings.Contains(string(wk.Reply), "a") {
			t.Fatalf("the late pop got %q", wk.Reply)
		}
	default:
		t.Fatal("the gate opened but the waiter was not served")
	}
}

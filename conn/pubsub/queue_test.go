package pubsub

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

type testCfg struct {
	limit        atomic.Pointer[Limit]
	netOut, disc atomic.Int64
	cfg          QueueConfig
}

func newTestCfg(l *Limit) *testCfg {
	t := &testCfg{}
	t.limit.Store(l)
	t.cfg = QueueConfig{Limit: &t.limit, NetOut: &t.netOut, Disconnects: &t.disc,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return t
}

// TestQueueOrder: bytes pushed by one goroutine reach the socket in order
// and whole, while other goroutines push too; Stop flushes everything.
func TestQueueOrder(t *testing.T) {
	tc := newTestCfg(nil)
	a, b := net.Pipe()
	defer b.Close()
	q := NewQueue(a, &tc.cfg)
	read := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(b)
		read <- all
	}()
	const pushers, n = 4, 500
	var wg sync.WaitGroup
	for p := 0; p < pushers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if !q.Push([]byte(strconv.Itoa(p) + ":" + strconv.Itoa(i) + "\n")) {
					t.Error("push refused")
					return
				}
			}
		}()
	}
	wg.Wait()
	q.Stop()
	if !q.Closed() || q.Push([]byte("late")) {
		t.Fatal("a stopped queue must refuse bytes")
	}
	a.Close()
	all := <-read
	next := make([]int, pushers)
	for _, line := range bytes.Split(bytes.TrimSuffix(all, []byte("\n")), []byte("\n")) {
		p, i, _ := bytes.Cut(line, []byte(":"))
		pi, _ := strconv.Atoi(string(p))
		ii, _ := strconv.Atoi(string(i))
		if ii != next[pi] {
			t.Fatalf("pusher %d: got %d, want %d", pi, ii, next[pi])
		}
		next[pi]++
	}
	for p, k := range next {
		if k != n {
			t.Fatalf("pusher %d: %d lines arrived, want %d", p, k, n)
		}
	}
	if tc.netOut.Load() != int64(len(all)) {
		t.Fatalf("NetOut %d, wrote %d", tc.netOut.Load(), len(all))
	}
}

// TestQueueHardLimit: past the hard limit a push is refused, the
// connection is closed and the disconnection counted.
func TestQueueHardLimit(t *testing.T) {
	tc := newTestCfg(&Limit{Hard: 100})
	a, b := net.Pipe() // nobody reads b: the writer blocks on the first bytes
	defer b.Close()
	q := NewQueue(a, &tc.cfg)
	chunk := bytes.Repeat([]byte("x"), 60)
	if !q.Push(chunk) {
		t.Fatal("60 bytes are under the limit")
	}
	if q.Push(chunk) {
		t.Fatal("120 pending bytes pass the hard limit of 100")
	}
	if !q.Closed() || q.Push([]byte("y")) {
		t.Fatal("the queue must stay closed")
	}
	if tc.disc.Load() != 1 {
		t.Fatalf("disconnections = %d", tc.disc.Load())
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(b); err != nil {
		t.Fatalf("the connection was not closed: %v", err)
	}
	q.Stop()
}

// TestQueueStopDeadline: Stop does not wait more than about a second for
// a peer that reads nothing.
func TestQueueStopDeadline(t *testing.T) {
	tc := newTestCfg(nil)
	a, b := net.Pipe()
	defer b.Close()
	defer a.Close()
	q := NewQueue(a, &tc.cfg)
	q.Push([]byte("never read"))
	start := time.Now()
	q.Stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if !q.Closed() {
		t.Fatal("a stopped queue must be closed")
	}
}

// TestHub: subscriptions, publishing to channels and patterns, events,
// drop, and a closed hub.
func TestHub(t *testing.T) {
	tc := newTestCfg(nil)
	h := New()
	a, b := net.Pipe()
	defer b.Close()
	q := NewQueue(a, &tc.cfg)
	read := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(b)
		read <- all
	}()
	s := NewSubscriber(q)
	if out, ok := h.Subscribe(s, Channel, false, wire.RESP2, []string{"news"}, true); !ok ||
		string(out) != "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n" {
		t.Fatalf("subscribe: %q %v", out, ok)
	}
	h.Subscribe(s, Pattern, false, wire.RESP2, []string{"n*"}, false)
	if s.Total() != 2 || s.Subscriptions(Pattern) != 1 {
		t.Fatalf("counts %d %d", s.Total(), s.Subscriptions(Pattern))
	}
	if n, ok := h.Publish(Channel, "news", "hi"); !ok || n != 2 {
		t.Fatalf("publish reached %d %v", n, ok)
	}
	h.TryEvents(testEvents{{"nx", "ev"}})
	if got := h.Channels(Channel, ""); len(got) != 1 || got[0] != "news" {
		t.Fatalf("channels %q", got)
	}
	if c := h.NumSub(Channel, []string{"news", "none"}); len(c) != 2 || c[0] != 1 || c[1] != 0 {
		t.Fatalf("numsub %v", c)
	}
	if h.NumPat() != 1 || h.ChannelCount() != 1 || h.PatternCount() != 1 {
		t.Fatal("table sizes")
	}
	h.Drop(s)
	if s.Total() != 0 || h.NumPat() != 0 || h.ChannelCount() != 0 {
		t.Fatal("drop left subscriptions")
	}
	h.Close()
	if _, ok := h.Publish(Channel, "news", "late"); ok {
		t.Fatal("a closed hub must say so")
	}
	q.Stop()
	a.Close()
	want := "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n" +
		"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n" +
		"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n" +
		"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$2\r\nev\r\n"
	if got := <-read; string(got) != want {
		t.Fatalf("pushed %q\nwant   %q", got, want)
	}
}

type testEvents [][2]string

func (e testEvents) Emit(publish func(channel, message string)) {
	for _, m := range e {
		publish(m[0], m[1])
	}
}

// TestQueueOrderTCP: on a real socket, pushes that the socket takes at
// once skip the queue and the rest wait in it; with a reader that starts
// only once 32 MB were pushed, every byte still arrives once and in order,
// and what was pending is what had not been written.
func TestQueueOrderTCP(t *testing.T) {
	tc := newTestCfg(nil)
	var held atomic.Int64
	tc.cfg.Mem = func(d int64) { held.Add(d) }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	q := NewQueue(a, &tc.cfg)
	pad := bytes.Repeat([]byte("."), 16<<10)
	const pushers, n = 4, 500
	var wg sync.WaitGroup
	for p := 0; p < pushers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				line := append([]byte(strconv.Itoa(p)+":"+strconv.Itoa(i)+":"), pad...)
				if !q.Push(append(line, '\n')) {
					t.Error("push refused")
					return
				}
			}
		}()
	}
	wg.Wait()
	pending, _ := q.Pending()
	if pending == 0 || int64(pending) != held.Load() {
		t.Fatalf("pending %d, memory held %d: 32 MB cannot all be in the socket", pending, held.Load())
	}
	read := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(b)
		read <- all
	}()
	q.Stop()
	a.Close()
	all := <-read
	next := make([]int, pushers)
	lines := 0
	for _, line := range bytes.Split(bytes.TrimSuffix(all, []byte("\n")), []byte("\n")) {
		f := bytes.SplitN(line, []byte(":"), 3)
		pi, _ := strconv.Atoi(string(f[0]))
		ii, _ := strconv.Atoi(string(f[1]))
		if ii != next[pi] || len(f[2]) != len(pad) {
			t.Fatalf("pusher %d: got line %d (%d bytes), want %d", pi, ii, len(f[2]), next[pi])
		}
		next[pi]++
		lines++
	}
	if lines != pushers*n {
		t.Fatalf("%d lines arrived, want %d", lines, pushers*n)
	}
	if tc.netOut.Load() != int64(len(all)) || held.Load() != 0 {
		t.Fatalf("NetOut %d, wrote %d, still held %d", tc.netOut.Load(), len(all), held.Load())
	}
}

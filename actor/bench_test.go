package actor

import (
	"testing"
	"time"
)

// BenchmarkRoundTrip is one request and its answer through an idle actor
// that ticks, as a shard serves an unpipelined client: the actor goes back
// to waiting after every message. Run it with -cpu 1 as well, where each
// round trip is two goroutine switches on one thread.
func BenchmarkRoundTrip(b *testing.B) {
	answer := make(chan int, 1)
	a := Start(Options{Mailbox: 1024, Tick: 100 * time.Millisecond, OnTick: func() {}}, func(m int) {
		answer <- m
	})
	defer a.Stop()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := a.Send(i); err != nil {
			b.Fatal(err)
		}
		<-answer
	}
}

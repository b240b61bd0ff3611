package pubsub

import "testing"

func TestObufLimitReached(t *testing.T) {
	l := ParseLimit("normal 0 0 0 slave 1 2 3 pubsub 1000 100 2")
	if *l != (Limit{Hard: 1000, Soft: 100, SoftSecs: 2}) {
		t.Fatalf("parsed %+v", *l)
	}
	var since int64
	if l.reached(99, &since) || since != 0 {
		t.Fatal("under the soft limit")
	}
	if l.reached(100, &since) || since == 0 {
		t.Fatal("first time over the soft limit must only start the clock")
	}
	since -= 2
	if l.reached(500, &since) {
		t.Fatal("over the soft limit for exactly soft-seconds is allowed")
	}
	since--
	if !l.reached(500, &since) {
		t.Fatal("over the soft limit for longer than soft-seconds")
	}
	since = 0
	if !l.reached(1001, &since) {
		t.Fatal("hard limit")
	}
	l.reached(200, &since)
	if l.reached(50, &since) || since != 0 {
		t.Fatal("dropping under the soft limit resets the clock")
	}
}

func TestParseLimitDefault(t *testing.T) {
	if l := ParseLimit("normal 0 0 0"); *l != (Limit{Hard: 32 << 20, Soft: 8 << 20, SoftSecs: 60}) {
		t.Fatalf("default %+v", *l)
	}
}

package conn

import (
	"context"
	"io"
	"testing"
)

// Redis's unit/pubsubshard starts its own servers, so the suite's external
// mode skips it; these are its single-server tests, on 8 shards.

// send writes a command without reading.
func (c *trackConn) send(args ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, resp(args...)); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one reply, flat.
func (c *trackConn) read() string {
	c.t.Helper()
	v, err := c.readOne()
	if err != nil {
		c.t.Fatal(err)
	}
	return v.String()
}

// confirm sends verb with channels and reads one confirmation per channel
// (one for a bare unsubscribe), returning them.
func (c *trackConn) confirm(verb string, channels ...string) []string {
	c.t.Helper()
	c.send(append([]string{verb}, channels...)...)
	n := max(len(channels), 1)
	out := make([]string, n)
	for i := range out {
		out[i] = c.read()
	}
	return out
}

func TestPubSubShardSpec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	r := newClient2(t, addr, 2)
	spublish := func(ch, msg string) int64 {
		n, err := r.SPublish(ctx, ch, msg).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	eq := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}

	// basics
	rd1 := dialTrack(t, addr)
	eq("ssubscribe chan1", rd1.confirm("SSUBSCRIBE", "chan1")[0], "[ssubscribe chan1 1]")
	eq("ssubscribe chan2", rd1.confirm("SSUBSCRIBE", "chan2")[0], "[ssubscribe chan2 2]")
	eq("spublish chan1", spublish("chan1", "hello"), int64(1))
	eq("spublish chan2", spublish("chan2", "world"), int64(1))
	eq("message 1", rd1.read(), "[smessage chan1 hello]")
	eq("message 2", rd1.read(), "[smessage chan2 world]")
	eq("sunsubscribe chan1", rd1.confirm("SUNSUBSCRIBE", "chan1")[0], "[sunsubscribe chan1 1]")
	eq("spublish chan1 after", spublish("chan1", "hello"), int64(0))
	eq("spublish chan2 after", spublish("chan2", "world"), int64(1))
	eq("message 3", rd1.read(), "[smessage chan2 world]")
	rd1.confirm("SUNSUBSCRIBE", "chan2")
	eq("spublish chan2 gone", spublish("chan2", "world"), int64(0))

	// two clients, counts and PUBSUB
	a, b := dialTrack(t, addr), dialTrack(t, addr)
	a.confirm("SSUBSCRIBE", "chan1")
	b.confirm("SSUBSCRIBE", "chan1")
	eq("spublish to two", spublish("chan1", "hello"), int64(2))
	eq("a", a.read(), "[smessage chan1 hello]")
	eq("b", b.read(), "[smessage chan1 hello]")
	if m, _ := r.PubSubShardNumSub(ctx, "chan1", "abc").Result(); m["chan1"] != 2 || m["abc"] != 0 {
		t.Fatalf("SHARDNUMSUB = %v", m)
	}
	if ch, _ := r.PubSubShardChannels(ctx, "").Result(); len(ch) != 1 || ch[0] != "chan1" {
		t.Fatalf("SHARDCHANNELS = %v", ch)
	}
	a.nc.Close()
	b.nc.Close()

	// bare SUNSUBSCRIBE, and one channel more than once
	rd2 := dialTrack(t, addr)
	got := rd2.confirm("SSUBSCRIBE", "c1", "c2", "c3")
	eq("counts", got[2], "[ssubscribe c3 3]")
	rd2.send("SUNSUBSCRIBE")
	for i := 0; i < 3; i++ {
		rd2.read()
	}
	for _, ch := range []string{"c1", "c2", "c3"} {
		eq("after bare sunsubscribe", spublish(ch, "hello"), int64(0))
	}
	eq("again", rd2.confirm("SSUBSCRIBE", "d", "d", "d")[2], "[ssubscribe d 1]")
	eq("spublish d", spublish("d", "hello"), int64(1))
	eq("message d", rd2.read(), "[smessage d hello]")
	rd3 := dialTrack(t, addr)
	eq("sunsubscribe foo", rd3.confirm("SUNSUBSCRIBE", "foo")[0], "[sunsubscribe foo 0]")

	// shard channels and channels are separate namespaces
	s, p := dialTrack(t, addr), dialTrack(t, addr)
	s.confirm("SSUBSCRIBE", "mix")
	p.confirm("SUBSCRIBE", "mix")
	eq("spublish mix", spublish("mix", "hello"), int64(1))
	if n, _ := r.Publish(ctx, "mix", "hello").Result(); n != 1 {
		t.Fatalf("publish mix = %d", n)
	}
	if m, _ := r.PubSubNumSub(ctx, "mix").Result(); m["mix"] != 1 {
		t.Fatalf("NUMSUB = %v", m)
	}

	// CLIENT REPLY OFF: confirmations and messages still come (RESP3)
	rd := dialTrack(t, addr)
	rd.call("HELLO", "3")
	rd.send("CLIENT", "REPLY", "OFF")
	rd.send("PING")
	eq("ssubscribe, reply off", rd.confirm("SSUBSCRIBE", "channel")[0], "[ssubscribe channel 1]")
	eq("spublish, reply off", spublish("channel", "hello"), int64(1))
	eq("smessage, reply off", rd.read(), "[smessage channel hello]")
	eq("sunsubscribe, reply off", rd.confirm("SUNSUBSCRIBE", "channel")[0], "[sunsubscribe channel 0]")
}

package conn

import (
	"bufio"
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// keysOnShards returns one key per entry of owners, each owned by that
// shard (of n), all distinct.
func keysOnShards(t testing.TB, prefix string, n int, owners ...int) []string {
	t.Helper()
	keys := make([]string, len(owners))
	used := map[string]bool{}
	for i, o := range owners {
		for j := 100; j < 100000; j++ {
			k := prefix + strconv.Itoa(j)
			if !used[k] && shard.Owner([]byte(k), n) == o {
				keys[i], used[k] = k, true
				break
			}
		}
		if keys[i] == "" {
			t.Fatalf("no key for shard %d", o)
		}
	}
	return keys
}

// moveLayouts are the placements of a move's source and destination:
// the same shard (served where it is) and different shards (retried).
var moveLayouts = []struct {
	name     string
	src, dst int
}{{"same-shard", 3, 3}, {"cross-shard", 3, 5}}

// A BLMOVE followed by a pipelined command: while the client is blocked,
// the socket watcher reads the pipelined command into the Reader's buffer
// over the bytes BLMOVE's arguments were parsed from. The move must still
// use its own arguments (it used to move from a key made of the other
// command's bytes, or block forever), and both replies come in order.
func TestBLMoveWithPipelinedCommand(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	for _, lay := range moveLayouts {
		t.Run(lay.name, func(t *testing.T) {
			// 4-byte names so the pipelined command lines up with BLMOVE's.
			keys := keysOnShards(t, lay.name[:1], 8, lay.src, lay.dst, 0)
			src, dst, victim := keys[0], keys[1], keys[2]
			for _, k := range keys {
				if len(k) != 4 {
					t.Fatalf("key %q is not 4 bytes", k)
				}
			}
			rdb.Del(ctx, src, dst, victim)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			br := bufio.NewReader(nc)
			nc.Write([]byte(resp("BLMOVE", src, dst, "LEFT", "RIGHT", "0")))
			waitBlocked(t, rdb, 1)
			nc.Write([]byte(resp("RPUSH", victim, "vict")))
			time.Sleep(20 * time.Millisecond) // let the watcher read it
			if err := rdb.RPush(ctx, src, "job1").Err(); err != nil {
				t.Fatal(err)
			}
			nc.SetReadDeadline(time.Now().Add(3 * time.Second))
			want := "$4\r\njob1\r\n:1\r\n"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
				t.Fatalf("replies = %q (%v), want %q", got, err, want)
			}
			if v := rdb.LRange(ctx, dst, 0, -1).Val(); !slices.Equal(v, []string{"job1"}) {
				t.Fatalf("destination = %q, want [job1]", v)
			}
			if v := rdb.LRange(ctx, victim, 0, -1).Val(); !slices.Equal(v, []string{"vict"}) {
				t.Fatalf("victim = %q, want [vict]", v)
			}
			if n := rdb.Exists(ctx, src).Val(); n != 0 {
				t.Fatalf("source still exists")
			}
		})
	}
}

func resp(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

// Redis's "BRPOPLPUSH with multiple blocked clients", repeated: two
// clients block on the same source, the first one's destination holds a
// string. One push must give the first WRONGTYPE and the second the
// element, whatever shards the three keys live on. The retried moves used
// to race, and the first could find the source empty and block forever.
func TestBRPopLPushMultipleBlockedClients(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	ctl := newClient2(t, addr, 2)
	c1 := newClient2(t, addr, 2)
	c2 := newClient2(t, addr, 2)
	layouts := []struct {
		name            string
		src, dst1, dst2 int
	}{
		{"all-same", 2, 2, 2},
		{"all-different", 2, 4, 6},
		{"target1-local", 2, 2, 6},
		{"target2-local", 2, 4, 2},
	}
	iterations := 50
	if testing.Short() {
		iterations = 10
	}
	for _, lay := range layouts {
		keys := keysOnShards(t, lay.name, 8, lay.src, lay.dst1, lay.dst2)
		blist, t1, t2 := keys[0], keys[1], keys[2]
		for i := 0; i < iterations; i++ {
			ctl.Del(ctx, blist, t1, t2)
			ctl.Set(ctx, t1, "nolist", 0)
			r1 := make(chan *redis.StringCmd, 1)
			r2 := make(chan *redis.StringCmd, 1)
			go func() { r1 <- c1.BRPopLPush(ctx, blist, t1, 5*time.Second) }()
			waitBlocked(t, ctl, 1)
			go func() { r2 <- c2.BRPopLPush(ctx, blist, t2, 5*time.Second) }()
			waitBlocked(t, ctl, 2)
			ctl.LPush(ctx, blist, "foo")
			a, b := <-r1, <-r2
			if err := a.Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
				t.Fatalf("%s #%d: first client got %q, %v; want WRONGTYPE", lay.name, i, a.Val(), err)
			}
			if v, err := b.Result(); err != nil || v != "foo" {
				t.Fatalf("%s #%d: second client got %q, %v; want foo", lay.name, i, v, err)
			}
			if v := ctl.LRange(ctx, t2, 0, -1).Val(); !slices.Equal(v, []string{"foo"}) {
				t.Fatalf("%s #%d: target2 = %q, want [foo]", lay.name, i, v)
			}
			if v := ctl.Get(ctx, t1).Val(); v != "nolist" {
				t.Fatalf("%s #%d: target1 = %q, want nolist", lay.name, i, v)
			}
		}
	}
}

// Blocked moves are served in the order the clients blocked, with the
// waiters behind a move to another shard keeping their places, and no
// element lost or duplicated.
func TestBlockedMovesKeepTheirTurn(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	ctl := newClient2(t, addr, 2)
	for _, lay := range moveLayouts {
		t.Run(lay.name, func(t *testing.T) {
			keys := keysOnShards(t, "turn"+lay.name, 8, lay.src, lay.dst)
			src, dst := keys[0], keys[1]
			for round := 0; round < 20; round++ {
				ctl.Del(ctx, src, dst)
				const n = 4
				results := make([]chan string, n)
				for i := range results {
					results[i] = make(chan string, 1)
					c := newClient2(t, addr, 2)
					go func(i int) {
						var v string
						var err error
						if i%2 == 0 {
							v, err = c.BLMove(ctx, src, dst, "LEFT", "RIGHT", 5*time.Second).Result()
						} else {
							var kv []string
							kv, err = c.BLPop(ctx, 5*time.Second, src).Result()
							if len(kv) == 2 {
								v = kv[1]
							}
						}
						if err != nil {
							v = "error: " + err.Error()
						}
						results[i] <- v
						c.Close()
					}(i)
					waitBlocked(t, ctl, i+1)
				}
				ctl.RPush(ctx, src, "e0", "e1", "e2", "e3")
				for i, ch := range results {
					if v := <-ch; v != "e"+strconv.Itoa(i) {
						t.Fatalf("round %d: client %d got %q, want e%d", round, i, v, i)
					}
				}
				if v := ctl.LRange(ctx, dst, 0, -1).Val(); !slices.Equal(v, []string{"e0", "e2"}) {
					t.Fatalf("round %d: destination = %q, want [e0 e2]", round, v)
				}
				if n := ctl.Exists(ctx, src).Val(); n != 0 {
					t.Fatalf("round %d: source not empty", round)
				}
			}
		})
	}
}

// dialBuffered opens a raw connection to addr, closed when the test ends.
func dialBuffered(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc, bufio.NewReader(nc)
}

// holdShardWithScript starts a function that never ends, holding only
// key's shard, from a connection of its own, and waits until FUNCTION
// STATS shows it running. The server's busy-reply-threshold must be long
// enough for the caller's next steps: past it, every command answers BUSY.
func holdShardWithScript(t *testing.T, rdb *redis.Client, addr, key string) {
	t.Helper()
	ctx := context.Background()
	const lib = "#!lua name=holder\nredis.register_function('hold', function(keys, args) if args[1] == 'spin' then while true do end end return 1 end)"
	if err := rdb.FunctionLoad(ctx, lib).Err(); err != nil {
		t.Fatal(err)
	}
	// A first call that touches no key lets the server learn that the
	// function keeps to its declared keys, so the next holds only key's shard.
	if err := rdb.FCall(ctx, "hold", []string{key}, "no").Err(); err != nil {
		t.Fatal(err)
	}
	sc, _ := dialBuffered(t, addr)
	sc.Write([]byte(resp("FCALL", "hold", "1", key, "spin")))
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, err := rdb.Do(ctx, "FUNCTION", "STATS").Slice()
		if err == nil && len(st) == 4 && st[1] != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holding function never showed in FUNCTION STATS: %v %v", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A blocked BLMOVE whose source gets an element while a slow script holds
// the destination's shard: the move's retry with both shards used to be
// answered BUSY, so the client blocked with timeout 0 got an error for its
// BLMOVE (Redis keeps it blocked, as only the script runs). It now waits
// for the script, past busy-reply-threshold too, and then moves the
// element.
func TestBLMoveRetryWaitsForSlowScript(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	keys := keysOnShards(t, "r", 8, 2, 6)
	src, dst := keys[0], keys[1]
	if err := rdb.ConfigSet(ctx, "busy-reply-threshold", "5000").Err(); err != nil {
		t.Fatal(err)
	}
	nc, br := dialBuffered(t, addr)
	nc.Write([]byte(resp("BLMOVE", src, dst, "LEFT", "RIGHT", "0")))
	waitBlocked(t, rdb, 1)
	holdShardWithScript(t, rdb, addr, dst)
	if err := rdb.RPush(ctx, src, "job").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "busy-reply-threshold", "10").Err(); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if line, err := br.ReadString('\n'); err == nil {
		t.Fatalf("BLMOVE answered %q while the script ran", line)
	}
	if err := rdb.Do(ctx, "FUNCTION", "KILL").Err(); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || line != "$3\r\n" {
		t.Fatalf("BLMOVE after the script: %q, %v", line, err)
	}
	if got := rdb.LRange(ctx, dst, 0, -1).Val(); len(got) != 1 || got[0] != "job" {
		t.Fatalf("%s = %v, want [job]", dst, got)
	}
}

// A push that wakes a blocked move whose destination lives on another
// shard: the pusher's reply comes after the move, as in Redis, whose one
// thread serves the blocked client before it answers the pusher. So a
// client that pushes and then reads the destination finds the element
// there (Redis's replication test reads the replica's commandstats
// straight after the push). A plain push, one inside MULTI/EXEC (a run
// across shards), and one from a script.
func TestPusherSeesCrossShardMoveDone(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	pusher := newClient2(t, addr, 2)
	keys := keysOnShards(t, "gate", 8, 3, 5, 6)
	src, dst, other := keys[0], keys[1], keys[2]
	pushes := map[string]func(v string) error{
		"lpush": func(v string) error { return pusher.LPush(ctx, src, v).Err() },
		"exec": func(v string) error {
			_, err := pusher.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, other)
				p.LPush(ctx, src, v)
				return nil
			})
			return err
		},
		"eval": func(v string) error {
			return pusher.Eval(ctx, "return redis.call('lpush', KEYS[1], ARGV[1])", []string{src}, v).Err()
		},
	}
	for name, push := range pushes {
		t.Run(name, func(t *testing.T) {
			blocked := newClient2(t, addr, 2)
			for i := range 30 {
				pusher.Del(ctx, src, dst)
				v := "e" + strconv.Itoa(i)
				done := make(chan error, 1)
				go func() {
					cmd := blocked.BRPopLPush(ctx, src, dst, 5*time.Second)
					if cmd.Err() == nil && cmd.Val() != v {
						done <- io.ErrUnexpectedEOF
						return
					}
					done <- cmd.Err()
				}()
				waitBlocked(t, pusher, 1)
				if err := push(v); err != nil {
					t.Fatal(err)
				}
				got := pusher.LRange(ctx, dst, 0, -1).Val()
				if !slices.Equal(got, []string{v}) {
					t.Fatalf("round %d: %s right after the push = %q, want [%s]", i, dst, got, v)
				}
				if err := <-done; err != nil {
					t.Fatalf("round %d: BRPOPLPUSH: %v", i, err)
				}
			}
		})
	}
}

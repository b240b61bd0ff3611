package conn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// respVal is one RESP2 or RESP3 reply: kind is its first byte.
type respVal struct {
	kind byte
	str  string
	arr  []respVal
}

func (v respVal) String() string {
	if v.arr == nil {
		return v.str
	}
	parts := make([]string, len(v.arr))
	for i, e := range v.arr {
		parts[i] = e.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// readVal reads one reply of either protocol.
func readVal(br *bufio.Reader) (respVal, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return respVal{}, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return respVal{}, fmt.Errorf("empty line")
	}
	v := respVal{kind: line[0]}
	switch line[0] {
	case '$', '=':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			v.kind = '_'
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return v, err
		}
		v.str = string(buf[:n])
	case '*', '>', '~', '%':
		n, _ := strconv.Atoi(line[1:])
		if line[0] == '%' {
			n *= 2
		}
		if n < 0 {
			v.kind = '_'
			return v, nil
		}
		v.arr = []respVal{}
		for i := 0; i < n; i++ {
			e, err := readVal(br)
			if err != nil {
				return v, err
			}
			v.arr = append(v.arr, e)
		}
	default:
		v.str = line[1:]
	}
	return v, nil
}

// trackConn is a raw connection that sorts invalidations from replies.
type trackConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	// onInvalidate gets the keys of each invalidation (nil for all).
	onInvalidate func(keys []string)
}

func dialTrack(t *testing.T, addr string) *trackConn {
	nc, br := dialBuffered(t, addr)
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	return &trackConn{t: t, nc: nc, br: br}
}

// call sends a command and returns its reply, handing every invalidation
// that comes before it to onInvalidate.
func (c *trackConn) call(args ...string) respVal {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, resp(args...)); err != nil {
		c.t.Fatal(err)
	}
	for {
		v, err := c.readOne()
		if err != nil {
			c.t.Fatal(err)
		}
		if keys, ok := invalidated(v); ok {
			if c.onInvalidate != nil {
				c.onInvalidate(keys)
			}
			continue
		}
		return v
	}
}

func (c *trackConn) readOne() (respVal, error) { return readVal(c.br) }

// invalidated recognizes an invalidation: a RESP3 push, or a RESP2
// message on __redis__:invalidate.
func invalidated(v respVal) (keys []string, ok bool) {
	var payload respVal
	switch {
	case v.kind == '>' && len(v.arr) == 2 && v.arr[0].str == "invalidate":
		payload = v.arr[1]
	case v.kind == '*' && len(v.arr) == 3 && v.arr[0].str == "message" && v.arr[1].str == "__redis__:invalidate":
		payload = v.arr[2]
	default:
		return nil, false
	}
	if payload.kind == '_' {
		return nil, true
	}
	keys = []string{}
	for _, e := range payload.arr {
		keys = append(keys, e.str)
	}
	return keys, true
}

// ackLog records, per key, the newest value whose SET was acknowledged.
type ackLog struct {
	mu    sync.Mutex
	acked map[string]int
}

func (l *ackLog) set(k string, v int) {
	l.mu.Lock()
	l.acked[k] = v
	l.mu.Unlock()
}

func (l *ackLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]int, len(l.acked))
	for k, v := range l.acked {
		m[k] = v
	}
	return m
}

// TestTrackingInvalidationBeforeNextRoundTrip is the ordering promise of
// client-side caching, on 8 shards with concurrent writers: once a SET was
// acknowledged, a round trip that the tracking side starts afterwards
// returns only after that key's invalidation has arrived. The client
// keeps a cache of what it read; after each round trip no cached value
// may be older than a write acknowledged before the round trip began.
// Each writer owns its keys and writes increasing values, so "older" is
// well defined. Run for RESP3 (pushes on the same connection) and for
// RESP2 with REDIRECT to a subscribed connection.
func TestTrackingInvalidationBeforeNextRoundTrip(t *testing.T) {
	for _, mode := range []string{"resp3", "resp2-redirect"} {
		t.Run(mode, func(t *testing.T) {
			_, addr := startServer(t, 8)
			const writers, keysPer = 4, 6
			log := &ackLog{acked: map[string]int{}}
			key := func(w, i int) string { return "trk:" + strconv.Itoa(w) + ":" + strconv.Itoa(i) }
			// Every key has a value before the reader starts.
			seed := newClient2(t, addr, 2)
			for w := 0; w < writers; w++ {
				for i := 0; i < keysPer; i++ {
					if err := seed.Set(context.Background(), key(w, i), 0, 0).Err(); err != nil {
						t.Fatal(err)
					}
					log.set(key(w, i), 0)
				}
			}

			cache := map[string]int{}
			drop := func(keys []string) {
				if keys == nil {
					clear(cache)
				}
				for _, k := range keys {
					delete(cache, k)
				}
			}
			reader := dialTrack(t, addr) // reads and caches
			notes := reader              // where invalidations arrive
			if mode == "resp3" {
				reader.call("HELLO", "3")
				reader.onInvalidate = drop
				if r := reader.call("CLIENT", "TRACKING", "on"); r.str != "OK" {
					t.Fatalf("CLIENT TRACKING: %v", r)
				}
			} else {
				notes = dialTrack(t, addr)
				notes.onInvalidate = drop
				id := notes.call("CLIENT", "ID").str
				if r := notes.call("SUBSCRIBE", "__redis__:invalidate"); len(r.arr) != 3 {
					t.Fatalf("SUBSCRIBE: %v", r)
				}
				if r := reader.call("CLIENT", "TRACKING", "on", "REDIRECT", id); r.str != "OK" {
					t.Fatalf("CLIENT TRACKING: %v", r)
				}
			}

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					rdb := redis.NewClient(&redis.Options{Addr: addr})
					defer rdb.Close()
					for seq := 1; ctx.Err() == nil && seq < 1_000_000; seq++ {
						k := key(w, seq%keysPer)
						if err := rdb.Set(ctx, k, seq, 0).Err(); err != nil {
							return
						}
						log.set(k, seq)
						if seq%8 == 0 {
							time.Sleep(50 * time.Microsecond)
						}
					}
				}(w)
			}

			// 1.5 s of rounds, and at least 50 on a slow machine (30 s at most).
			deadline := time.Now().Add(1500 * time.Millisecond)
			hardDeadline := time.Now().Add(30 * time.Second)
			rounds, checked := 0, 0
			for ; (rounds < 50 || time.Now().Before(deadline)) && time.Now().Before(hardDeadline); rounds++ {
				// Read (and so track) a few keys.
				for j := 0; j < 4; j++ {
					k := key((rounds+j)%writers, (rounds*7+j)%keysPer)
					v := reader.call("GET", k)
					n, err := strconv.Atoi(v.str)
					if err != nil {
						t.Fatalf("GET %s = %v", k, v)
					}
					cache[k] = n
				}
				before := log.snapshot()
				// The round trip: on the connection the invalidations
				// come to.
				if r := notes.call("PING"); r.str != "PONG" && !(len(r.arr) == 2 && r.arr[0].str == "pong") {
					t.Fatalf("PING = %v", r)
				}
				for k, v := range cache {
					if v < before[k] {
						t.Fatalf("round %d: %s cached as %d after a SET of %d was acknowledged; its invalidation came late", rounds, k, v, before[k])
					}
					checked++
				}
			}
			cancel()
			wg.Wait()
			if rounds < 50 || checked == 0 {
				t.Fatalf("only %d rounds, %d checks", rounds, checked)
			}
			t.Logf("%d rounds, %d cached values checked", rounds, checked)
		})
	}
}

// Lowering tracking-table-max-keys trims the table before CONFIG SET
// replies, as Redis trims before the next command: the tracking client's
// next reply comes after the invalidation (Redis's regression test for
// issue #11715, without DEBUG PAUSE-CRON).
func TestTrackingMaxKeysTrimsBeforeReply(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := newClient2(t, addr, 2)
	rd := dialTrack(t, addr)
	rd.call("HELLO", "3")
	rd.call("CLIENT", "TRACKING", "on")
	rd.call("MGET", "1{tag}", "2{tag}")
	rd.call("MULTI")
	if err := admin.ConfigSet(context.Background(), "tracking-table-max-keys", "1").Err(); err != nil {
		t.Fatal(err)
	}
	rd.send("PING")
	first := rd.read()
	if !strings.HasPrefix(first, "[invalidate [") {
		t.Fatalf("first reply after the limit was lowered: %q, want an invalidation", first)
	}
	if r := rd.read(); r != "QUEUED" {
		t.Fatalf("then %q, want QUEUED", r)
	}
	admin.ConfigSet(context.Background(), "tracking-table-max-keys", "1000000")
}

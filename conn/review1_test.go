package conn

import (
	"bufio"
	"bytes"
	"context"
	"github.com/redis/go-redis/v9"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// proxyHarness: a fake master feeding a replica (valkyrie), and a raw
// sub-replica connected to the replica by PSYNC, which sees the stream
// the replica passes on.
type proxyHarness struct {
	t      *testing.T
	ps     *persistServer
	nc     net.Conn // master side of the link
	br     *bufio.Reader
	off    int64
	sub    net.Conn
	subBr  *bufio.Reader
	replid string
}

// syncFromFakeMaster starts a replica (4 shards, the pairs given) of a
// scripted master, which sends it a full sync with replid at offset 1000
// of a file holding key = val, with ttl if not 0, and returns the
// replica and the master's side of the link once the replica has
// acknowledged the sync.
func syncFromFakeMaster(t *testing.T, replid, key, val string, ttl time.Duration, pairs ...string) (*persistServer, net.Conn, *bufio.Reader) {
	t.Helper()
	rdbFile := rdbWithKey(t, key, val, ttl)
	fm := startFakeMaster(t)
	a := fm.l.Addr().(*net.TCPAddr)
	ps := startPersistServer(t, 4, t.TempDir(), append([]string{"replicaof", a.IP.String() + " " + strconv.Itoa(a.Port)}, pairs...)...)
	var nc net.Conn
	select {
	case nc = <-fm.links:
	case <-time.After(10 * time.Second):
		t.Fatal("the replica did not connect")
	}
	br := bufio.NewReader(nc)
	fakeHandshake(t, nc, br)
	nc.Write([]byte("+FULLRESYNC " + replid + " 1000\r\n"))
	nc.Write([]byte("$" + strconv.Itoa(len(rdbFile)) + "\r\n"))
	nc.Write(rdbFile)
	nextAck(t, nc, br, 1000)
	return ps, nc, br
}

func startProxyHarness(t *testing.T) *proxyHarness {
	const replid = "0123456789abcdef0123456789abcdef01234567"
	ps, nc, br := syncFromFakeMaster(t, replid, "from-rdb", "yes", 0)
	h := &proxyHarness{t: t, ps: ps, nc: nc, br: br, off: 1000, replid: replid}
	// The sub-replica continues from the replica's backlog at 1001.
	sub, err := net.Dial("tcp", ps.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	sub.Write([]byte(respCmd("PSYNC", replid, "1001")))
	h.sub, h.subBr = sub, bufio.NewReader(sub)
	sub.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := h.subBr.ReadString('\n')
	if err != nil || !bytes.HasPrefix([]byte(line), []byte("+CONTINUE")) {
		t.Fatalf("sub-replica PSYNC: %q %v", line, err)
	}
	return h
}

func (h *proxyHarness) send(s string) {
	h.nc.Write([]byte(s))
	h.off += int64(len(s))
}

// expectSub reads exactly want from the sub-replica's stream, skipping
// nothing (the replica passes its master's bytes on as they came).
func (h *proxyHarness) expectSub(want string) {
	h.t.Helper()
	h.sub.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	n, err := io.ReadFull(h.subBr, got)
	if err != nil || string(got) != want {
		h.t.Fatalf("sub-replica got %q (%d bytes, %v), want %q", got[:n], n, err, want)
	}
}

// TestReplicaProxyNestedMulti: a MULTI inside a MULTI from the master (which
// Redis answers with an error, keeping the transaction) must not lose the
// bytes of the first MULTI: the replica's offset and the stream it passes
// on stay the master's, byte for byte.
func TestReplicaProxyNestedMulti(t *testing.T) {
	h := startProxyHarness(t)
	ctx := context.Background()
	r := newClient2(t, h.ps.addr, 2)
	var all string
	for _, c := range []string{
		respCmd("MULTI"), respCmd("SET", "a", "1"), respCmd("MULTI"), respCmd("SET", "b", "2"), respCmd("EXEC"),
		respCmd("SET", "c", "3"),
	} {
		h.send(c)
		all += c
	}
	before := h.off
	h.send(respCmd("REPLCONF", "GETACK", "*"))
	all += respCmd("REPLCONF", "GETACK", "*")
	nextAck(t, h.nc, h.br, before)
	if v := r.Get(ctx, "a").Val(); v != "1" {
		t.Errorf("a = %q: the commands queued before the nested MULTI were lost", v)
	}
	h.expectSub(all)
}

// TestReplicaKeepsMasterTTLKeysFromSync: the keys with a TTL that a
// replica loads from its master's sync file are the master's: the
// replica's tick must not expire them (only the master's DEL removes
// them), or a command from the master that finds the key, as the master
// did, acts on nothing.
func TestReplicaKeepsMasterTTLKeysFromSync(t *testing.T) {
	ctx := context.Background()
	ps, nc, br := syncFromFakeMaster(t, "0123456789abcdef0123456789abcdef01234567", "ttlkey", "1", 700*time.Millisecond, "hz", "100")
	r := newClient2(t, ps.addr, 2)
	time.Sleep(1500 * time.Millisecond) // past the TTL, many ticks
	if n := r.Do(ctx, "dbsize").Val(); n != int64(1) {
		t.Errorf("DBSIZE %v past the TTL: the replica expired its master's key itself", n)
	}
	off := int64(1000)
	for _, c := range []string{respCmd("INCR", "ttlkey"), respCmd("PERSIST", "ttlkey")} {
		nc.Write([]byte(c))
		off += int64(len(c))
	}
	nc.Write([]byte(respCmd("REPLCONF", "GETACK", "*")))
	nextAck(t, nc, br, off)
	if v := r.Get(ctx, "ttlkey").Val(); v != "2" {
		t.Errorf("ttlkey = %q after the master's INCR and PERSIST, want 2", v)
	}
}

// TestPromotionLosesNoWriteForSubReplicas: the first writes clients make on
// a replica promoted by REPLICAOF NO ONE reach the replicas that follow it
// (they continue by the second ID): none lands between the end of the
// read-only state and the switch of the stream to the server's own.
func TestPromotionLosesNoWriteForSubReplicas(t *testing.T) {
	ctx := context.Background()
	srvs, cs := startServers(t, 3, 4)
	m, r, s := cs[0], cs[1], cs[2]
	m.Set(ctx, "seed", "1", 0)
	for trial := 0; trial < 6; trial++ {
		replicaOf(t, r, srvs[0].addr)
		sameHistory(t, "master and replica", m, r)
		if trial == 0 {
			replicaOf(t, s, srvs[1].addr)
		}
		sameHistory(t, "the chain", m, r, s)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				c := redis.NewClient(&redis.Options{Addr: srvs[1].addr, Protocol: 2, PoolSize: 1, MaxRetries: -1})
				defer c.Close()
				ok := 0
				for i := 0; ok < 20; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if c.Set(ctx, "w:"+strconv.Itoa(trial)+":"+strconv.Itoa(w)+":"+strconv.Itoa(i), "v", 0).Err() == nil {
						ok++
					}
				}
			}(w)
		}
		time.Sleep(5 * time.Millisecond)
		if err := r.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(stop)
		replConverge(t, srvs[1].addr, srvs[2].addr, r, s, "trial "+strconv.Itoa(trial))
	}
}

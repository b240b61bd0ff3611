package conn

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

func TestTxPipelinedAcrossShards(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			keys := keysOnDifferentShards(t, "tx:", 4, 8)
			cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range keys {
					p.Set(ctx, k, strconv.Itoa(i), 0)
				}
				p.MGet(ctx, keys...)
				p.Incr(ctx, keys[0])
				p.Ping(ctx)
				p.LPush(ctx, keys[1], "x") // WRONGTYPE: does not abort the others
				p.Get(ctx, keys[3])
				return nil
			})
			if err == nil || err.Error() != "WRONGTYPE Operation against a key holding the wrong kind of value" {
				t.Fatalf("TxPipelined error = %v, want the WRONGTYPE of LPUSH", err)
			}
			if len(cmds) != len(keys)+5 {
				t.Fatalf("%d replies", len(cmds))
			}
			vals := cmds[len(keys)].(*redis.SliceCmd).Val()
			for i, v := range vals {
				if v != strconv.Itoa(i) {
					t.Fatalf("MGET[%d] = %v", i, v)
				}
			}
			if n := cmds[len(keys)+1].(*redis.IntCmd).Val(); n != 1 {
				t.Fatalf("INCR = %d", n)
			}
			if s := cmds[len(keys)+2].(*redis.StatusCmd).Val(); s != "PONG" {
				t.Fatalf("PING = %q", s)
			}
			if s := cmds[len(keys)+4].(*redis.StringCmd).Val(); s != "3" {
				t.Fatalf("GET = %q", s)
			}
			// A transaction on one shard takes the batch path.
			cmds, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, keys[2])
				p.Incr(ctx, keys[2])
				p.Get(ctx, keys[2])
				return nil
			})
			if err != nil || cmds[2].(*redis.StringCmd).Val() != "4" {
				t.Fatalf("single-shard tx: %v %v", cmds, err)
			}
		})
	}
}

func TestTxWatchContention(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2 + w%2, PoolSize: 1})
			defer rdb.Close()
			for i := 0; i < each; i++ {
				for {
					err := rdb.Watch(ctx, func(tx *redis.Tx) error {
						n, err := tx.Get(ctx, "counter").Int()
						if err != nil && err != redis.Nil {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "counter", n+1, 0)
							return nil
						})
						return err
					}, "counter")
					if err == redis.TxFailedErr {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rdb := newClient2(t, addr, 2)
	if n, err := rdb.Get(ctx, "counter").Int(); err != nil || n != workers*each {
		t.Fatalf("counter = %d, %v; want %d", n, err, workers*each)
	}
}

func TestTxErrors(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", "1", 0)
		p.Do(ctx, "NOSUCHCMD")
		return nil
	})
	if err == nil || err.Error() != "EXECABORT Transaction discarded because of previous errors." {
		t.Fatalf("EXECABORT: %v", err)
	}
	if err := rdb.Get(ctx, "a").Err(); err != redis.Nil {
		t.Fatalf("GET a after EXECABORT: %v", err)
	}
	if err := rdb.Do(ctx, "EXEC").Err(); err == nil || err.Error() != "ERR EXEC without MULTI" {
		t.Fatalf("EXEC without MULTI: %v", err)
	}
	if err := rdb.Do(ctx, "DISCARD").Err(); err == nil || err.Error() != "ERR DISCARD without MULTI" {
		t.Fatalf("DISCARD without MULTI: %v", err)
	}
}

// watchThen runs WATCH key, then dirty (on another connection, or nothing),
// then MULTI; SET key v; EXEC, and reports whether EXEC ran.
func watchThen(t *testing.T, rdb *redis.Client, key string, dirty func()) bool {
	t.Helper()
	ctx := context.Background()
	err := rdb.Watch(ctx, func(tx *redis.Tx) error {
		dirty()
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, "mine", 0)
			return nil
		})
		return err
	}, key)
	if err == redis.TxFailedErr {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestTxWatchDirty(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	other := newClient2(t, addr, 3)
	if !watchThen(t, rdb, "w", func() {}) {
		t.Fatal("clean watch: EXEC aborted")
	}
	if watchThen(t, rdb, "w", func() { other.Set(ctx, "w", "theirs", 0) }) {
		t.Fatal("EXEC ran after another client's SET")
	}
	if v := other.Get(ctx, "w").Val(); v != "theirs" {
		t.Fatalf("w = %q", v)
	}
	// A write to another key, or a failed write, leaves the watch clean.
	if !watchThen(t, rdb, "w", func() {
		other.Set(ctx, "w2", "x", 0)
		other.SetNX(ctx, "w", "y", 0)
		other.Do(ctx, "LPUSH", "w", "z") // WRONGTYPE
	}) {
		t.Fatal("EXEC aborted without a change to w")
	}
	other.Set(ctx, "w", "x", 0)
	if watchThen(t, rdb, "w", func() { other.Del(ctx, "w") }) {
		t.Fatal("EXEC ran after DEL")
	}
	other.Set(ctx, "w", "x", 0)
	if watchThen(t, rdb, "w", func() {
		other.PExpire(ctx, "w", 10*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
	}) {
		t.Fatal("EXEC ran after the key expired")
	}
	other.Set(ctx, "w", "x", 0)
	if watchThen(t, rdb, "w", func() { other.FlushDB(ctx) }) {
		t.Fatal("EXEC ran after FLUSHDB")
	}
	other.Set(ctx, "w", "x", 0)
	other.Set(ctx, "w-src", "y", 0)
	if watchThen(t, rdb, "w", func() { other.Rename(ctx, "w-src", "w") }) {
		t.Fatal("EXEC ran after RENAME onto the key")
	}
	if watchThen(t, rdb, "w", func() { other.Do(ctx, "SWAPDB", 0, 1) }) {
		t.Fatal("EXEC ran after SWAPDB")
	}
	// A WATCH that ended (EXEC above) no longer aborts.
	if !watchThen(t, rdb, "w", func() {}) {
		t.Fatal("stale watch aborted EXEC")
	}
}

func TestTxTransfersConserveTotal(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	accounts := keysOnDifferentShards(t, "acct:", 8, 8)
	const initial = 1000
	setup := newClient2(t, addr, 2)
	for _, k := range accounts {
		setup.Set(ctx, k, initial, 0)
	}
	want := int64(initial * len(accounts))
	const writers, readers, iters = 6, 3, 150
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
			defer rdb.Close()
			for i := 0; i < iters; i++ {
				a := accounts[(w+i)%len(accounts)]
				b := accounts[(w+3*i+1)%len(accounts)]
				if a == b {
					continue
				}
				amt := int64(i%17 + 1)
				_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.DecrBy(ctx, a, amt)
					p.IncrBy(ctx, b, amt)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	var rwg sync.WaitGroup
	for r := 0; r < readers; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
			defer rdb.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				vals, err := rdb.MGet(ctx, accounts...).Result()
				if err != nil {
					errs <- err
					return
				}
				var sum int64
				for _, v := range vals {
					x, _ := strconv.ParseInt(v.(string), 10, 64)
					sum += x
				}
				if sum != want {
					errs <- errors.New("reader saw total " + strconv.FormatInt(sum, 10) + ", want " + strconv.FormatInt(want, 10))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestTxBlockedClientServedAfterExec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	a := newClient2(t, addr, 2)
	b := newClient2(t, addr, 2)
	waitBlocked := func() {
		t.Helper()
		for i := 0; i < 200; i++ {
			if n := countBlocked(t, b); n > 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("A never blocked")
	}

	// Pushed and popped inside one transaction: the waiter gets nothing.
	got := make(chan []string, 1)
	go func() {
		v, _ := a.BLPop(ctx, 300*time.Millisecond, "bk").Result()
		got <- v
	}()
	waitBlocked()
	cmds, err := b.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, "bk", "x")
		p.LPop(ctx, "bk")
		return nil
	})
	if err != nil || cmds[1].(*redis.StringCmd).Val() != "x" {
		t.Fatalf("tx: %v %v", cmds, err)
	}
	if v := <-got; v != nil {
		t.Fatalf("A received %v from a push popped inside the transaction", v)
	}

	// Pushed inside the transaction: the waiter gets it after EXEC.
	go func() {
		v, _ := a.BLPop(ctx, 5*time.Second, "bk").Result()
		got <- v
	}()
	waitBlocked()
	if _, err := b.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, "bk", "x")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if v := <-got; len(v) != 2 || v[1] != "x" {
		t.Fatalf("A received %v, want [bk x]", v)
	}
}

func countBlocked(t *testing.T, rdb *redis.Client) int {
	info, err := rdb.Info(context.Background(), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	const field = "blocked_clients:"
	for i := 0; i+len(field) <= len(info); i++ {
		if info[i:i+len(field)] == field {
			j := i + len(field)
			n := 0
			for j < len(info) && info[j] >= '0' && info[j] <= '9' {
				n = n*10 + int(info[j]-'0')
				j++
			}
			return n
		}
	}
	t.Fatal("no blocked_clients in INFO")
	return 0
}

// rawRoundTrip sends req and reads exactly len(want) reply bytes.
type rawConn struct {
	nc  net.Conn
	rd  *bufio.Reader
	buf []byte
}

func (r *rawConn) do(tb testing.TB, req []byte, n int) []byte {
	if _, err := r.nc.Write(req); err != nil {
		tb.Fatal(err)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r.rd, r.buf[:n]); err != nil {
		tb.Fatal(err)
	}
	return r.buf[:n]
}

func respCommands(cmds ...[]string) []byte {
	var b []byte
	for _, c := range cmds {
		b = append(b, '*')
		b = strconv.AppendInt(b, int64(len(c)), 10)
		b = append(b, "\r\n"...)
		for _, a := range c {
			b = append(b, '$')
			b = strconv.AppendInt(b, int64(len(a)), 10)
			b = append(b, "\r\n"...)
			b = append(b, a...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// sameShardKeys returns n keys owned by the same shard.
func sameShardKeys(n, shards int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := "same:" + strconv.Itoa(i)
		if shard.Owner([]byte(k), shards) == 0 {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestTxSingleShardAllocs checks that a transaction on one shard, which
// travels as one batch, allocates no more than the same commands
// pipelined.
func TestTxSingleShardAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are global")
	}
	_, addr := startServer(t, 8)
	k := sameShardKeys(2, 8)
	body := [][]string{{"SET", k[0], "v"}, {"GET", k[0]}, {"SET", k[1], "w"}, {"DEL", k[1]}, {"EXISTS", k[0]}}
	pipeReq := respCommands(body...)
	pipeReply := "+OK\r\n$1\r\nv\r\n+OK\r\n:1\r\n:1\r\n"
	txReq := respCommands(append(append([][]string{{"MULTI"}}, body...), []string{"EXEC"})...)
	txReply := "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*5\r\n" + pipeReply

	measure := func(req []byte, reply string) float64 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		r := &rawConn{nc: nc, rd: bufio.NewReaderSize(nc, 4096)}
		for i := 0; i < 50; i++ { // warm up buffers
			if got := r.do(t, req, len(reply)); string(got) != reply {
				t.Fatalf("reply %q, want %q", got, reply)
			}
		}
		return testing.AllocsPerRun(300, func() { r.do(t, req, len(reply)) })
	}
	pipe := measure(pipeReq, pipeReply)
	tx := measure(txReq, txReply)
	t.Logf("allocs per round trip: pipelined %.2f, transaction %.2f", pipe, tx)
	if tx > pipe+0.5 {
		t.Fatalf("single-shard EXEC allocates %.2f per round trip, pipelined %.2f", tx, pipe)
	}
}

func BenchmarkTxSingleShard(b *testing.B) {
	_, addr := startServer(b, 8)
	k := sameShardKeys(2, 8)
	body := [][]string{{"SET", k[0], "v"}, {"GET", k[0]}, {"SET", k[1], "w"}, {"DEL", k[1]}, {"EXISTS", k[0]}}
	pipeReply := "+OK\r\n$1\r\nv\r\n+OK\r\n:1\r\n:1\r\n"
	cases := []struct {
		name  string
		req   []byte
		reply string
	}{
		{"pipelined", respCommands(body...), pipeReply},
		{"multi-exec", respCommands(append(append([][]string{{"MULTI"}}, body...), []string{"EXEC"})...),
			"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*5\r\n" + pipeReply},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			r := &rawConn{nc: nc, rd: bufio.NewReaderSize(nc, 4096)}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r.do(b, bc.req, len(bc.reply))
			}
		})
	}
}

func TestTxLocalCommandsInsideExec(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "loc:", 3, 8)
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, keys[0], "a", 0)
		p.Info(ctx, "keyspace")
		p.Echo(ctx, "hi")
		p.MSet(ctx, keys[1], "b", keys[2], "c")
		p.DBSize(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := cmds[1].(*redis.StringCmd).Val(); s != "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n" {
		t.Fatalf("INFO inside EXEC = %q", s)
	}
	if n := cmds[4].(*redis.IntCmd).Val(); n != 3 {
		t.Fatalf("DBSIZE inside EXEC = %d", n)
	}
}

func TestTxWatchedKeyExpiresUntouched(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	rdb.Set(ctx, "ek", "v", 100*time.Millisecond)
	if watchThen(t, rdb, "ek", func() { time.Sleep(200 * time.Millisecond) }) {
		t.Fatal("EXEC ran although the watched key expired")
	}
}

func TestTxWatchAcrossShards(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	other := newClient2(t, addr, 2)
	keys := keysOnDifferentShards(t, "wx:", 3, 8)
	run := func(dirty func()) error {
		return rdb.Watch(ctx, func(tx *redis.Tx) error {
			dirty()
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, keys[1], "b", 0)
				p.Set(ctx, keys[2], "c", 0)
				return nil
			})
			return err
		}, keys[0])
	}
	if err := run(func() {}); err != nil {
		t.Fatalf("clean: %v", err)
	}
	if err := run(func() { other.Incr(ctx, keys[0]) }); err != redis.TxFailedErr {
		t.Fatalf("dirty watch on another shard: %v", err)
	}
	other.Del(ctx, keys[1], keys[2])
	if err := run(func() { other.Append(ctx, keys[0], "x") }); err != redis.TxFailedErr {
		t.Fatalf("dirty watch: %v", err)
	}
	if n := other.Exists(ctx, keys[1], keys[2]).Val(); n != 0 {
		t.Fatalf("aborted transaction wrote %d keys", n)
	}
}

// TestTxExecBusy: past busy-reply-threshold, as in Redis 7.0, MULTI is
// allowed, every command queued meanwhile is refused with BUSY, and EXEC
// (in MULTI or not) answers EXECABORT and discards the transaction.
func TestTxExecBusy(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	if err := admin.ConfigSet(ctx, "busy-reply-threshold", "100").Err(); err != nil {
		t.Fatal(err)
	}
	keys := keysOnDifferentShards(t, "txbusy:", 3, 8)
	runner := newClient2(t, addr, 2)
	done := make(chan error, 1)
	go func() { done <- runner.Eval(ctx, "local i = 0 while true do i = i + 1 end", keys[:1]).Err() }()
	killed := false
	t.Cleanup(func() {
		if !killed {
			admin.ScriptKill(ctx)
			<-done
		}
	})
	time.Sleep(300 * time.Millisecond)
	const busy = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
	const abort = "-EXECABORT Transaction discarded because of: " + busy
	_, do := psRaw(t, addr)
	for _, tx := range []string{
		"SET " + keys[0] + " v\r\n",                                // the script's shard
		"MSET " + keys[0] + " v " + keys[1] + " v\r\n",             // several shards
		"SET " + keys[1] + " v\r\nGET " + keys[2] + "\r\nPING\r\n", // shards it does not hold
	} {
		n := strings.Count(tx, "\r\n")
		want := "+OK\r\n" + strings.Repeat("-"+busy, n) + abort + abort
		if got := readAll(do, "MULTI\r\n"+tx+"EXEC\r\nEXEC\r\n", len(want)); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", tx, got, want)
		}
	}
	if err := admin.ScriptKill(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	<-done
	killed = true
	if got := readAll(do, "MULTI\r\nSET "+keys[0]+" v\r\nEXEC\r\n", 23); got != "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n" {
		t.Fatalf("EXEC after kill = %q", got)
	}
}

// readAll sends req with do and reads until it has n bytes.
func readAll(do func(string) string, req string, n int) string {
	got := do(req)
	for len(got) < n {
		got += do("")
	}
	return got
}

package conn

import (
	"context"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
)

func TestEvalAcrossShards(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			keys := keysOnDifferentShards(t, "ev:", 3, 8)
			if shard.Owner([]byte(keys[0]), 8) == shard.Owner([]byte(keys[1]), 8) {
				t.Fatal("keys share a shard")
			}
			src := "for i, k in ipairs(KEYS) do redis.call('set', k, ARGV[i]) end; return redis.call('mget', unpack(KEYS))"
			got, err := rdb.Eval(ctx, src, keys, "a", "b", "c").StringSlice()
			if err != nil || strings.Join(got, ",") != "a,b,c" {
				t.Fatalf("EVAL = %v, %v", got, err)
			}
			sha, err := rdb.ScriptLoad(ctx, "return redis.call('get', KEYS[1]) .. redis.call('get', KEYS[2])").Result()
			if err != nil {
				t.Fatal(err)
			}
			if v, err := rdb.EvalSha(ctx, sha, keys[:2]).Result(); err != nil || v != "ab" {
				t.Fatalf("EVALSHA = %v, %v", v, err)
			}
			if v, err := rdb.EvalShaRO(ctx, sha, keys[1:]).Result(); err != nil || v != "bc" {
				t.Fatalf("EVALSHA_RO = %v, %v", v, err)
			}
			// An undeclared key on a shard the script does not hold works,
			// as in standalone Redis (see conn/script/scope.go).
			if v, err := rdb.Eval(ctx, "return redis.call('get', ARGV[1])", keys[:1], keys[1]).Result(); err != nil || v != "b" {
				t.Fatalf("undeclared key: %v, %v", v, err)
			}
			// With no keys declared the script holds every shard.
			if v, err := rdb.Eval(ctx, "return redis.call('get', ARGV[1])", nil, keys[2]).Result(); err != nil || v != "c" {
				t.Fatalf("no-key script = %v, %v", v, err)
			}
			if err := rdb.EvalRO(ctx, "return redis.call('del', KEYS[1])", keys[:1]).Err(); err == nil ||
				!strings.HasPrefix(err.Error(), "ERR Write commands are not allowed from read-only scripts.") {
				t.Fatalf("EVAL_RO write: %v", err)
			}
			if err := rdb.EvalSha(ctx, strings.Repeat("0", 40), nil).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
				t.Fatalf("EVALSHA unknown: %v", err)
			}
			// RESP3 values from a script that asked for them.
			rdb.HSet(ctx, keys[0]+"h", "f", "v")
			v, err := rdb.Eval(ctx, "redis.setresp(3); return redis.call('hgetall', KEYS[1])", []string{keys[0] + "h"}).Result()
			if err != nil {
				t.Fatal(err)
			}
			if proto == 3 {
				if m, ok := v.(map[any]any); !ok || m["f"] != "v" {
					t.Fatalf("RESP3 map = %#v", v)
				}
			} else if s, ok := v.([]any); !ok || len(s) != 2 || s[0] != "f" {
				t.Fatalf("RESP2 flattened map = %#v", v)
			}
			if v, err := rdb.Eval(ctx, "return {double=1.5}", nil).Result(); err != nil || (v != 1.5 && v != "1.5") {
				t.Fatalf("double = %#v, %v", v, err)
			}
		})
	}
}

// Transfers between accounts on different shards run as scripts while
// readers take MGET snapshots: every snapshot sees the same total.
//
// The second form builds its key names inside the script from a prefix
// and ids passed in ARGV, as job-queue libraries do: only a counter is
// declared. It must be just as atomic.
func TestEvalTransfersConserveTotal(t *testing.T) {
	declared := redis.NewScript(`
local from = tonumber(redis.call('get', KEYS[1]))
local amount = tonumber(ARGV[1])
if from < amount then return 0 end
redis.call('decrby', KEYS[1], amount)
redis.call('incrby', KEYS[2], amount)
return 1`)
	computed := redis.NewScript(`
local from, to = ARGV[2] .. ARGV[3], ARGV[2] .. ARGV[4]
local amount = tonumber(ARGV[1])
if tonumber(redis.call('get', from)) < amount then return 0 end
redis.call('decrby', from, amount)
redis.call('incrby', to, amount)
redis.call('incr', KEYS[1])
return 1`)
	t.Run("declared", func(t *testing.T) {
		testTransfers(t, func(ctx context.Context, rdb *redis.Client, accounts []string, a, b, amount int) error {
			return declared.Run(ctx, rdb, []string{accounts[a], accounts[b]}, amount).Err()
		})
	})
	t.Run("computed", func(t *testing.T) {
		testTransfers(t, func(ctx context.Context, rdb *redis.Client, accounts []string, a, b, amount int) error {
			const prefix = "acct:"
			return computed.Run(ctx, rdb, []string{"transfers"}, amount, prefix, accounts[a][len(prefix):], accounts[b][len(prefix):]).Err()
		})
	})
}

func testTransfers(t *testing.T, transfer func(ctx context.Context, rdb *redis.Client, accounts []string, a, b, amount int) error) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	accounts := keysOnDifferentShards(t, "acct:", 8, 8)
	const start, total = 1000, 8000
	setup := newClient2(t, addr, 2)
	for _, a := range accounts {
		setup.Set(ctx, a, start, 0)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 16)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			defer rdb.Close()
			rng := rand.New(rand.NewSource(seed))
			for i := 0; i < 300; i++ {
				a, b := rng.Intn(8), rng.Intn(8)
				if a == b {
					continue
				}
				if err := transfer(ctx, rdb, accounts, a, b, rng.Intn(50)+1); err != nil {
					errs <- err.Error()
					return
				}
			}
		}(int64(w))
	}
	var readers sync.WaitGroup
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			defer rdb.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				vals, err := rdb.MGet(ctx, accounts...).Result()
				if err != nil {
					errs <- err.Error()
					return
				}
				sum := 0
				for _, v := range vals {
					n, _ := strconv.Atoi(v.(string))
					sum += n
				}
				if sum != total {
					errs <- "MGET saw total " + strconv.Itoa(sum)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestScriptKill(t *testing.T) {
	srv, addr := startServer(t, 4)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	if err := admin.ScriptKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOTBUSY") {
		t.Fatalf("SCRIPT KILL idle: %v", err)
	}
	// As in Redis, KILL reaches only a script past the threshold.
	if err := admin.ConfigSet(ctx, "busy-reply-threshold", "10").Err(); err != nil {
		t.Fatal(err)
	}
	runner := newClient2(t, addr, 2)
	done := make(chan error, 1)
	go func() { done <- runner.Eval(ctx, "local i = 0 while true do i = i + 1 end", []string{"k"}).Err() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := admin.ScriptKill(ctx).Err()
		if err == nil {
			break
		}
		if !strings.HasPrefix(err.Error(), "NOTBUSY") || time.Now().After(deadline) {
			t.Fatalf("SCRIPT KILL: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "Script killed by user") {
		t.Fatalf("killed script replied %v", err)
	}
	// A script that wrote cannot be killed.
	go func() {
		done <- runner.Eval(ctx, "redis.call('set', KEYS[1], 'x') local i = 0 while i >= 0 do i = i + 1 end", []string{"k"}).Err()
	}()
	for {
		err := admin.ScriptKill(ctx).Err()
		if err != nil && strings.HasPrefix(err.Error(), "UNKILLABLE") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SCRIPT KILL of a writer: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Let the test end: stop it through the engine.
	srv.scripts.KillAll()
	<-done
}

func TestEvalInsideMulti(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	keys := keysOnDifferentShards(t, "txev", 2, 8)
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, keys[0], "1", 0)
		p.Eval(ctx, "return redis.call('INCRBY', KEYS[1], 5) + redis.call('INCR', KEYS[2])", keys)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := cmds[1].(*redis.Cmd).Int64(); v != 7 {
		t.Fatalf("EVAL inside MULTI = %v, want 7", cmds[1])
	}
}

func TestScriptCannotAddLibraryFields(t *testing.T) {
	_, addr := startServer(t, 2)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	err := rdb.Eval(ctx, "string.foo = 1 return 1", nil).Err()
	if err == nil || !strings.Contains(err.Error(), "Attempt to modify a readonly table") {
		t.Fatalf("adding a field to string: err = %v", err)
	}
	for i := 0; i < 4; i++ { // every pooled VM
		if v, err := rdb.Eval(ctx, "return string.foo == nil", nil).Result(); err != nil || v != int64(1) {
			t.Fatalf("string.foo leaked to a later script: %v %v", v, err)
		}
	}
}

// A script that keeps to its KEYS holds only their shards once a run has
// shown it; when a later run needs another shard it takes it on the spot
// (a higher shard), starts again holding every shard (a lower one, before
// any write), or fails (a lower one after a write), and from then on holds
// every shard. See conn/script/scope.go.
func TestScriptLearnsWhichShardsItHolds(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	other := newClient2(t, addr, 2)
	k := keysOnShards(t, "learn", 8, 0, 3, 5, 7, 3, 0)
	for i, key := range k[:4] {
		rdb.Set(ctx, key, "v"+strconv.Itoa(i), 0)
	}
	const src = `
if ARGV[1] == 'spin' then
  local t0 = redis.call('time')
  repeat local t = redis.call('time') until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 300000
end
if ARGV[1] == 'write' then redis.call('incr', KEYS[2]) end
if ARGV[2] then return redis.call('get', ARGV[2]) end
return redis.call('get', KEYS[1])`
	script := func(tag string) *redis.Script { return redis.NewScript("-- " + tag + "\n" + src) }

	// Learned: a slow run holds shard 3 only; shard 5 keeps serving.
	s := script("narrow")
	if v, err := s.Run(ctx, rdb, []string{k[1]}, "no").Result(); err != nil || v != "v1" {
		t.Fatalf("first run = %v, %v", v, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rdb, []string{k[1]}, "spin").Err() }()
	time.Sleep(50 * time.Millisecond)
	if err := other.Set(ctx, k[2], "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("SET on another shard waited for the script (%v)", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A higher shard is borrowed during the run.
	if v, err := s.Run(ctx, rdb, []string{k[1]}, "no", k[3]).Result(); err != nil || v != "v3" {
		t.Fatalf("undeclared key on a higher shard = %v, %v", v, err)
	}

	// A lower shard before any write: the run starts again, unseen.
	s = script("restart")
	if err := s.Run(ctx, rdb, []string{k[3]}, "no").Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Run(ctx, rdb, []string{k[3]}, "no", k[0]).Result(); err != nil || v != "v0" {
		t.Fatalf("undeclared key on a lower shard = %v, %v", v, err)
	}

	// A lower shard after a write is waited for (bounded), and taken.
	s = script("late")
	declared := []string{k[3], k[4]} // k[4], the counter, is on shard 3 too
	if err := s.Run(ctx, rdb, declared, "no").Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Run(ctx, rdb, declared, "write", k[0]).Result(); err != nil || v != "v0" {
		t.Fatalf("lower shard after a write = %v, %v", v, err)
	}

	// Several shards above those held, named in descending order (7,
	// then 5), are taken after a write.
	const mset = "redis.call('incr', KEYS[1]) return redis.call('mset', ARGV[1], 'x', ARGV[2], 'y')"
	if err := redis.NewScript(mset).Run(ctx, rdb, []string{k[5]}, k[5], k[5]).Err(); err != nil {
		t.Fatal(err) // learned: keeps to KEYS
	}
	rdb.Del(ctx, k[5])
	if v, err := redis.NewScript(mset).Run(ctx, rdb, []string{k[5]}, k[3], k[2]).Result(); err != nil || v != "OK" {
		t.Fatalf("MSET on two higher shards after a write = %v, %v", v, err)
	}
	if n, _ := rdb.Get(ctx, k[4]).Int(); n != 1 {
		t.Fatalf("counter = %d, want 1", n)
	}
}

// A script that has written and needs a shard below those it holds waits
// at most script.LowerShardWait: when another script holds that shard, it fails
// (its write stays, as after any script error) and holds every shard next
// time.
func TestScriptGivesUpOnABusyLowerShard(t *testing.T) {
	old := script.LowerShardWait
	script.LowerShardWait = 50 * time.Millisecond
	t.Cleanup(func() { script.LowerShardWait = old })
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	k := keysOnShards(t, "giveup", 8, 0, 3, 3)
	const src = "redis.call('incr', KEYS[2]) if ARGV[1] then return redis.call('get', ARGV[1]) end return 'no'"
	s := redis.NewScript(src)
	if err := s.Run(ctx, rdb, []string{k[1], k[2]}).Err(); err != nil {
		t.Fatal(err)
	}
	holdShardWithScript(t, rdb, addr, k[0])
	err := s.Run(ctx, rdb, []string{k[1], k[2]}, k[0]).Err()
	if err == nil || !strings.Contains(err.Error(), "could not take after writing") {
		t.Fatalf("lower shard held by another script: %v", err)
	}
	if err := rdb.ConfigSet(ctx, "busy-reply-threshold", "10").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := rdb.Do(ctx, "FUNCTION", "KILL").Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); rdb.ConfigSet(ctx, "busy-reply-threshold", "5000").Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the killed function never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, err := s.Run(ctx, rdb, []string{k[1], k[2]}, k[0]).Result(); err != nil || v != nil && v != "" {
		if err != redis.Nil {
			t.Fatalf("the next run = %v, %v", v, err)
		}
	}
	if n, _ := rdb.Get(ctx, k[2]).Int(); n != 3 {
		t.Fatalf("counter = %d, want 3", n)
	}
}

// The error that restarts a script holding every shard must not reach an
// xpcall handler, which could write before the restart (the write would
// then happen twice, or where the script never wrote).
func TestScriptRestartSkipsXpcallHandlers(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	k := keysOnShards(t, "xp", 8, 0, 7)
	s := redis.NewScript(`if ARGV[1] == 'go' then
  xpcall(function() return redis.call('get', ARGV[2]) end, function(e) redis.call('incr', KEYS[1]) return e end)
end
return redis.call('get', KEYS[1])`)
	if err := s.Run(ctx, rdb, []string{k[1]}, "no").Err(); err != redis.Nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx, rdb, []string{k[1]}, "go", k[0]).Err(); err != redis.Nil {
		t.Fatalf("second run = %v, want nil: the GET never fails", err)
	}
	if n := rdb.Exists(ctx, k[1]).Val(); n != 0 {
		t.Fatal("the xpcall handler ran and wrote")
	}
}

// SCRIPT KILL and a script's first write race; one compare-and-swap
// decides, so a killed script never keeps a write: the sum stays 0.
func TestScriptKillNeverStopsAWriter(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	if err := admin.ConfigSet(ctx, "busy-reply-threshold", "0").Err(); err != nil {
		t.Fatal(err)
	}
	k := keysOnShards(t, "kr", 8, 2, 2)
	s := redis.NewScript("local i = 0 while i < tonumber(ARGV[1]) do i = i + 1 end redis.call('decrby', KEYS[1], 1) for j = 1, 2000 do end redis.call('incrby', KEYS[2], 1) return 1")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var killed, completed atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rdb := newClient2(t, addr, 2)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Run(ctx, rdb, k, (i*7+w)%3000).Err()
				switch {
				case err == nil:
					completed.Add(1)
				case strings.Contains(err.Error(), "killed"):
					killed.Add(1)
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			admin.ScriptKill(ctx)
		}
	}()
	// A second at least, and until both outcomes came: under -race on a
	// loaded machine a second saw no kill at all.
	time.Sleep(time.Second)
	for deadline := time.Now().Add(60 * time.Second); killed.Load() == 0 || completed.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	close(stop)
	wg.Wait()
	a, _ := admin.Get(ctx, k[0]).Int()
	b, _ := admin.Get(ctx, k[1]).Int()
	if a+b != 0 {
		t.Fatalf("%s + %s = %d + %d: a killed script kept a write", k[0], k[1], a, b)
	}
	if killed.Load() == 0 || b == 0 {
		t.Fatalf("%d scripts killed, %d completed: the race was not exercised", killed.Load(), b)
	}
}

// INFO is refused from scripts, unlike Redis. Allowing it made a script
// borrow the shards it does not hold while holding its own: two such
// scripts waited on each other (a bounded wait, about 200 ms per call),
// and a shard that stayed lent was left out of the key counts without a
// word. Until shards publish their counts without a loan, a script gets
// an error rather than a wrong figure.
func TestScriptCallsInfo(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	err := rdb.Eval(ctx, "return redis.call('info', 'keyspace')", nil).Err()
	if err == nil || !strings.Contains(err.Error(), "This Redis command is not allowed from script") {
		t.Fatalf("INFO from a script: %v", err)
	}
}

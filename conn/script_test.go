package conn

import (
	"context"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
			// An undeclared key on a shard the script does not hold fails.
			err = rdb.Eval(ctx, "return redis.call('get', ARGV[1])", keys[:1], keys[1]).Err()
			if err == nil || !strings.Contains(err.Error(), "pass every key a script uses in KEYS") {
				t.Fatalf("undeclared key: %v", err)
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
func TestEvalTransfersConserveTotal(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	accounts := keysOnDifferentShards(t, "acct:", 8, 8)
	const start, total = 1000, 8000
	setup := newClient2(t, addr, 2)
	for _, a := range accounts {
		setup.Set(ctx, a, start, 0)
	}
	transfer := redis.NewScript(`
local from = tonumber(redis.call('get', KEYS[1]))
local amount = tonumber(ARGV[1])
if from < amount then return 0 end
redis.call('decrby', KEYS[1], amount)
redis.call('incrby', KEYS[2], amount)
return 1`)
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
				if err := transfer.Run(ctx, rdb, []string{accounts[a], accounts[b]}, rng.Intn(50)+1).Err(); err != nil {
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
	srv.scripts.mu.Lock()
	for r := range srv.scripts.running {
		r.killed.Store(true)
		r.cancel()
	}
	srv.scripts.mu.Unlock()
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

package conn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

const testLib = `#!lua name=bank
local function move(keys, args)
  local amount = tonumber(args[1])
  redis.call('decrby', keys[1], amount)
  redis.call('incrby', keys[2], amount)
  return {redis.call('get', keys[1]), redis.call('get', keys[2])}
end
redis.register_function('move', move)
redis.register_function{function_name='total', callback=function(keys)
  local sum = 0
  for _, k in ipairs(keys) do sum = sum + tonumber(redis.call('get', k) or 0) end
  return sum
end, flags={'no-writes'}, description='sum of balances'}
redis.register_function{function_name='sneaky', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}
`

func TestFunctionsAcrossShards(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "fn:", 2, 8)
	if shard.Owner([]byte(keys[0]), 8) == shard.Owner([]byte(keys[1]), 8) {
		t.Fatal("keys share a shard")
	}
	if name, err := rdb.FunctionLoad(ctx, testLib).Result(); err != nil || name != "bank" {
		t.Fatalf("FUNCTION LOAD = %q, %v", name, err)
	}
	if err := rdb.FunctionLoad(ctx, testLib).Err(); err == nil || err.Error() != "ERR Library 'bank' already exists" {
		t.Fatalf("second LOAD: %v", err)
	}
	if err := rdb.FunctionLoadReplace(ctx, testLib).Err(); err != nil {
		t.Fatalf("LOAD REPLACE: %v", err)
	}
	rdb.Set(ctx, keys[0], 100, 0)
	rdb.Set(ctx, keys[1], 10, 0)
	got, err := rdb.FCall(ctx, "move", keys, 30).StringSlice()
	if err != nil || strings.Join(got, ",") != "70,40" {
		t.Fatalf("FCALL move = %v, %v", got, err)
	}
	if n, err := rdb.FCallRO(ctx, "TOTAL", keys).Int(); err != nil || n != 110 {
		t.Fatalf("FCALL_RO total = %v, %v", n, err)
	}
	if err := rdb.FCallRO(ctx, "move", keys, 1).Err(); err == nil || err.Error() != "ERR Can not execute a script with write flag using *_ro command." {
		t.Fatalf("FCALL_RO move: %v", err)
	}
	if err := rdb.FCall(ctx, "sneaky", keys[:1]).Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR Write commands are not allowed from read-only scripts. script: sneaky, on @user_function:") {
		t.Fatalf("no-writes function writing: %v", err)
	}
	if err := rdb.FCall(ctx, "nope", nil).Err(); err == nil || err.Error() != "ERR Function not found" {
		t.Fatalf("FCALL unknown: %v", err)
	}
	libs, err := rdb.FunctionList(ctx, redisFunctionListQuery("ba*", true)).Result()
	if err != nil || len(libs) != 1 || libs[0].Name != "bank" || len(libs[0].Functions) != 3 || libs[0].Code != testLib {
		t.Fatalf("FUNCTION LIST = %+v, %v", libs, err)
	}
	for _, f := range libs[0].Functions {
		if f.Name == "total" && (f.Description != "sum of balances" || len(f.Flags) != 1 || f.Flags[0] != "no-writes") {
			t.Fatalf("total = %+v", f)
		}
	}
	// Every pooled VM loads the library lazily; hammer it from several
	// connections so more than one VM runs it.
	done := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			c := newClient2(t, addr, 3)
			for j := 0; j < 50; j++ {
				if err := c.FCall(ctx, "move", keys, 1).Err(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := rdb.FCallRO(ctx, "total", keys).Int(); n != 110 {
		t.Fatalf("total after transfers = %d", n)
	}
	if err := rdb.FunctionDelete(ctx, "bank").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.FCall(ctx, "move", keys, 1).Err(); err == nil || err.Error() != "ERR Function not found" {
		t.Fatalf("FCALL after DELETE: %v", err)
	}
	if err := rdb.FunctionDelete(ctx, "bank").Err(); err == nil || err.Error() != "ERR Library not found" {
		t.Fatalf("DELETE twice: %v", err)
	}
	rdb.FunctionLoad(ctx, testLib)
	if err := rdb.FunctionFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if libs, _ := rdb.FunctionList(ctx, redisFunctionListQuery("", false)).Result(); len(libs) != 0 {
		t.Fatalf("after FLUSH: %+v", libs)
	}
}

func TestBusyAndKill(t *testing.T) {
	for _, kind := range []string{"eval", "function"} {
		t.Run(kind, func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			admin := newClient2(t, addr, 2)
			if err := admin.ConfigSet(ctx, "busy-reply-threshold", "100").Err(); err != nil {
				t.Fatal(err)
			}
			keys := keysOnDifferentShards(t, "busy:", 2, 8)
			runner := newClient2(t, addr, 2)
			done := make(chan error, 1)
			scriptKill := func(ctx context.Context) error { return admin.ScriptKill(ctx).Err() }
			functionKill := func(ctx context.Context) error { return admin.FunctionKill(ctx).Err() }
			kill, wrongKill, want := scriptKill, functionKill, "SCRIPT KILL"
			if kind == "eval" {
				go func() {
					done <- runner.Eval(ctx, "local i = 0 while true do i = i + 1 end", keys[:1]).Err()
				}()
			} else {
				kill, wrongKill, want = functionKill, scriptKill, "FUNCTION KILL"
				if err := admin.FunctionLoad(ctx, "#!lua name=spin\nredis.register_function('spin', function() local i = 0 while true do i = i + 1 end end)").Err(); err != nil {
					t.Fatal(err)
				}
				go func() { done <- runner.FCall(ctx, "spin", keys[:1]).Err() }()
			}
			time.Sleep(300 * time.Millisecond)
			other := newClient2(t, addr, 2)
			err := other.Get(ctx, keys[0]).Err()
			if err == nil || err.Error() != "BUSY Redis is busy running a script. You can only call "+want+" or SHUTDOWN NOSAVE." {
				t.Fatalf("GET on the busy shard: %v", err)
			}
			if err := other.MGet(ctx, keys...).Err(); err == nil || !strings.HasPrefix(err.Error(), "BUSY") {
				t.Fatalf("MGET across the busy shard: %v", err)
			}
			// Past the threshold, as in Redis, the whole server is busy:
			// shards the script does not hold, and commands that touch none.
			if err := other.Set(ctx, keys[1], "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "BUSY") {
				t.Fatalf("SET elsewhere: %v", err)
			}
			if err := other.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "BUSY") {
				t.Fatalf("PING: %v", err)
			}
			// As in Redis, the error names the kill for the kind that runs.
			if err := wrongKill(ctx); err == nil || err.Error() != "BUSY Redis is busy running a script. You can only call "+want+" or SHUTDOWN NOSAVE." {
				t.Fatalf("the other KILL: %v", err)
			}
			st, err := admin.Do(ctx, "FUNCTION", "STATS").Slice()
			if kind == "function" && (err != nil || len(st) != 4 || st[1] == nil) {
				t.Fatalf("FUNCTION STATS = %v, %v", st, err)
			}
			if kind == "eval" && (err == nil || !strings.HasPrefix(err.Error(), "BUSY")) {
				t.Fatalf("FUNCTION STATS during EVAL = %v, %v; want BUSY", st, err)
			}
			if err := kill(ctx); err != nil {
				t.Fatalf("KILL: %v", err)
			}
			if err := <-done; err == nil || !strings.Contains(err.Error(), "Script killed by user with SCRIPT KILL...") {
				t.Fatalf("killed script: %v", err)
			}
			if err := other.Get(ctx, keys[0]).Err(); err != nil && err.Error() != "redis: nil" {
				t.Fatalf("GET after kill: %v", err)
			}
			if err := kill(ctx); err == nil || err.Error() != "NOTBUSY No scripts in execution right now." {
				t.Fatalf("KILL when idle: %v", err)
			}
		})
	}
}

func redisFunctionListQuery(pattern string, withCode bool) redis.FunctionListQuery {
	return redis.FunctionListQuery{LibraryNamePattern: pattern, WithCode: withCode}
}

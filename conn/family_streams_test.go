package conn

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func streamMsgs(ids ...string) []redis.XMessage {
	out := make([]redis.XMessage, len(ids))
	for i, id := range ids {
		out[i] = redis.XMessage{ID: id, Values: map[string]any{"n": strconv.Itoa(i)}}
	}
	return out
}

func TestGoRedisStreamsFamily(t *testing.T) {
	const shards = 8
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, shards)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			k := keysOnDifferentShards(t, "s", 3, shards)

			// Explicit, partial and automatic IDs.
			for i, id := range []string{"1-1", "1-*", "2"} {
				got, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[0], ID: id, Values: []string{"n", strconv.Itoa(i)}}).Result()
				want := []string{"1-1", "1-2", "2-0"}[i]
				if err != nil || got != want {
					t.Fatalf("XADD %s = %q, %v; want %s", id, got, err, want)
				}
			}
			if _, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[0], ID: "2-0", Values: []string{"n", "x"}}).Result(); err == nil ||
				err.Error() != "ERR The ID specified in XADD is equal or smaller than the target stream top item" {
				t.Fatalf("XADD of an old ID: %v", err)
			}
			if _, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[1], ID: "0-0", Values: []string{"n", "x"}}).Result(); err == nil ||
				err.Error() != "ERR The ID specified in XADD must be greater than 0-0" {
				t.Fatalf("XADD 0-0: %v", err)
			}
			if n, _ := rdb.Exists(ctx, k[1]).Result(); n != 0 {
				t.Fatal("XADD 0-0 created the key")
			}
			auto, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[0], Values: []string{"n", "3"}}).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ms, _ := strconv.ParseInt(auto[:len(auto)-2], 10, 64); ms < time.Now().Add(-time.Minute).UnixMilli() {
				t.Fatalf("XADD * = %q", auto)
			}

			got, err := rdb.XRange(ctx, k[0], "-", "+").Result()
			if want := streamMsgs("1-1", "1-2", "2-0", auto); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("XRANGE = %v, %v; want %v", got, err, want)
			}
			got, err = rdb.XRevRangeN(ctx, k[0], "+", "(1-1", 2).Result()
			if want := []redis.XMessage{streamMsgs("1-1", "1-2", "2-0", auto)[3], streamMsgs("1-1", "1-2", "2-0")[2]}; err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("XREVRANGE COUNT 2 = %v, %v; want %v", got, err, want)
			}
			got, err = rdb.XRange(ctx, k[0], "(1-1", "(2-0").Result()
			if want := streamMsgs("1-1", "1-2")[1:]; err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("XRANGE (1-1 (2 = %v, %v", got, err)
			}
			if _, err := rdb.XRange(ctx, k[0], "(18446744073709551615-18446744073709551615", "+").Result(); err == nil ||
				err.Error() != "ERR invalid start ID for the interval" {
				t.Fatalf("XRANGE past the last ID: %v", err)
			}

			// XDEL updates the recorded first entry and max deleted ID.
			if n, err := rdb.XDel(ctx, k[0], "1-1", "9-9").Result(); err != nil || n != 1 {
				t.Fatalf("XDEL = %d, %v", n, err)
			}
			info, err := rdb.XInfoStream(ctx, k[0]).Result()
			if err != nil {
				t.Fatal(err)
			}
			if info.Length != 3 || info.MaxDeletedEntryID != "1-1" || info.RecordedFirstEntryID != "1-2" ||
				info.EntriesAdded != 4 || info.LastGeneratedID != auto || info.FirstEntry.ID != "1-2" || info.LastEntry.ID != auto {
				t.Fatalf("XINFO STREAM = %+v", info)
			}

			// Trimming.
			for i := 0; i < 300; i++ {
				if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[2], ID: strconv.Itoa(i+1) + "-0", Values: []string{"n", "v"}}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := rdb.XTrimMaxLenApprox(ctx, k[2], 250, 0).Result(); err != nil || n != 0 {
				t.Fatalf("XTRIM MAXLEN ~ 250 = %d, %v (no whole node)", n, err)
			}
			if n, err := rdb.XTrimMaxLenApprox(ctx, k[2], 150, 0).Result(); err != nil || n != 100 {
				t.Fatalf("XTRIM MAXLEN ~ 150 = %d, %v", n, err)
			}
			if n, err := rdb.XTrimMaxLen(ctx, k[2], 150).Result(); err != nil || n != 50 {
				t.Fatalf("XTRIM MAXLEN 150 = %d, %v", n, err)
			}
			if n, err := rdb.XTrimMinID(ctx, k[2], "201").Result(); err != nil || n != 50 {
				t.Fatalf("XTRIM MINID 201 = %d, %v", n, err)
			}
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[2], MaxLen: 10, ID: "301-0", Values: []string{"n", "v"}}).Err(); err != nil {
				t.Fatal(err)
			}
			if n, _ := rdb.XLen(ctx, k[2]).Result(); n != 10 {
				t.Fatalf("XLEN after XADD MAXLEN 10 = %d", n)
			}
			if _, err := rdb.Do(ctx, "XTRIM", k[2], "MAXLEN", "10", "LIMIT", "5").Result(); err == nil ||
				err.Error() != "ERR syntax error, LIMIT cannot be used without the special ~ option" {
				t.Fatalf("XTRIM LIMIT without ~: %v", err)
			}

			// XREAD across shards; $ reads nothing without BLOCK.
			res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{k[0], k[1], k[2], "0", "0", "300"}, Count: 1}).Result()
			want := []redis.XStream{
				{Stream: k[0], Messages: streamMsgs("1-1", "1-2")[1:]},
				{Stream: k[2], Messages: []redis.XMessage{{ID: "301-0", Values: map[string]any{"n": "v"}}}},
			}
			if err != nil || !reflect.DeepEqual(res, want) {
				t.Fatalf("XREAD = %v, %v; want %v", res, err, want)
			}
			if _, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{k[0], k[2], "$", "$"}, Block: -1}).Result(); err != redis.Nil {
				t.Fatalf("XREAD $ = %v", err)
			}

			// XSETID, WRONGTYPE, TYPE and COPY.
			if err := rdb.Do(ctx, "XSETID", k[0], "1-0").Err(); err == nil ||
				err.Error() != "ERR The ID specified in XSETID is smaller than the target stream top item" {
				t.Fatalf("XSETID backwards: %v", err)
			}
			if err := rdb.Do(ctx, "XSETID", k[0], "9999999999999-0", "ENTRIESADDED", "100", "MAXDELETEDID", "5-0").Err(); err != nil {
				t.Fatal(err)
			}
			if typ, _ := rdb.Type(ctx, k[0]).Result(); typ != "stream" {
				t.Fatalf("TYPE = %q", typ)
			}
			if n, err := rdb.Copy(ctx, k[0], k[1], 0, false).Result(); err != nil || n != 1 {
				t.Fatalf("COPY = %d, %v", n, err)
			}
			if err := rdb.XDel(ctx, k[0], "1-2").Err(); err != nil {
				t.Fatal(err)
			}
			if n, _ := rdb.XLen(ctx, k[1]).Result(); n != 3 {
				t.Fatalf("the copy changed with the original: XLEN %d", n)
			}
			info, err = rdb.XInfoStream(ctx, k[1]).Result()
			if err != nil || info.EntriesAdded != 100 || info.LastGeneratedID != "9999999999999-0" || info.MaxDeletedEntryID != "5-0" {
				t.Fatalf("XINFO of the copy = %+v, %v", info, err)
			}
			if err := rdb.Set(ctx, k[1], "x", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[1], Values: []string{"a", "b"}}).Err(); err == nil || err.Error()[:9] != "WRONGTYPE" {
				t.Fatalf("XADD on a string: %v", err)
			}
			if err := rdb.Rename(ctx, k[0], k[1]).Err(); err != nil {
				t.Fatal(err)
			}
			if n, _ := rdb.XLen(ctx, k[1]).Result(); n != 2 {
				t.Fatalf("XLEN after RENAME = %d", n)
			}
			var all []string
			for cursor := uint64(0); ; {
				keys, next, err := rdb.ScanType(ctx, cursor, "*", 1000, "stream").Result()
				if err != nil {
					t.Fatal(err)
				}
				all, cursor = append(all, keys...), next
				if cursor == 0 {
					break
				}
			}
			famSorted(t, "SCAN TYPE stream", all, nil, k[1], k[2])
			payload, err := rdb.Dump(ctx, k[1]).Result()
			if err != nil {
				t.Fatalf("DUMP: %v", err)
			}
			if err := rdb.Restore(ctx, k[0], 0, payload).Err(); err != nil {
				t.Fatalf("RESTORE: %v", err)
			}
			a, _ := rdb.Do(ctx, "XINFO", "STREAM", k[0], "FULL").Result()
			b, _ := rdb.Do(ctx, "XINFO", "STREAM", k[1], "FULL").Result()
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("restored stream %v, dumped %v", a, b)
			}
		})
	}
}

// TestStreamsWatchAndEvents: XADD touches a watched key; XDEL and XTRIM
// that remove nothing do not; the stream events come in Redis's order.
func TestStreamsWatchAndEvents(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
		t.Fatal(err)
	}
	sub := rdb.PSubscribe(ctx, "__keyevent@0__:*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	rdb.Do(ctx, "XADD", "w", "MAXLEN", "1", "1-1", "a", "b")
	rdb.Do(ctx, "XADD", "w", "MAXLEN", "1", "2-1", "a", "b")
	rdb.Do(ctx, "XDEL", "w", "9-9")
	rdb.Do(ctx, "XDEL", "w", "2-1")
	rdb.Do(ctx, "XTRIM", "w", "MAXLEN", "0")
	rdb.Do(ctx, "XSETID", "w", "5-5")
	var got []string
	for _, want := range []string{"xadd", "xadd", "xtrim", "xdel", "xsetid"} {
		msg, err := sub.ReceiveTimeout(ctx, 2*time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		m := msg.(*redis.Message)
		got = append(got, m.Channel[len("__keyevent@0__:"):])
		if got[len(got)-1] != want {
			t.Fatalf("events %v, want %s next", got, want)
		}
	}

	watch := func(cmd ...any) bool {
		err := rdb.Watch(ctx, func(tx *redis.Tx) error {
			if err := rdb.Do(ctx, cmd...).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() })
			return err
		}, "w")
		return err == redis.TxFailedErr
	}
	if !watch("XADD", "w", "6-0", "a", "b") {
		t.Fatal("XADD did not touch the watched key")
	}
	if watch("XDEL", "w", "1-0") {
		t.Fatal("an XDEL that deleted nothing touched the watched key")
	}
	if watch("XTRIM", "w", "MAXLEN", "5") {
		t.Fatal("an XTRIM that trimmed nothing touched the watched key")
	}
	if !watch("XDEL", "w", "6-0") {
		t.Fatal("XDEL did not touch the watched key")
	}
}

// stream-node-max-bytes and -entries at 2^63-1, the largest CONFIG SET
// accepts, mean no limit: a stream's 300 entries share one node
// (radix-tree-keys 1), as in redis-server 7.0.15, where the shard read the
// overflowed limit+1 as "not set" and used the defaults.
func TestStreamNodeLimitsAtMax(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	for _, name := range []string{"stream-node-max-bytes", "stream-node-max-entries"} {
		if err := rdb.ConfigSet(ctx, name, "9223372036854775807").Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 300; i++ {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"f", "v"}})
	}
	if got := rdb.XInfoStream(ctx, "s").Val().RadixTreeKeys; got != 1 {
		t.Fatalf("radix-tree-keys %d, want 1", got)
	}
}

package conn

import (
	"bufio"
	"bytes"
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// A swapdb payload cut at every byte, or with any one byte flipped, is
// refused by the parse into the link's own shards without a panic.
func TestDisklessPayloadEveryCut(t *testing.T) {
	payload := rdbOf(t, func(ctx context.Context, c *redis.Client) {
		c.Set(ctx, "s", "v", 0)
		c.Set(ctx, "n", "12345", 0)
		c.SetEx(ctx, "ttl", "v", 1000000000)
		c.RPush(ctx, "l", "a", "b", "c")
		c.SAdd(ctx, "set", "a", "b", 1)
		c.HSet(ctx, "h", "f", "v", "g", "w")
		c.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2.5, Member: "b"})
		c.XAdd(ctx, &redis.XAddArgs{Stream: "x", Values: []string{"f", "v"}})
		c.XGroupCreate(ctx, "x", "g", "0")
		c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"x", ">"}})
		c.Do(ctx, "SELECT", "3")
		loadLib(t, ctx, c, "x")
	})
	srv := New(Options{Shards: 2})
	keys := 0
	try := func(b []byte) error {
		loaded := srv.newLoadShards()
		keys = 0
		store := func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
			n, e, err := loaded[id].Load(es, now, false)
			keys += n
			return n, e, err
		}
		_, err := srv.parseRDB(bufio.NewReader(bytes.NewReader(b)), store, nil)
		return err
	}
	if err := try(payload); err != nil || keys != 8 {
		t.Fatalf("the whole payload: %d keys, %v", keys, err)
	}
	for cut := 0; cut < len(payload); cut++ {
		try(payload[:cut])
	}
	for i := 0; i < len(payload); i++ {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(payload)
			b[i] ^= x
			try(b)
		}
	}
}

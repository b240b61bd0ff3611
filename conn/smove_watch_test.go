package conn

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestSMoveUnchangedDestination: an SMOVE whose member is already in the
// destination, or whose source is its destination, leaves the destination
// as it was. Redis then does not dirty a WATCH on it (Redis's "SMOVE only
// notify dstset when the addition is successful"). Pairs of keys on one
// shard and on two.
func TestSMoveUnchangedDestination(t *testing.T) {
	ctx := context.Background()
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	other := newClient2(t, addr, 2)
	for _, pair := range [][2]string{{"srcset{t}", "dstset{t}"}, {"a", "b"}, {"a", "c"}, {"x", "y"}} {
		src, dst := pair[0], pair[1]
		rdb.Del(ctx, src, dst)
		rdb.SAdd(ctx, src, "a", "b")
		rdb.SAdd(ctx, dst, "a")
		for _, move := range [][2]string{{src, dst}, {dst, dst}} {
			err := rdb.Watch(ctx, func(tx *redis.Tx) error {
				if ok := other.SMove(ctx, move[0], move[1], "a").Val(); !ok {
					t.Errorf("SMOVE %s %s a = false", move[0], move[1])
				}
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.SAdd(ctx, dst, "c")
					return nil
				})
				return err
			}, dst)
			if err != nil {
				t.Errorf("SMOVE %s %s a (a already in %s) dirtied the WATCH on it: %v", move[0], move[1], dst, err)
			}
			if n := rdb.SCard(ctx, dst).Val(); n != 2 {
				t.Errorf("SCARD %s = %d, want 2", dst, n)
			}
			rdb.SRem(ctx, dst, "c")
			rdb.SAdd(ctx, src, "a")
		}
	}
}

// TestNotifySMoveUnchangedDestination: no "sadd" for a destination that
// had the member; nothing at all when the source is the destination; and
// Redis's order when the source empties and the destination is created
// (recorded from redis-server 7.0.15).
func TestNotifySMoveUnchangedDestination(t *testing.T) {
	rdb, _, expect := notifyHarness(t)
	doAll(t, rdb, []any{"SADD", "src", "a", "b"}, []any{"SADD", "dst", "a"})
	expect("0 new src", "0 sadd src", "0 new dst", "0 sadd dst")
	doAll(t, rdb, []any{"SMOVE", "src", "dst", "a"})
	expect("0 srem src")
	doAll(t, rdb, []any{"SMOVE", "dst", "dst", "a"})
	expect()
	doAll(t, rdb, []any{"SMOVE", "src", "newdst", "b"})
	expect("0 srem src", "0 del src", "0 new newdst", "0 sadd newdst")
}

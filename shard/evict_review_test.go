package shard

import (
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// A blocked BLMOVE served where it waits pushes onto its destination; the
// destination must be measured again like any written key, or a list fed
// by served moves grows while used_memory does not.
func TestServedMoveAccountsDestination(t *testing.T) {
	s := New(0)
	run(t, s, 1000, "RPUSH", "dst", "seed")
	val := strings.Repeat("x", 10000)
	for i := 0; i < 50; i++ {
		move := newMoveWaiter(bargs("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"))
		c := Ctx{self: s, NumShards: 1, Proto: wire.RESP2, Waiter: move}
		c.block()
		if !move.DstLocal {
			t.Fatal("DstLocal not set on one shard")
		}
		run(t, s, 1000, "LPUSH", "src", val)
		select {
		case wk := <-move.Woken:
			if wk.Retry {
				t.Fatal("retry on one shard")
			}
		default:
			t.Fatal("move not served")
		}
	}
	db := &s.dbs[0]
	e := db.objs["dst"]
	fresh := objEntry{v: e.v}
	fresh.account(len("dst"))
	if e.size != fresh.size {
		t.Fatalf("dst recorded at %d bytes, estimated at %d", e.bytes(), fresh.bytes())
	}
	if db.used != expectedUsed(db) {
		t.Fatalf("db accounts %d, its keys %d", db.used, expectedUsed(db))
	}
}

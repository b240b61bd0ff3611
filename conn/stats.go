package conn

import (
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// ShardStats is a snapshot of one shard, for INFO.
type ShardStats struct {
	ID          int
	Keys        [shard.NumDBs]int
	Expires     [shard.NumDBs]int
	Processed   uint64
	ExpiredKeys uint64
	EvictedKeys uint64
	Hits        uint64 // keyspace_hits
	Misses      uint64 // keyspace_misses
	Pending     int    // messages waiting in the mailbox
}

// statsWait bounds the wait for a shard out of ascending order (see
// shardStats).
const statsWait = 100 * time.Millisecond

// ShardStats borrows each shard in turn, never two at once, and copies
// its counters. Shards that have stopped are skipped.
func (s *Server) ShardStats() []ShardStats { return s.shardStats(nil) }

// shardStats is ShardStats for a caller that may already hold some shards
// (INFO inside EXEC): held[i], when not nil, is read instead of borrowed.
//
// A caller holding shards (EXEC, a script) must not wait for a shard below
// one it holds: that shard's borrower may be waiting for one of the
// caller's. Such a shard is waited for at most statsWait and left out if
// it stays lent.
func (s *Server) shardStats(held []*shard.Shard) []ShardStats {
	out := make([]ShardStats, 0, len(s.workers))
	s.eachShard(held, func(sh *shard.Shard) {
		st := ShardStats{ID: sh.ID, Pending: s.workers[sh.ID].Pending()}
		for db := 0; db < shard.NumDBs; db++ {
			st.Keys[db] = sh.DB(db).Len()
			st.Expires[db] = sh.DB(db).Expires()
		}
		st.Processed, st.ExpiredKeys, st.EvictedKeys = sh.Processed, sh.ExpiredKeys, sh.EvictedKeys()
		st.Hits, st.Misses = sh.KeyspaceHits, sh.KeyspaceMisses
		out = append(out, st)
	})
	return out
}

// eachShard calls fn with each shard in turn, borrowed for the call (or
// read from held, as shardStats explains), in ascending order. Shards that
// have stopped, or stay lent past statsWait below a held one, are skipped.
func (s *Server) eachShard(held []*shard.Shard, fn func(*shard.Shard)) {
	s.eachShardWhere(held, nil, fn)
}

// eachShardWhere is eachShard for the shards whose index want accepts
// (all when want is nil).
func (s *Server) eachShardWhere(held []*shard.Shard, want func(int) bool, fn func(*shard.Shard)) {
	top := -1
	for i, sh := range held {
		if sh != nil {
			top = i
		}
	}
	for i, w := range s.workers {
		if want != nil && !want(i) {
			continue
		}
		if i < len(held) && held[i] != nil {
			fn(held[i])
			continue
		}
		loan := shard.NewLoan() // one per worker: see shard.Loan
		var sh *shard.Shard
		var err error
		if i < top {
			sh, err = w.BorrowWithin(loan, statsWait)
		} else {
			sh, err = w.Borrow(loan)
		}
		if err != nil || sh == nil {
			continue
		}
		fn(sh)
		loan.Return()
	}
}

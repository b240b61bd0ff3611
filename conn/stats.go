package conn

import "github.com/valkyrie-kv/valkyrie/shard"

// ShardStats is a snapshot of one shard, for INFO.
type ShardStats struct {
	ID          int
	Keys        [shard.NumDBs]int
	Expires     [shard.NumDBs]int
	Processed   uint64
	ExpiredKeys uint64
	Pending     int // messages waiting in the mailbox
}

// ShardStats borrows each shard in turn, never two at once, and copies
// its counters. Shards that have stopped are skipped.
func (s *Server) ShardStats() []ShardStats { return s.shardStats(nil) }

// shardStats is ShardStats for a caller that may already hold some shards
// (INFO inside EXEC): held[i], when not nil, is read instead of borrowed.
func (s *Server) shardStats(held []*shard.Shard) []ShardStats {
	out := make([]ShardStats, 0, len(s.workers))
	for i, w := range s.workers {
		st := ShardStats{ID: i, Pending: w.Pending()}
		sh, lent := (*shard.Shard)(nil), false
		var loan *shard.Loan
		if i < len(held) && held[i] != nil {
			sh = held[i]
		} else {
			var err error
			loan = shard.NewLoan() // one per worker: see shard.Loan
			if sh, err = w.Borrow(loan); err != nil {
				continue
			}
			lent = true
		}
		for db := 0; db < shard.NumDBs; db++ {
			st.Keys[db] = sh.DB(db).Len()
			st.Expires[db] = sh.DB(db).Expires()
		}
		st.Processed, st.ExpiredKeys = sh.Processed, sh.ExpiredKeys
		if lent {
			loan.Return()
		}
		out = append(out, st)
	}
	return out
}

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
func (s *Server) ShardStats() []ShardStats {
	out := make([]ShardStats, 0, len(s.workers))
	loan := shard.NewLoan()
	for i, w := range s.workers {
		st := ShardStats{ID: i, Pending: w.Pending()}
		sh, err := w.Borrow(loan)
		if err != nil {
			continue
		}
		for db := 0; db < shard.NumDBs; db++ {
			st.Keys[db] = sh.DB(db).Len()
			st.Expires[db] = sh.DB(db).Expires()
		}
		st.Processed, st.ExpiredKeys = sh.Processed, sh.ExpiredKeys
		loan.Return()
		out = append(out, st)
	}
	return out
}

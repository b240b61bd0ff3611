package shard

// A replica's diskless load with repl-diskless-load swapdb fills shards of
// its own (New, never started: the loading goroutine owns them) while the
// live ones go on serving, then puts their databases in place of the live
// ones in one run with every shard held (Across.Adopt). What clients see
// is what a FLUSHALL followed by the load would leave: WATCHed keys that
// existed before or after are touched, tracking clients are told that
// everything changed, SCAN cursors start over, and clients blocked on a
// key that now exists are served. The old databases go to the loaded
// shards, which the caller drops.

// Adopt exchanges the data of each shard of the run (all of them) with
// that of loaded[ID], database by database, as SWAPDB does. The caller
// began the run with every shard; End serves the clients the new keys
// unblock.
func (a *Across) Adopt(loaded []*Shard) {
	c := &a.c
	var shared *TrackingTable
	for _, s := range c.shards {
		if s == nil || s.ID >= len(loaded) || loaded[s.ID] == nil {
			continue
		}
		in := loaded[s.ID]
		// A snapshot would find keys it never saw: none may run, and the
		// loaded keys carry the loaded shard's mark, which becomes the
		// shard's (every key of the shard is one of them now).
		s.AbortSnapshot()
		for i := range s.dbs {
			db := &s.dbs[i]
			if len(db.objs) > 0 {
				db.flushedAt = db.goneStamp() // every stream went (stream_gone.go)
			}
			db.swapData(&in.dbs[i], c.Now)
			db.replicaTTLs = nil // the client TTLs went with the old keys
			for k := range db.waiters {
				if db.exists([]byte(k)) {
					c.signalAt(i, []byte(k))
				}
			}
		}
		s.snapMark = in.snapMark
		s.pool = s.pool[:0] // eviction candidates of the old keys
		if s.trk.shared != nil {
			s.trk.flushed()
			shared = s.trk.shared
		}
		s.publishMem()
	}
	if shared != nil && shared.Flushed != nil {
		shared.Flushed()
	}
}

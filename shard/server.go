package shard

func init() {
	register(
		&Command{Spec: Spec{Name: "dbsize", Arity: 1, Flags: ReadOnly | Fast | AllShards,
			Group: "server", Since: "1.0.0", Summary: "Returns the number of keys in the database.",
			Complexity: "O(1)", ACL: []string{"keyspace"}}, Run: cmdDBSize},
		&Command{Spec: Spec{Name: "flushdb", Arity: -1, Flags: Write | AllShards,
			Group: "server", Since: "1.0.0", Summary: "Remove all keys from the current database.",
			Complexity: "O(N) where N is the number of keys in the selected database",
			Syntax:     "[ASYNC|SYNC]", ACL: []string{"keyspace", "dangerous"}}, Run: cmdFlushDB},
		&Command{Spec: Spec{Name: "flushall", Arity: -1, Flags: Write | AllShards,
			Group: "server", Since: "1.0.0", Summary: "Removes all keys from all databases.",
			Complexity: "O(N) where N is the total number of keys in all databases",
			Syntax:     "[ASYNC|SYNC]", ACL: []string{"keyspace", "dangerous"}}, Run: cmdFlushAll},
	)
}

func cmdDBSize(c *Ctx) {
	var n int
	c.eachDB(func(db *DB) { n += db.Len() })
	c.Int(int64(n))
}

// flushMode validates the optional ASYNC|SYNC argument and reports
// whether the flush is lazy: ASYNC, or neither with
// lazyfree-lazy-user-flush set.
func (c *Ctx) flushMode() (ok, async bool) {
	switch {
	case len(c.Args) == 1:
		s := c.self
		if s == nil {
			for _, sh := range c.shards {
				if sh != nil {
					s = sh
					break
				}
			}
		}
		return true, s != nil && s.lazy != nil && s.lazy.UserFlush.Load()
	case len(c.Args) == 2 && equalFold(c.Args[1], "async"):
		return true, true
	case len(c.Args) == 2 && equalFold(c.Args[1], "sync"):
		return true, false
	}
	c.Error(ErrSyntax)
	return false, false
}

func cmdFlushDB(c *Ctx) {
	if ok, async := c.flushMode(); ok {
		c.eachDB(func(db *DB) { db.flushMaybeAsync(async) })
		c.trackingFlushed()
		c.OK()
	}
}

func cmdFlushAll(c *Ctx) {
	if ok, async := c.flushMode(); ok {
		c.eachShard(func(s *Shard) {
			for i := range s.dbs {
				s.dbs[i].flushMaybeAsync(async)
			}
		})
		c.trackingFlushed()
		c.OK()
	}
}

func (db *DB) flushMaybeAsync(async bool) {
	if async {
		db.flushAsync()
	} else {
		db.flush()
	}
}

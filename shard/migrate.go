package shard

import "github.com/valkyrie-kv/valkyrie/wire"

// What MIGRATE (package conn) needs from the keyspace, and RESTORE-ASKING,
// the RESTORE that a cluster's MIGRATE sends.

func init() {
	restore := table["restore"]
	register(&Command{Spec: Spec{Name: "restore-asking", Arity: -4, Flags: Write | DenyOOM | Asking,
		FirstKey: 1, LastKey: 1, Step: 1, Group: "server", Since: "3.0.0",
		Summary:    "An internal command for migrating keys in a cluster",
		Complexity: restore.Complexity, Syntax: restore.Syntax,
		ACL: []string{"keyspace", "dangerous"}}, Run: cmdRestore})
}

// Dump serializes key of database db for MIGRATE during a run (between
// Begin and End; the key's owner must be among the run's shards): the
// payload DUMP would reply and the key's expiry in Unix milliseconds, 0
// when it has none. found is false when the key does not exist (an
// expired key is removed first, as any read does). payload is nil for a
// value DUMP cannot serialize.
func (a *Across) Dump(db int, key []byte) (payload []byte, expireAt int64, found bool) {
	c := &a.c
	c.DB = db
	v, ok := c.lookup(key)
	if !ok {
		return nil, 0, false
	}
	at, _ := c.db(key).ttl(key)
	return dumpValue(v), at, true
}

// Now is the time in Unix milliseconds that the run's commands see.
func (a *Across) Now() int64 { return a.c.Now }

// Delete removes the keys of database db that MIGRATE moved, during a run,
// as DEL would (WATCH, keyspace events, blocked clients), but as Redis's
// MIGRATE deletes them itself: no DEL call in INFO commandstats or
// total_commands_processed.
func (a *Across) Delete(db int, keys [][]byte) {
	args := make([][]byte, 0, len(keys)+1)
	args = append(args, []byte("DEL"))
	args = append(args, keys...)
	a.quiet = true
	defer func() { a.quiet = false }()
	a.Run(table["del"], args, nil, nil, db, wire.RESP2, nil)
	a.n--
}

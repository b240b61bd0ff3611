package shard

// Expiry on a replica. A replica never expires its master's keys: the
// master sends a DEL when one expires there, so both hold the same keys
// (the server sets the expiry pause while it is a replica). A key whose
// TTL has passed still reads as gone, and a write that finds one deletes
// it first and starts afresh (DB.expired, writeCall), as Redis's replica
// does. Keys that clients gave a TTL on a writable replica
// (replica-read-only no) are the replica's own: no master will delete
// them, so it remembers them and its tick expires them, as Redis's
// expireSlaveKeys.

// replicaTTLBatch bounds the remembered keys one tick looks at per
// database.
const replicaTTLBatch = 1000

// rememberReplicaTTL notes that a client gave key a TTL on a replica.
func (db *DB) rememberReplicaTTL(key []byte) {
	if db.replicaTTLs == nil {
		db.replicaTTLs = make(map[string]struct{})
	}
	db.replicaTTLs[string(key)] = struct{}{}
}

// expireReplicaKeys removes the remembered keys whose TTL has passed and
// forgets those that no longer have one.
func (s *Shard) expireReplicaKeys(now int64) {
	for i := range s.dbs {
		db := &s.dbs[i]
		n := 0
		for k := range db.replicaTTLs {
			if n++; n > replicaTTLBatch {
				break
			}
			at, ok := db.expires[k]
			if !ok {
				delete(db.replicaTTLs, k)
				continue
			}
			if at > now {
				continue
			}
			delete(db.replicaTTLs, k)
			db.expireNow(k)
			s.ExpiredKeys++
		}
	}
}

// forgetReplicaTTLs drops what a replica remembered: a master expires
// every key itself.
func (s *Shard) forgetReplicaTTLs() {
	for i := range s.dbs {
		if s.dbs[i].replicaTTLs != nil {
			s.dbs[i].replicaTTLs = nil
		}
	}
}

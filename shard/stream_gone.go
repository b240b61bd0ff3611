package shard

import "time"

// Streams that went away under a late XREAD or XREADGROUP.
//
// In Redis, client A's XREADGROUP BLOCK that arrived before client B's DEL
// of the stream blocks first and is then unblocked by the DEL with
// "UNBLOCKED the stream key no longer exists"; A's XREAD BLOCK stays
// blocked when B replaces the stream with a string, and is served by the
// next stream created there. Here B's goroutine may reach the shard first
// (see arrival.go); A would then answer NOGROUP or WRONGTYPE as if it had
// come last. So the shard remembers, for a short while, when a stream was
// deleted or replaced, and a blocking read that arrived before that
// behaves as Redis would have.

// goneFor is how long a stream's removal is remembered, and goneMax how
// many removals a database keeps at most; both only bound a race window.
const (
	goneFor = time.Second
	goneMax = 1024
)

// noteGone records that key, a stream, is being deleted or replaced by
// the running command.
func (db *DB) noteGone(key string) {
	at := db.goneStamp()
	if db.gone == nil {
		db.gone = make(map[string]int64)
	}
	if len(db.gone) >= goneMax {
		db.pruneGone(at)
		if len(db.gone) >= goneMax {
			clear(db.gone)
		}
	}
	db.gone[key] = at
}

// goneStamp is the time a removal is recorded at: the arrival time of the
// command running, else now.
func (db *DB) goneStamp() int64 {
	if db.sh != nil && db.sh.stamp != 0 {
		return db.sh.stamp
	}
	return time.Now().UnixNano()
}

// pruneGone forgets removals older than goneFor at Unix ns now.
func (db *DB) pruneGone(now int64) {
	for k, at := range db.gone {
		if now-at >= int64(goneFor) || at-now >= int64(goneFor) {
			delete(db.gone, k)
		}
	}
	if len(db.gone) == 0 {
		db.gone = nil
	}
}

// isStream reports whether v is a stream.
func isStream(v any) bool {
	_, ok := v.(*Stream)
	return ok
}

// hasGroupNamed reports whether v is a stream with the consumer group.
func hasGroupNamed(v any, group []byte) bool {
	s, ok := v.(*Stream)
	return ok && s.group(group) != nil
}

// streamWentAway reports whether a blocking read of key arrived before a
// stream there was removed, so that in Redis it blocked first.
func (c *Ctx) streamWentAway(key []byte) bool {
	w := c.Waiter
	if w == nil || w.Since == 0 || w.Retried {
		return false
	}
	db := c.db(key)
	// A flush removed every stream without a record each: a flush after
	// the read arrived counts for any key.
	at := max(db.gone[string(key)], db.flushedAt)
	return at > w.Since && at-w.Since < int64(goneFor)
}

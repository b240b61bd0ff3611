package shard

import "time"

// Streams that went away under a late XREADGROUP.
//
// In Redis, client A's XREADGROUP BLOCK that arrived before client B's DEL
// of the stream blocks first and is then unblocked by the DEL with
// "UNBLOCKED the stream key no longer exists". Here B's goroutine may reach
// the shard first (see arrival.go); A would then find no stream and answer
// NOGROUP as if it had come last. So the shard remembers, for a short
// while, when a stream holding consumer groups was deleted or replaced, and
// a blocking XREADGROUP that arrived before that answers as Redis would
// have.

// goneFor is how long a stream's removal is remembered, and goneMax how
// many removals a database keeps at most; both only bound a race window.
const (
	goneFor = time.Second
	goneMax = 1024
)

// noteGone records that key, a stream with consumer groups, is being
// deleted or replaced by the running command.
func (db *DB) noteGone(key string) {
	at := time.Now().UnixNano()
	if db.sh != nil && db.sh.stamp != 0 {
		at = db.sh.stamp
	}
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

// hasGroups reports whether v is a stream with consumer groups.
func hasGroups(v any) bool {
	s, ok := v.(*Stream)
	return ok && len(s.groups) > 0
}

// hasGroupNamed reports whether v is a stream with the consumer group.
func hasGroupNamed(v any, group []byte) bool {
	s, ok := v.(*Stream)
	return ok && s.group(group) != nil
}

// streamWentAway reports whether a blocking XREADGROUP on key must answer
// that the stream no longer exists: a stream with groups was removed there
// after the command arrived, so in Redis the command blocked first.
func (c *Ctx) streamWentAway(key []byte) bool {
	w := c.Waiter
	if w == nil || w.Since == 0 || w.Retried {
		return false
	}
	db := c.db(key)
	at, ok := db.gone[string(key)]
	return ok && at > w.Since && at-w.Since < int64(goneFor)
}

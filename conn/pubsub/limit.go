package pubsub

import (
	"strconv"
	"strings"
	"time"
)

// Limit is the pubsub class of client-output-buffer-limit: a hard limit in
// bytes, and a soft limit in bytes that may be passed for at most SoftSecs
// seconds. 0 disables a limit.
type Limit struct {
	Hard, Soft, SoftSecs int64
}

// reached reports whether pending queued bytes pass the limit, as Redis's
// checkClientOutputBufferLimits decides at each append: the hard limit at
// once, the soft limit once it has been passed continuously for more than
// SoftSecs (whole seconds, as Redis counts them). since is the queue's
// record of when it passed the soft limit, updated here; the clock is read
// only while the queue is over the soft limit.
func (l *Limit) reached(pending int64, since *int64) bool {
	if l.Hard > 0 && pending > l.Hard {
		return true
	}
	if l.Soft <= 0 || pending < l.Soft {
		*since = 0
		return false
	}
	now := time.Now().Unix()
	if *since == 0 {
		*since = now
		return false
	}
	return now-*since > l.SoftSecs
}

// Reached is reached for a caller that keeps its own record of when it
// passed the soft limit (a normal client's output, conn).
func (l *Limit) Reached(pending int64, since *int64) bool { return l.reached(pending, since) }

// ParseLimit reads the pubsub class from a client-output-buffer-limit
// value; Redis's default if the value has none.
func ParseLimit(v string) *Limit {
	if l := ParseClassLimit(v, "pubsub"); l != nil {
		return l
	}
	return &Limit{Hard: 32 << 20, Soft: 8 << 20, SoftSecs: 60}
}

// ParseClassLimit reads one class (normal, replica, pubsub) from a
// client-output-buffer-limit value, or returns nil if it has none.
func ParseClassLimit(v, class string) *Limit {
	f := strings.Fields(v)
	for i := 0; i+3 < len(f); i += 4 {
		if f[i] == class || class == "replica" && f[i] == "slave" {
			var l Limit
			l.Hard, _ = strconv.ParseInt(f[i+1], 10, 64)
			l.Soft, _ = strconv.ParseInt(f[i+2], 10, 64)
			l.SoftSecs, _ = strconv.ParseInt(f[i+3], 10, 64)
			return &l
		}
	}
	return nil
}

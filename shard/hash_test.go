package shard

// hashOf builds a hash of alternating fields and values with Redis's
// default limits.
func hashOf(pairs ...string) *Hash {
	h := newHash(len(pairs) / 2)
	for i := 0; i+1 < len(pairs); i += 2 {
		h.setString(pairs[i], pairs[i+1], defaultHashLimits)
	}
	return h
}

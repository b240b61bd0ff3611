package config

import "github.com/valkyrie-kv/valkyrie/shard/glob"

// Match is glob.Match, kept here for callers that match parameter names.
func Match(pattern, s string, nocase bool) bool { return glob.Match(pattern, s, nocase) }

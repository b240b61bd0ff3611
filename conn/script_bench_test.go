package conn

import (
	"strconv"
	"testing"
)

// evalCmd is a RESP command of EVAL-like name with body, one key and one
// argument.
func evalCmd(name, body string) string {
	cmd := "*5\r\n"
	for _, a := range []string{name, body, "1", "key", "value"} {
		cmd += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	return cmd
}

const benchScript = "return redis.call('SET', KEYS[1], ARGV[1])"

// BenchmarkEvalCached is 16 pipelined EVALs of a cached one-command
// script on 8 shards: the hot path of scripting (cache lookup by SHA1,
// borrowing one shard, a pooled interpreter, one redis.call).
func BenchmarkEvalCached(b *testing.B) {
	benchPipeline(b, 8, evalCmd("EVAL", benchScript), "+OK\r\n", 16)
}

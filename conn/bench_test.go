package conn

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchPipeline sends a pipeline of n copies of cmd over one raw
// connection per iteration and reads the replies, each exactly reply.
// Allocations reported are the server's (the client side allocates
// nothing after setup), per pipeline.
func benchPipeline(b *testing.B, shards int, cmd, reply string, n int) {
	benchPipelineValue(b, shards, "value", cmd, reply, n)
}

// benchPipelineValue is benchPipeline after SET key to value.
func benchPipelineValue(b *testing.B, shards int, value, cmd, reply string, n int) {
	_, addr := startServer(b, shards)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	// A reply shorter than expected would block ReadFull for ever.
	nc.SetDeadline(time.Now().Add(2 * time.Minute))
	req := []byte(strings.Repeat(cmd, n))
	want := len(reply) * n
	buf := make([]byte, want)
	nc.Write([]byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$" + strconv.Itoa(len(value)) + "\r\n" + value + "\r\n"))
	ok := make([]byte, 5)
	if _, err := io.ReadFull(nc, ok); err != nil || string(ok) != "+OK\r\n" {
		b.Fatalf("SET key: %q %v", ok, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if string(buf[:len(reply)]) != reply {
		b.Fatalf("reply %q, want %q", buf[:len(reply)], reply)
	}
}

// BenchmarkPipelineGet16 is 16 pipelined GETs through the whole server:
// parse, one batch to the shard, one write.
func BenchmarkPipelineGet16(b *testing.B) {
	benchPipeline(b, 1, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", "$5\r\nvalue\r\n", 16)
}

// BenchmarkPipelineSet16 is the same with SETs, which copy key and value.
func BenchmarkPipelineSet16(b *testing.B) {
	benchPipeline(b, 1, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", "+OK\r\n", 16)
}

// BenchmarkPipelineGet16Shards8 spreads nothing (one key) but runs with
// 8 shards, to show routing costs nothing extra.
func BenchmarkPipelineGet16Shards8(b *testing.B) {
	benchPipeline(b, 8, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", "$5\r\nvalue\r\n", 16)
}

// BenchmarkPipelineSet16x1K is redis-benchmark -t set -d 1024 -P 16: a
// 17 KiB pipeline, larger than the Reader's initial buffer. Each SET makes
// one allocation, its key and value together.
func BenchmarkPipelineSet16x1K(b *testing.B) {
	val := strings.Repeat("x", 1024)
	benchPipeline(b, 1, "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$1024\r\n"+val+"\r\n", "+OK\r\n", 16)
}

// BenchmarkPipelineGet16x1K reads the 1 KiB value back 16 times per
// pipeline: 16 KiB of replies in one write.
func BenchmarkPipelineGet16x1K(b *testing.B) {
	val := strings.Repeat("x", 1024)
	benchPipelineValue(b, 1, val, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", "$1024\r\n"+val+"\r\n", 16)
}

package conn

import (
	"io"
	"net"
	"strings"
	"testing"
)

// benchPipeline sends a pipeline of n copies of cmd over one raw
// connection per iteration and reads the replies, each exactly reply.
// Allocations reported are the server's (the client side allocates
// nothing after setup), per pipeline.
func benchPipeline(b *testing.B, shards int, cmd, reply string, n int) {
	_, addr := startServer(b, shards)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	req := []byte(strings.Repeat(cmd, n))
	want := len(reply) * n
	buf := make([]byte, want)
	nc.Write([]byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"))
	io.ReadFull(nc, buf[:5])
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

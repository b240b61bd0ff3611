package wire

import (
	"bytes"
	"strconv"
	"testing"
)

// benchParse parses the stream data repeats forever; one iteration is one
// pass over data, which holds n complete commands.
func benchParse(b *testing.B, data []byte, n int) {
	r := NewReader(&cycleReader{data: data}, Limits{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for got := 0; got < n; {
			args, err := r.Next()
			if err != nil {
				b.Fatal(err)
			}
			if args == nil {
				if err := r.Fill(); err != nil {
					b.Fatal(err)
				}
				continue
			}
			got++
		}
	}
}

func BenchmarkReaderPipeline(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 50; i++ {
		k := "key:" + strconv.Itoa(i)
		buf.WriteString("*3\r\n$3\r\nSET\r\n$" + strconv.Itoa(len(k)) + "\r\n" + k + "\r\n$5\r\nvalue\r\n")
		buf.WriteString("*2\r\n$3\r\nGET\r\n$" + strconv.Itoa(len(k)) + "\r\n" + k + "\r\n")
	}
	benchParse(b, buf.Bytes(), 100)
}

func BenchmarkReaderPayload(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"16B", 16}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			payload := bytes.Repeat([]byte{'v'}, size.n)
			cmd := "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$" + strconv.Itoa(size.n) + "\r\n" + string(payload) + "\r\n"
			benchParse(b, []byte(cmd), 1)
		})
	}
}

func BenchmarkReaderInline(b *testing.B) {
	benchParse(b, bytes.Repeat([]byte("SET key:12345 \"some value\"\r\n"), 100), 100)
}

func BenchmarkAppendBulk(b *testing.B) {
	val := bytes.Repeat([]byte{'v'}, 64)
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(AppendBulk(nil, val))))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = AppendBulk(dst[:0], val)
	}
}

func BenchmarkAppendInt(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.SetBytes(int64(len(AppendInt(nil, 1234567890))))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = AppendInt(dst[:0], 1234567890+int64(i&1023))
	}
}

func BenchmarkAppendDouble(b *testing.B) {
	for _, p := range []Proto{RESP2, RESP3} {
		b.Run("RESP"+strconv.Itoa(int(p)), func(b *testing.B) {
			dst := make([]byte, 0, 64)
			b.SetBytes(int64(len(AppendDouble(nil, 0.1, p))))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				dst = AppendDouble(dst[:0], 0.1+float64(i&1023), p)
			}
		})
	}
}

package wire

import (
	"strings"
	"testing"
)

// A big argument gets a buffer of its own size however its bytes arrive:
// with reads that always fill the buffer, the buffer grew by doubling and
// a 128 KB argument ended in a 256 KB buffer (CLIENT LIST tot-mem and
// maxmemory-clients then saw two clients sending the same thing differ).
func TestReaderBigArgumentSizedExactly(t *testing.T) {
	const n = 128 << 10
	in := "*1\r\n$131072\r\n" + strings.Repeat("v", n) + "\r\n"
	r := NewReader(strings.NewReader(in), Limits{MaxBulk: DefaultMaxBulk, MaxQuery: DefaultMaxQuery})
	for {
		args, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if args != nil {
			break
		}
		if err := r.Fill(); err != nil {
			t.Fatal(err)
		}
	}
	if s := r.Size(); s > n+64 {
		t.Fatalf("buffer of %d bytes for a %d-byte argument", s, n)
	}
}

package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"testing"
)

// hllDigest returns the length and SHA-256 of the string at key.
func hllDigest(t *testing.T, s *Shard, key string) (int, string) {
	t.Helper()
	v, ok := s.DB(0).get([]byte(key), 0)
	if !ok {
		t.Fatalf("no key %q", key)
	}
	str := v.(string)
	sum := sha256.Sum256([]byte(str))
	return len(str), hex.EncodeToString(sum[:])
}

// hllElems returns the words prefix+i for i in [from, to).
func hllElems(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

func TestHLLHash(t *testing.T) {
	// Redis 7.0.15 stores PFADD one hello as XZERO(9216) VAL(1) XZERO(7167).
	if reg, count := hllPatLen([]byte("hello")); reg != 9216 || count != 1 {
		t.Fatalf("hllPatLen(hello) = %d, %d; want 9216, 1", reg, count)
	}
	s := New(0)
	run(t, s, 0, "PFADD", "one", "hello")
	want, _ := hex.DecodeString("48594c4c01000000000000000000008063ff805bfe")
	if v, _ := s.DB(0).get([]byte("one"), 0); v.(string) != string(want) {
		t.Fatalf("PFADD one hello stored %x, want %x", v, want)
	}
	// Every tail length of the hash's last block.
	seen := map[uint64]bool{}
	for n := 0; n <= 17; n++ {
		h := murmurHash64A([]byte(strings.Repeat("x", n)), 0xadc83b19)
		if seen[h] {
			t.Fatalf("hash collision at length %d", n)
		}
		seen[h] = true
	}
}

// TestHLLMatchesRedisBytes replays command sequences whose resulting
// values and counts were recorded from Redis 7.0.15: the sparse encoding,
// its promotion to dense and PFMERGE must produce the same bytes.
func TestHLLMatchesRedisBytes(t *testing.T) {
	s := New(0)
	check := func(key string, wantLen int, wantSum string, wantCount int64) {
		t.Helper()
		if n, sum := hllDigest(t, s, key); n != wantLen || sum != wantSum {
			t.Errorf("%s: %d bytes, sha256 %s; want %d, %s", key, n, sum, wantLen, wantSum)
		}
		if got := run(t, s, 0, "PFCOUNT", key); got != ":"+strconv.FormatInt(wantCount, 10)+"\r\n" {
			t.Errorf("PFCOUNT %s = %q, want %d", key, got, wantCount)
		}
	}
	run(t, s, 0, append([]string{"PFADD", "a"}, hllElems("e", 0, 1000)...)...)
	check("a", 1906, "519a7f0764d633e025ff9f8cdeb30cd2f452e2ad37f729f6b9ea7a4699791162", 1008)
	run(t, s, 0, append([]string{"PFADD", "b"}, hllElems("e", 0, 5000)...)...)
	check("b", 12304, "0a4b61a05c269540574e1293e6e18e69a4e9cb96ade9ecb5b7ff490debf31722", 4968)
	for i := 1499; i >= 0; i-- {
		run(t, s, 0, "PFADD", "c", "r"+strconv.Itoa(i))
	}
	check("c", 2742, "e0a36c6993d13f99d03bbff5f2aee61b7444e0f06638b93439dcace32403c36b", 1516)
	for i := 0; i < 300; i++ {
		run(t, s, 0, "PFADD", "d", "x"+strconv.Itoa(i*7919%300))
	}
	check("d", 688, "423d007105286287be7f448c817efd879ba0a43485d99713300f66f0e29a520f", 299)
	if got := run(t, s, 0, "PFMERGE", "m", "a", "c", "d"); got != "+OK\r\n" {
		t.Fatalf("PFMERGE = %q", got)
	}
	check("m", 12304, "382176855ca77441cf54f74d2973407c18ae862ed8837fecc5bbab035e23bf37", 2815)
	run(t, s, 0, "PFMERGE", "m2", "d", "b")
	check("m2", 12304, "1251493f7fd1739527854851f70c94f853cf1552dca4fa6870ae85d7a41cc82f", 5263)
	if got := run(t, s, 0, "PFCOUNT", "a", "b", "c", "d"); got != ":6788\r\n" {
		t.Errorf("PFCOUNT of the union = %q, want 6788", got)
	}
}

// TestHLLErrorBound adds 100000 distinct elements; the estimate must be
// within 2% (Redis's standard error is 0.81%) and equal Redis's own.
func TestHLLErrorBound(t *testing.T) {
	s := New(0)
	for j := 0; j < 100; j++ {
		run(t, s, 0, append([]string{"PFADD", "big"}, hllElems("el:", j*1000, (j+1)*1000)...)...)
	}
	got := run(t, s, 0, "PFCOUNT", "big")
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(got, ":"), "\r\n"))
	if err != nil {
		t.Fatalf("PFCOUNT = %q", got)
	}
	if rel := math.Abs(float64(n)-100000) / 100000; rel > 0.02 {
		t.Fatalf("PFCOUNT = %d, off by %.2f%%", n, rel*100)
	}
	if n != 98893 {
		t.Errorf("PFCOUNT = %d, Redis says 98893", n)
	}
	if l, sum := hllDigest(t, s, "big"); l != 12304 || sum != "7fbc065660fb4fe90184acc9e6e4eba659132c1b9d867d495177311056ba34fa" {
		t.Errorf("value differs from Redis's: %d bytes, %s", l, sum)
	}
}

func TestHLLCommands(t *testing.T) {
	s := strWithHash()
	strRun(t, s, 0, []strCase{
		{[]string{"PFADD", "k", "a", "b", "c"}, ":1\r\n"},
		{[]string{"PFADD", "k", "a", "b"}, ":0\r\n"},
		{[]string{"PFADD", "k"}, ":0\r\n"},
		{[]string{"PFCOUNT", "k"}, ":3\r\n"},
		{[]string{"PFCOUNT", "nosuch"}, ":0\r\n"},
		{[]string{"PFADD", "empty"}, ":1\r\n"},
		{[]string{"GET", "empty"}, "$18\r\nHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\r\n"},
		{[]string{"PFCOUNT", "empty"}, ":0\r\n"},
		{[]string{"GET", "empty"}, "$18\r\nHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff\r\n"},
		{[]string{"PFCOUNT", "k", "nosuch", "empty"}, ":3\r\n"},
		{[]string{"PFMERGE", "dst", "k", "nosuch"}, "+OK\r\n"},
		{[]string{"PFCOUNT", "dst"}, ":3\r\n"},
		{[]string{"PFMERGE", "dst2"}, "+OK\r\n"},
		{[]string{"GET", "dst2"}, "$18\r\nHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\r\n"},
		// Wrong types: WRONGTYPE for non-strings, a HyperLogLog error for
		// strings that are not one.
		{[]string{"PFADD", "h", "a"}, strWrong},
		{[]string{"PFCOUNT", "h"}, strWrong},
		{[]string{"PFCOUNT", "k", "h"}, strWrong},
		{[]string{"PFMERGE", "k", "h"}, strWrong},
		{[]string{"PFMERGE", "h", "k"}, strWrong},
		{[]string{"SET", "str", "foo"}, "+OK\r\n"},
		{[]string{"PFADD", "str", "a"}, "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"},
		{[]string{"PFCOUNT", "str"}, "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"},
		{[]string{"PFCOUNT", "k", "str"}, "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"},
		{[]string{"PFMERGE", "str", "k"}, "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"},
		// A dense header on a value of the wrong size, an unknown
		// encoding, and sparse opcodes that do not cover 16384 registers.
		{[]string{"SET", "bad", "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}, "+OK\r\n"},
		{[]string{"PFADD", "bad", "a"}, "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"},
		{[]string{"SET", "bad", "HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"}, "+OK\r\n"},
		{[]string{"PFCOUNT", "bad"}, "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"},
		{[]string{"SET", "bad", "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfe"}, "+OK\r\n"},
		{[]string{"PFCOUNT", "bad"}, "-INVALIDOBJ Corrupted HLL object detected\r\n"},
		{[]string{"PFCOUNT", "bad", "k"}, "-INVALIDOBJ Corrupted HLL object detected\r\n"},
		{[]string{"PFMERGE", "x", "bad"}, "-INVALIDOBJ Corrupted HLL object detected\r\n"},
		{[]string{"PFADD", "bad", "hello"}, ":1\r\n"}, // the register is covered: Redis does not notice
		{[]string{"SET", "bad", "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x40\x63"}, "+OK\r\n"},
		{[]string{"PFADD", "bad", "hello"}, "-INVALIDOBJ Corrupted HLL object detected\r\n"},
		// A valid cached count is returned as stored.
		{[]string{"SET", "cached", "HYLL\x01\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00\x7f\xff"}, "+OK\r\n"},
		{[]string{"PFCOUNT", "cached"}, ":42\r\n"},
	})
}

func TestHLLAcrossShards(t *testing.T) {
	shards := []*Shard{New(0), New(1), New(2), New(3)}
	k := strKeysOn("hll", 3, len(shards))
	strAcross(t, shards, 0, "PFADD", k[0], "a", "b", "c")
	strAcross(t, shards, 0, "PFADD", k[1], "c", "d")
	if got := strAcross(t, shards, 0, "PFCOUNT", k[0], k[1]); got != ":4\r\n" {
		t.Fatalf("PFCOUNT across shards = %q", got)
	}
	if got := strAcross(t, shards, 0, "PFMERGE", k[2], k[0], k[1]); got != "+OK\r\n" {
		t.Fatalf("PFMERGE across shards = %q", got)
	}
	if got := strAcross(t, shards, 0, "PFCOUNT", k[2]); got != ":4\r\n" {
		t.Fatalf("PFCOUNT of the merge = %q", got)
	}
	owner := shards[Owner([]byte(k[2]), len(shards))]
	if _, ok := owner.DB(0).strs[k[2]]; !ok {
		t.Fatal("PFMERGE stored the destination on the wrong shard")
	}
}

func TestHLLKeepsTTL(t *testing.T) {
	s := New(0)
	run(t, s, 1000, "PFADD", "k", "a")
	s.DB(0).setExpire([]byte("k"), 5000)
	run(t, s, 1000, "PFADD", "k", "b", "c")
	run(t, s, 1000, "PFCOUNT", "k") // rewrites the cached count
	run(t, s, 1000, "PFMERGE", "k", "k")
	if at, ok := s.DB(0).ttl([]byte("k")); !ok || at != 5000 {
		t.Fatalf("TTL = %d, %v; want 5000", at, ok)
	}
}

func BenchmarkPFAdd(b *testing.B) {
	s := New(0)
	args := [][]byte{[]byte("PFADD"), []byte("k"), nil}
	batch := &Batch{Calls: []Call{{Cmd: Lookup("pfadd"), Args: args}}}
	var buf [20]byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		args[2] = strconv.AppendInt(buf[:0], int64(i), 10)
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, 0)
	}
}

package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/shard"
)

func TestParseStat(t *testing.T) {
	line := "1234 (redis (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 4 0 100 1000 200\n"
	got, err := parseStat([]byte(line))
	if err != nil || got != 22 {
		t.Fatalf("parseStat = %d, %v; want 22", got, err)
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tredis-server\nVmPeak:\t  9999 kB\nVmRSS:\t    8192 kB\nThreads:\t5\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 8192*1024 {
		t.Fatalf("parseVmRSS = %d, %v", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("want error without VmRSS")
	}
}

func TestParseRPS(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms"
"SET","952380.94","0.746","0.024"
"GET","900000.00","0.683","0.152"
`
	for test, want := range map[string]float64{"set": 952380.94, "get": 900000} {
		got, err := parseRPS([]byte(out), test)
		if err != nil || got != want {
			t.Errorf("parseRPS(%s) = %v, %v; want %v", test, got, err, want)
		}
	}
	if _, err := parseRPS([]byte(out), "incr"); err == nil {
		t.Error("want error for a missing test")
	}
	one := "\"test\",\"rps\"\n\"MSET (10 keys)\",\"1000.5\"\n"
	if got, err := parseRPS([]byte(one), "mset"); err != nil || got != 1000.5 {
		t.Errorf("parseRPS(mset) = %v, %v", got, err)
	}
}

func TestSplitArgs(t *testing.T) {
	got, err := splitArgs(`--port {port}  --save '' --x "a b"`)
	want := []string{"--port", "{port}", "--save", "", "--x", "a b"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("splitArgs = %q, %v; want %q", got, err, want)
	}
	if _, err := splitArgs(`--save '`); err == nil {
		t.Fatal("want error for an unterminated quote")
	}
}

func TestAppendKeyAndCommand(t *testing.T) {
	if got := string(appendKey(nil, 42)); got != "key:000000000042" {
		t.Fatalf("appendKey = %q", got)
	}
	if got := string(appendCommand(nil, "SET", "k", "")); got != "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n" {
		t.Fatalf("appendCommand = %q", got)
	}
}

func TestMedian(t *testing.T) {
	rps := func(s sample) float64 { return s.rps }
	if got := median([]sample{{rps: 3}, {rps: 1}, {rps: 2}}, rps); got != 2 {
		t.Fatalf("median odd = %v", got)
	}
	if got := median([]sample{{rps: 4}, {rps: 1}}, rps); got != 2.5 {
		t.Fatalf("median even = %v", got)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-pipelines", "1, 8", "-tests", "SET,get"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.pipelines, []int{1, 8}) || !slices.Equal(c.tests, []string{"set", "get"}) {
		t.Fatalf("got %v %v", c.pipelines, c.tests)
	}
	if _, err := parseFlags([]string{"-pipelines", "0"}); err == nil {
		t.Fatal("want error for depth 0")
	}
	if !slices.Equal(c.dataSizes, []int{3}) {
		t.Fatalf("default data sizes %v, want [3]", c.dataSizes)
	}
	c, err = parseFlags([]string{"-tests", "default,mset", "-data-sizes", "3,1024"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.dataSizes, []int{3, 1024}) || len(c.tests) != len(defaultTests)+1 ||
		c.tests[0] != "ping_inline" || c.tests[len(c.tests)-1] != "mset" {
		t.Fatalf("got %v %v", c.dataSizes, c.tests)
	}
	if _, err := parseFlags([]string{"-data-sizes", "0"}); err == nil {
		t.Fatal("want error for size 0")
	}
	if c, err = parseFlags([]string{"-pin", "0/1"}); err != nil || c.serverCPUs != "0" || c.benchCPUs != "1" {
		t.Fatalf("-pin 0/1: %q %q %v", c.serverCPUs, c.benchCPUs, err)
	}
	for _, bad := range []string{"0", "0/", "/1"} {
		if _, err := parseFlags([]string{"-pin", bad}); err == nil {
			t.Fatalf("-pin %q: want an error", bad)
		}
	}
}

func TestProgramCommandPinsWithTaskset(t *testing.T) {
	ctx := context.Background()
	if args := (program{bin: "redis-benchmark"}).command(ctx, "-q").Args; !slices.Equal(args, []string{"redis-benchmark", "-q"}) {
		t.Fatalf("unpinned: %q", args)
	}
	if args := (program{bin: "redis-benchmark", cpus: "1"}).command(ctx, "-q").Args; !slices.Equal(args, []string{"taskset", "-c", "1", "redis-benchmark", "-q"}) {
		t.Fatalf("pinned: %q", args)
	}
}

func TestAppendPaddedBulk(t *testing.T) {
	for _, c := range []struct {
		prefix   string
		i, width int
		want     string
	}{
		{"field:", 7, 9, "$15\r\nfield:000000007\r\n"},
		{"member:", 123, 12, "$19\r\nmember:000000000123\r\n"},
		{"field:", 1234567890, 9, "$16\r\nfield:1234567890\r\n"}, // wider than width
		{"", 0, 0, "$1\r\n0\r\n"},
		{"", 999999, 0, "$6\r\n999999\r\n"},
	} {
		if got := string(appendPaddedBulk(nil, c.prefix, c.i, c.width)); got != c.want {
			t.Errorf("appendPaddedBulk(%q, %d, %d) = %q; want %q", c.prefix, c.i, c.width, got, c.want)
		}
	}
}

func TestCollAppendAdd(t *testing.T) {
	for name, want := range map[string]string{
		"hash": "*6\r\n$4\r\nHSET\r\n$1\r\nh\r\n" +
			"$15\r\nfield:000000009\r\n$15\r\nvalue:000000009\r\n" +
			"$15\r\nfield:000000010\r\n$15\r\nvalue:000000010\r\n",
		"set": "*4\r\n$4\r\nSADD\r\n$1\r\ns\r\n" +
			"$19\r\nmember:000000000009\r\n$19\r\nmember:000000000010\r\n",
		"zset": "*6\r\n$4\r\nZADD\r\n$1\r\nz\r\n" +
			"$1\r\n9\r\n$19\r\nmember:000000000009\r\n$2\r\n10\r\n$19\r\nmember:000000000010\r\n",
	} {
		ct, ok := lookupColl(name)
		if !ok {
			t.Fatalf("lookupColl(%q) failed", name)
		}
		if got := string(ct.appendAdd([]byte("x"), 9, 11)); got != "x"+want {
			t.Errorf("%s appendAdd = %q; want %q", name, got, "x"+want)
		}
	}
	if _, ok := lookupColl("list"); ok {
		t.Error("lookupColl(list) succeeded")
	}
}

func TestCollBatches(t *testing.T) {
	if got := collCommands(1000000); got != 10000 {
		t.Errorf("collCommands(1e6) = %d", got)
	}
	if got := collCommands(250); got != 3 {
		t.Errorf("collCommands(250) = %d", got)
	}
	if lo, hi := collRange(2, 250); lo != 200 || hi != 250 {
		t.Errorf("collRange(2, 250) = %d, %d", lo, hi)
	}
	// A full command of a set has 2+100 arguments.
	ct, _ := lookupColl("set")
	lo, hi := collRange(0, 1000)
	if got := string(ct.appendAdd(nil, lo, hi)); !strings.HasPrefix(got, "*102\r\n$4\r\nSADD\r\n") ||
		strings.Count(got, "$19\r\nmember:") != 100 {
		t.Errorf("full SADD starts %q, has %d members", got[:20], strings.Count(got, "$19\r\nmember:"))
	}
}

func TestCheckAdded(t *testing.T) {
	if err := checkAdded([]byte(":100\r\n"), 100); err != nil {
		t.Errorf("checkAdded(:100) = %v", err)
	}
	for _, line := range []string{":99\r\n", "+OK\r\n", "-ERR wrong\r\n", ":\r\n", ":10x\r\n", ":100\n"} {
		if err := checkAdded([]byte(line), 100); err == nil {
			t.Errorf("checkAdded(%q) succeeded", line)
		}
	}
}

func TestInfoField(t *testing.T) {
	info := []byte("# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nused_memory_rss:4096\r\n")
	if got, err := infoField(info, "used_memory"); err != nil || got != 1048576 {
		t.Fatalf("infoField(used_memory) = %d, %v", got, err)
	}
	if got, err := infoField(info, "used_memory_rss"); err != nil || got != 4096 {
		t.Fatalf("infoField(used_memory_rss) = %d, %v", got, err)
	}
	if _, err := infoField(info, "maxmemory"); err == nil {
		t.Fatal("want error for a missing field")
	}
}

func TestParseFlagsCollections(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil || len(c.memCollections) != 0 || c.memMembers != 1000000 {
		t.Fatalf("defaults: %v %d, %v", c.memCollections, c.memMembers, err)
	}
	c, err = parseFlags([]string{"-mem-collections", "ZSet, hash,zset", "-mem-members", "5"})
	if err != nil || !slices.Equal(c.memCollections, []string{"zset", "hash"}) || c.memMembers != 5 {
		t.Fatalf("got %v %d, %v", c.memCollections, c.memMembers, err)
	}
	if _, err := parseFlags([]string{"-mem-collections", "hash,list"}); err == nil {
		t.Fatal("want error for an unknown type")
	}
	if _, err := parseFlags([]string{"-mem-collections", "set", "-mem-members", "0"}); err == nil {
		t.Fatal("want error for 0 members")
	}
}

func TestTxKeys(t *testing.T) {
	one := txKeys(8, true)
	spread := txKeys(8, false)
	if len(one) != txCommands || len(spread) != txCommands {
		t.Fatalf("txKeys gave %d and %d keys, want %d", len(one), len(spread), txCommands)
	}
	owners := map[int]bool{}
	for i := range one {
		if o := shard.Owner([]byte(one[i]), 8); o != 0 {
			t.Fatalf("one-shard key %s is on shard %d", one[i], o)
		}
		owners[shard.Owner([]byte(spread[i]), 8)] = true
	}
	if len(owners) != 8 {
		t.Fatalf("spread keys cover %d of 8 shards", len(owners))
	}
}

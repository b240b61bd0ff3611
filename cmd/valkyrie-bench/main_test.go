package main

import (
	"slices"
	"testing"
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
}

package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func getOne(t *testing.T, tb *Table, name string) string {
	t.Helper()
	r := tb.Get(name)
	if len(r) != 2 {
		t.Fatalf("Get(%q) = %q", name, r)
	}
	return r[1]
}

func TestDefaults(t *testing.T) {
	tb := New()
	for name, want := range map[string]string{
		"maxmemory":                         "0",
		"proto-max-bulk-len":                "536870912",
		"client-query-buffer-limit":         "1073741824",
		"active-defrag-ignore-bytes":        "104857600",
		"hash-max-ziplist-entries":          "512",
		"list-max-listpack-size":            "-2",
		"save":                              "3600 1 300 100 60 10000",
		"bind":                              "* -::*",
		"port":                              "6379",
		"appendonly":                        "no",
		"protected-mode":                    "yes",
		"maxmemory-policy":                  "noeviction",
		"notify-keyspace-events":            "",
		"client-output-buffer-limit":        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
		"oom-score-adj-values":              "0 200 800",
		"latency-tracking-info-percentiles": "50 99 99.9",
		"unixsocketperm":                    "0",
		"shutdown-on-sigint":                "default",
		"slaveof":                           "",
		"rdb-key-save-delay":                "0",
	} {
		if got := getOne(t, tb, name); got != want {
			t.Errorf("default %s = %q, want %q", name, got, want)
		}
	}
	if n := len(tb.Get("*")) / 2; n != 192 {
		t.Errorf("CONFIG GET * lists %d names, Redis 7.0.15 lists 192", n)
	}
}

// TestSetErrors pins error texts taken from Redis 7.0.15.
func TestSetErrors(t *testing.T) {
	fail := func(name, reason string) string {
		return "ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + reason
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"maxmemory"}, "ERR wrong number of arguments for 'config|set' command"},
		{[]string{"maxmemory", "1", "hz"}, "ERR syntax error"},
		{[]string{"foo", "bar"}, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"},
		{[]string{"maxmemory", "1", "Foo", "bar"}, "ERR Unknown option or number of arguments for CONFIG SET - 'Foo'"},
		{[]string{"Daemonize", "yes"}, fail("Daemonize", "can't set immutable config")},
		{[]string{"daemonize", "yes", "foo", "bar"}, fail("daemonize", "can't set immutable config")},
		{[]string{"foo", "bar", "daemonize", "yes"}, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"},
		{[]string{"dir", "/tmp"}, fail("dir", "can't set protected config")},
		{[]string{"slaveof", "no one"}, fail("slaveof", "can't set immutable config")},
		{[]string{"maxmemory", "1", "MAXMEMORY", "2"}, fail("MAXMEMORY", "duplicate parameter")},
		{[]string{"MAXMEMORY", "abc"}, fail("maxmemory", "argument must be a memory value")},
		{[]string{"HASH-MAX-ZIPLIST-ENTRIES", "x"}, fail("hash-max-ziplist-entries", "argument couldn't be parsed into an integer")},
		{[]string{"hz", "-1"}, fail("hz", "argument must be between 0 and 2147483647 inclusive")},
		{[]string{"hz", "010"}, fail("hz", "argument couldn't be parsed into an integer")},
		{[]string{"maxclients", "0"}, fail("maxclients", "argument must be between 1 and 4294967295 inclusive")},
		{[]string{"proto-max-bulk-len", "18446744073709551615"}, fail("proto-max-bulk-len", "argument must be between 1048576 and 9223372036854775807 inclusive")},
		{[]string{"maxmemory-clients", "150%"}, fail("maxmemory-clients", "percentage argument must be less or equal to 100")},
		{[]string{"maxmemory-clients", "-5%"}, fail("maxmemory-clients", "argument must be a memory or percent value")},
		{[]string{"activerehashing", "1"}, fail("activerehashing", "argument must be 'yes' or 'no'")},
		{[]string{"loglevel", "foo"}, fail("loglevel", "argument(s) must be one of the following: debug, verbose, notice, warning")},
		{[]string{"shutdown-on-sigint", "save nosave"}, fail("shutdown-on-sigint", "shutdown options SAVE and NOSAVE can't be used simultaneously")},
		{[]string{"notify-keyspace-events", "Kq"}, fail("notify-keyspace-events", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")},
		{[]string{"save", "3600 1 300"}, fail("save", "Invalid save parameters")},
		{[]string{"client-output-buffer-limit", "master 1 2 3"}, fail("client-output-buffer-limit", "Invalid client class specified in buffer limit configuration.")},
		{[]string{"client-output-buffer-limit", "normal 1 2"}, fail("client-output-buffer-limit", "Wrong number of arguments in buffer limit configuration.")},
		{[]string{"client-output-buffer-limit", "normal 1 2 -1"}, fail("client-output-buffer-limit", "Error in hard, soft or soft_seconds setting in buffer limit configuration.")},
		{[]string{"oom-score-adj-values", "1 2"}, fail("oom-score-adj-values", "wrong number of arguments")},
		{[]string{"oom-score-adj-values", "1 2 3000"}, fail("oom-score-adj-values", "Invalid oom-score-adj-values, elements must be between -2000 and 2000.")},
		{[]string{"latency-tracking-info-percentiles", "abc"}, fail("latency-tracking-info-percentiles", "Invalid latency-tracking-info-percentiles parameters")},
		{[]string{"latency-tracking-info-percentiles", "101"}, fail("latency-tracking-info-percentiles", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")},
		{[]string{"bind", strings.Repeat("a ", 16) + "a"}, fail("bind", "Too many bind addresses specified.")},
		{[]string{"cluster-announce-hostname", "a_b"}, fail("cluster-announce-hostname", "Hostnames may only contain alphanumeric characters, hyphens or dots")},
		{[]string{"proc-title-template", "{title}"}, fail("proc-title-template", "template format is invalid or contains unknown variables")},
	} {
		err := New().Set(c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("Set(%q) = %v, want %q", c.args, err, c.want)
		}
		var ce Error
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("Set(%q) error is %T, want Error", c.args, err)
		}
	}
}

// TestFormatting checks canonical forms of accepted values.
func TestFormatting(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"maxmemory", "1GB", "1073741824"},
		{"maxmemory", "5k", "5000"},
		{"maxmemory", "1kb", "1024"},
		{"maxmemory", "3m", "3000000"},
		{"maxmemory", "2mB", "2097152"},
		{"maxmemory", "1g", "1000000000"},
		{"maxmemory", "5b", "5"},
		{"maxmemory", "", "0"},
		{"maxmemory", "00012", "12"},
		{"maxmemory", "18446744073709551616", "18446744073709551615"},
		{"maxmemory", "18446744073709551615k", "18446744073709550616"},
		{"maxmemory-clients", "10%", "10%"},
		{"maxmemory-clients", "0%", "0"},
		{"maxmemory-clients", "2kb", "2048"},
		{"hz", "0", "1"},
		{"hz", "100000", "500"},
		{"appendonly", "YES", "yes"},
		{"loglevel", "WARNING", "warning"},
		{"oom-score-adj", "relative", "yes"},
		{"shutdown-on-sigint", "now nosave", "nosave now"},
		{"shutdown-on-sigint", "default now", "now"},
		{"shutdown-on-sigint", "now force nosave", "nosave now force"},
		{"notify-keyspace-events", "KEA", "AKE"},
		{"notify-keyspace-events", "An", "A"},
		{"notify-keyspace-events", "Kx", "xK"},
		{"notify-keyspace-events", "md", "dm"},
		{"notify-keyspace-events", "nEdtexzhsl$g", "AE"},
		{"save", "+100 010", "100 10"},
		{"save", "60 4294967297", "60 1"},
		{"save", "5 ", "5 0"},
		{"save", "", ""},
		{"client-output-buffer-limit", "replica 1mb 2k 3 PUBSUB 4 5 6", "normal 0 0 0 slave 1048576 2000 3 pubsub 4 5 6"},
		{"client-output-buffer-limit", "normal 1 2 4294967297", "normal 1 2 1 slave 268435456 67108864 60 pubsub 33554432 8388608 60"},
		{"oom-score-adj-values", "-5 +2 010", "-5 2 10"},
		{"latency-tracking-info-percentiles", "50 99.90 100", "50 99.9 100"},
		{"latency-tracking-info-percentiles", "1e1 0.0000001 33.333333333 -0", "10 0 33.333333 -0"},
		{"latency-tracking-info-percentiles", "0x10 0x1.8p1", "16 3"},
		{"list-max-ziplist-size", "-5", "-5"},
		{"requirepass", "a\x00b", "a\x00b"},
		{"replica-announce-ip", "a\x00b", "a"},
	} {
		tb := New()
		if err := tb.Set(c.name, c.in); err != nil {
			t.Errorf("Set(%q, %q): %v", c.name, c.in, err)
			continue
		}
		if got := tb.Value(c.name); got != c.want {
			t.Errorf("Set(%q, %q): value %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestSetAtomic(t *testing.T) {
	tb := New()
	before := tb.Get("*")
	err := tb.Set("maxmemory", "1mb", "hz", "20", "save", "", "loglevel", "nope")
	if err == nil {
		t.Fatal("Set with an invalid value succeeded")
	}
	if after := tb.Get("*"); !slices.Equal(before, after) {
		t.Error("failed Set changed the table")
	}
	// Alias and name are distinct entries: the later pair wins.
	if err := tb.Set("hash-max-ziplist-entries", "5", "hash-max-listpack-entries", "7"); err != nil {
		t.Fatal(err)
	}
	if v := tb.Int("hash-max-ziplist-entries"); v != 7 {
		t.Errorf("hash-max-ziplist-entries = %d, want 7", v)
	}
}

func TestGet(t *testing.T) {
	tb := New()
	got := tb.Get("MAXMEMORY", "maxmemory", "maxmem*", "nope", "rdb-key-save-*", "hash-max-ziplist-entries")
	want := []string{
		"MAXMEMORY", "0",
		"maxmemory-clients", "0",
		"maxmemory-eviction-tenacity", "10",
		"maxmemory-policy", "noeviction",
		"maxmemory-samples", "5",
		"hash-max-ziplist-entries", "512",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Get = %q\nwant %q", got, want)
	}
	if got := tb.Get("rdb-key-save-delay"); len(got) != 2 {
		t.Errorf("hidden parameter by exact name: %q", got)
	}
	if got := tb.Get("maxmem\\ory"); len(got) != 0 {
		t.Errorf("escaped name without glob characters matched: %q", got)
	}
}

func TestAccessors(t *testing.T) {
	tb := New()
	if err := tb.Set("maxmemory", "2mb", "slave-read-only", "no", "maxmemory-clients", "7%", "notify-keyspace-events", "Kx", "appendfsync", "always"); err != nil {
		t.Fatal(err)
	}
	if v := tb.Int("MAXMEMORY"); v != 2<<20 {
		t.Errorf("Int(maxmemory) = %d", v)
	}
	if tb.Bool("replica-read-only") || !tb.Bool("protected-mode") || tb.Bool("maxmemory") {
		t.Error("Bool gives wrong results")
	}
	if v := tb.Int("maxmemory-clients"); v != -7 {
		t.Errorf("Int(maxmemory-clients) = %d, want -7", v)
	}
	if v := tb.Int("notify-keyspace-events"); v != nKeyspace|nExpired {
		t.Errorf("Int(notify-keyspace-events) = %d", v)
	}
	if v := tb.Int("appendfsync"); v != 1 {
		t.Errorf("Int(appendfsync) = %d, want 1", v)
	}
	if tb.Value("nope") != "" || tb.Int("nope") != 0 || tb.Bool("nope") {
		t.Error("unknown names should give zero values")
	}
}

func TestOnChange(t *testing.T) {
	tb := New()
	var got []string
	tb.OnChange("hash-max-listpack-entries", func(v string) {
		got = append(got, "hash="+v+"/"+tb.Value("hash-max-listpack-entries"))
	})
	tb.OnChange("maxmemory", func(v string) { got = append(got, "mem="+v) })
	tb.OnChange("hz", func(v string) { got = append(got, "hz="+v) })

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tb.Set("hash-max-ziplist-entries", "100", "maxmemory", "1k", "hz", "10"))
	must(tb.Set("maxmemory", "1000"))                 // same value: no call
	_ = tb.Set("maxmemory", "5", "loglevel", "bogus") // failed: no call
	want := []string{"hash=100/100", "mem=1000"}
	if !slices.Equal(got, want) {
		t.Errorf("callbacks %q, want %q", got, want)
	}
}

func TestOnApply(t *testing.T) {
	tb := New()
	var calls []string
	tb.OnApply("maxmemory", func(v string) error {
		calls = append(calls, "mem "+v)
		return nil
	})
	tb.OnApply("port", func(v string) error {
		calls = append(calls, "port "+v)
		if v == "1" {
			return fmt.Errorf("Unable to listen on this port. Check server logs.")
		}
		return nil
	})
	err := tb.Set("maxmemory", "10", "port", "1")
	want := "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
	if err == nil || err.Error() != want {
		t.Fatalf("Set = %v, want %q", err, want)
	}
	if tb.Value("maxmemory") != "0" || tb.Value("port") != "6379" {
		t.Error("vetoed Set changed values")
	}
	if w := []string{"mem 10", "port 1", "mem 0"}; !slices.Equal(calls, w) {
		t.Errorf("hook calls %q, want %q", calls, w)
	}
	if err := tb.Set("port", "7000"); err != nil || tb.Int("port") != 7000 {
		t.Errorf("Set port: %v, %d", err, tb.Int("port"))
	}
}

func TestLoad(t *testing.T) {
	tb := New()
	err := tb.Load("daemonize", "yes", "save", "60 1", "save", "30 2", "databases", "4",
		"unixsocketperm", "700", "hz", "0", "slaveof", "10.0.0.1 +6380")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"daemonize": "yes", "save": "60 1 30 2", "databases": "4",
		"unixsocketperm": "700", "hz": "1", "replicaof": "10.0.0.1 6380",
	} {
		if got := tb.Value(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if v := tb.Int("unixsocketperm"); v != 0o700 {
		t.Errorf("Int(unixsocketperm) = %o", v)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"databases", "0"}},
		{[]string{"nope", "1"}},
		{[]string{"unixsocketperm", "999"}},
		{[]string{"appendfilename", "a/b"}},
		{[]string{"replicaof", "host 70000"}},
		{[]string{"maxmemory"}},
	} {
		if err := tb.Load(c.args...); err == nil {
			t.Errorf("Load(%q) succeeded", c.args)
		}
	}
	if err := tb.Load("save", "", "save", "1 2"); err != nil || tb.Value("save") != "1 2" {
		t.Errorf("save after reset: %v %q", err, tb.Value("save"))
	}
	if err := tb.Load("enable-protected-configs", "local"); err != nil {
		t.Fatal(err)
	}
	if tb.Set("dbfilename", "x.rdb") == nil {
		t.Error("remote client set a protected config")
	}
	if err := tb.SetFrom(true, "dbfilename", "x.rdb"); err != nil {
		t.Error(err)
	}
}

func TestConcurrent(t *testing.T) {
	tb := New()
	var hits sync.WaitGroup
	tb.OnChange("maxmemory", func(string) { tb.Value("maxmemory") })
	for i := range 8 {
		hits.Add(1)
		go func() {
			defer hits.Done()
			for j := range 200 {
				_ = tb.Set("maxmemory", fmt.Sprint(i*1000+j), "hz", fmt.Sprint(j%50+1))
				tb.Get("max*")
				tb.Int("hz")
			}
		}()
	}
	hits.Wait()
}

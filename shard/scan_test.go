package shard

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// scanReply parses a SCAN-style reply: *2 $cursor *n $item...
func scanReply(t *testing.T, raw string) (string, []string) {
	t.Helper()
	lines := strings.Split(raw, "\r\n")
	if len(lines) < 4 || lines[0] != "*2" {
		t.Fatalf("not a scan reply: %q", raw)
	}
	cursor := lines[2]
	n, err := strconv.Atoi(strings.TrimPrefix(lines[3], "*"))
	if err != nil {
		t.Fatalf("bad item count in %q", raw)
	}
	var items []string
	for i := 0; i < n; i++ {
		items = append(items, lines[5+2*i])
	}
	return cursor, items
}

// TestScanGuarantee checks Redis's SCAN guarantee while the keyspace
// changes between calls: every key present from the first call to the last
// is returned, and a full iteration ends with cursor 0.
func TestScanGuarantee(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	s := New(0)
	stable := map[string]bool{}
	for i := 0; i < 2000; i++ {
		k := "k" + strconv.Itoa(i)
		run(t, s, 0, "SET", k, "v")
		if i%2 == 0 {
			stable[k] = true // never touched during the scan
		}
	}
	seen := map[string]bool{}
	cursor := "0"
	for calls := 0; ; calls++ {
		if calls > 10000 {
			t.Fatal("SCAN did not finish")
		}
		var items []string
		cursor, items = scanReply(t, run(t, s, 0, "SCAN", cursor, "COUNT", "13"))
		for _, k := range items {
			seen[k] = true
		}
		// Churn the keys that are not stable: delete some, add new ones.
		for j := 0; j < 5; j++ {
			i := 2*rng.Intn(1000) + 1
			run(t, s, 0, "DEL", "k"+strconv.Itoa(i))
			run(t, s, 0, "SET", "new"+strconv.Itoa(calls*5+j), "v")
		}
		if cursor == "0" {
			break
		}
	}
	for k := range stable {
		if !seen[k] {
			t.Fatalf("SCAN missed %s, present throughout the iteration", k)
		}
	}
}

func TestScanOptions(t *testing.T) {
	s := New(0)
	for i := 0; i < 300; i++ {
		run(t, s, 0, "SET", "user:"+strconv.Itoa(i), "v")
		run(t, s, 0, "SET", "item:"+strconv.Itoa(i), "v")
	}
	s.DB(0).set([]byte("user:hash"), Hash{"f": "v"}, false)
	count := func(args ...string) (n int, types map[string]bool) {
		cursor := "0"
		for {
			var items []string
			cursor, items = scanReply(t, run(t, s, 0, append([]string{"SCAN", cursor}, args...)...))
			n += len(items)
			for _, it := range items {
				if !strings.HasPrefix(it, "user:") && strings.Contains(strings.Join(args, " "), "user:*") {
					t.Fatalf("MATCH user:* returned %q", it)
				}
			}
			if cursor == "0" {
				return n, nil
			}
		}
	}
	if n, _ := count("MATCH", "user:*"); n != 301 {
		t.Fatalf("MATCH user:* found %d keys, want 301", n)
	}
	if n, _ := count("TYPE", "hash"); n != 1 {
		t.Fatalf("TYPE hash found %d keys, want 1", n)
	}
	if n, _ := count("COUNT", "1000"); n != 601 {
		t.Fatalf("full scan found %d keys, want 601", n)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SCAN", "x"}, "-ERR invalid cursor\r\n"},
		{[]string{"SCAN", "0", "COUNT", "0"}, "-ERR syntax error\r\n"},
		{[]string{"SCAN", "0", "COUNT", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SCAN", "0", "MATCH"}, "-ERR syntax error\r\n"},
		{[]string{"SCAN", "0", "BOGUS", "1"}, "-ERR syntax error\r\n"},
		{[]string{"HSCAN", "nokey", "0"}, "*2\r\n$1\r\n0\r\n*0\r\n"},
		{[]string{"HSCAN", "user:1", "0"}, "-" + ErrWrongType + "\r\n"},
		{[]string{"SSCAN", "user:hash", "0"}, "-" + ErrWrongType + "\r\n"},
	} {
		if got := run(t, s, 0, tc.args...); got != tc.want {
			t.Errorf("%v = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestCollectionScanLarge(t *testing.T) {
	s := New(0)
	h := Hash{}
	set := Set{}
	for i := 0; i < 1000; i++ {
		h["f"+strconv.Itoa(i)] = "v" + strconv.Itoa(i)
		set["m"+strconv.Itoa(i)] = struct{}{}
	}
	s.DB(0).set([]byte("h"), h, false)
	s.DB(0).set([]byte("s"), set, false)
	for _, cmd := range []string{"HSCAN", "SSCAN"} {
		key := map[string]string{"HSCAN": "h", "SSCAN": "s"}[cmd]
		seen := map[string]int{}
		cursor := "0"
		for calls := 0; ; calls++ {
			var items []string
			cursor, items = scanReply(t, run(t, s, 0, cmd, key, cursor, "COUNT", "25"))
			step := 1
			if cmd == "HSCAN" {
				step = 2
				for i := 0; i < len(items); i += 2 {
					if "v"+items[i][1:] != items[i+1] {
						t.Fatalf("HSCAN paired %q with %q", items[i], items[i+1])
					}
				}
			}
			for i := 0; i < len(items); i += step {
				seen[items[i]]++
			}
			if cursor == "0" {
				break
			}
			if calls > 1000 {
				t.Fatalf("%s did not finish", cmd)
			}
		}
		if len(seen) != 1000 {
			t.Fatalf("%s returned %d distinct elements, want 1000", cmd, len(seen))
		}
	}
}

package conn

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// infoTestSections splits an INFO body into its section titles and the
// key:value pairs of each, checking the framing on the way: "# Title",
// "key:value" lines ending in \r\n, one empty line between sections.
func infoTestSections(t *testing.T, body string) ([]string, map[string]map[string]string) {
	t.Helper()
	if body == "" {
		return nil, nil
	}
	if !strings.HasSuffix(body, "\r\n") || strings.HasSuffix(body, "\r\n\r\n") {
		t.Fatalf("INFO body must end with exactly one \\r\\n: %q", body)
	}
	var titles []string
	fields := map[string]map[string]string{}
	for i, sec := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n\r\n") {
		lines := strings.Split(sec, "\r\n")
		title, ok := strings.CutPrefix(lines[0], "# ")
		if !ok {
			t.Fatalf("section %d starts with %q", i, lines[0])
		}
		titles = append(titles, title)
		fields[title] = map[string]string{}
		for _, l := range lines[1:] {
			k, v, ok := strings.Cut(l, ":")
			if !ok || k == "" || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("section %s: bad line %q", title, l)
			}
			fields[title][k] = v
		}
	}
	return titles, fields
}

var infoTestDefault = []string{"Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
	"CPU", "Modules", "Errorstats", "Cluster", "Keyspace"}

func TestInfoCmdSections(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			rdb := clientTestConn(t, addr, proto)

			for _, args := range [][]any{{"INFO"}, {"INFO", "default"}, {"info", "DEFAULT", "nosuch"}} {
				body, err := rdb.Do(ctx, args...).Text()
				if err != nil {
					t.Fatal(err)
				}
				titles, f := infoTestSections(t, body)
				if strings.Join(titles, ",") != strings.Join(infoTestDefault, ",") {
					t.Fatalf("%v: sections %v, want %v", args, titles, infoTestDefault)
				}
				if f["Server"]["redis_version"] != RedisVersion || f["Persistence"]["loading"] != "0" ||
					f["Replication"]["role"] != "master" || f["Server"]["redis_mode"] != "standalone" {
					t.Fatalf("%v: missing basics in %q", args, body)
				}
				if !strings.HasPrefix(body, "# Server\r\nredis_version:7.0.15\r\n") {
					t.Fatalf("INFO starts with %q", body[:40])
				}
			}

			body := rdb.Info(ctx, "all").Val()
			titles, f := infoTestSections(t, body)
			all := strings.Replace(strings.Join(infoTestDefault, ","), "Errorstats", "Commandstats,Errorstats,Latencystats", 1) + ",Shards"
			if got := strings.Join(titles, ","); got != all {
				t.Fatalf("INFO all: sections %s", got)
			}
			if n, _ := strconv.Atoi(f["Clients"]["connected_clients"]); n != 1 {
				t.Fatalf("connected_clients = %q, want 1", f["Clients"]["connected_clients"])
			}
			if n, _ := strconv.Atoi(f["Stats"]["total_commands_processed"]); n < 4 {
				t.Fatalf("total_commands_processed = %q", f["Stats"]["total_commands_processed"])
			}
			if n, _ := strconv.Atoi(f["Stats"]["total_net_input_bytes"]); n < 20 {
				t.Fatalf("total_net_input_bytes = %q", f["Stats"]["total_net_input_bytes"])
			}
			_, port, _ := net.SplitHostPort(addr)
			if f["Server"]["tcp_port"] != port || f["Server"]["valkyrie_version"] != ValkyrieVersion {
				t.Fatalf("server section: %v", f["Server"])
			}
			if n, _ := strconv.Atoi(f["Memory"]["used_memory"]); n <= 0 {
				t.Fatalf("used_memory = %q", f["Memory"]["used_memory"])
			}
			if len(f["Server"]["run_id"]) != 40 {
				t.Fatalf("run_id = %q", f["Server"]["run_id"])
			}

			// Sections print in the server's order, in any letter case.
			titles, _ = infoTestSections(t, rdb.Info(ctx, "KEYSPACE", "cpu", "Server").Val())
			if strings.Join(titles, ",") != "Server,CPU,Keyspace" {
				t.Fatalf("INFO KEYSPACE cpu Server: %v", titles)
			}
			// Unknown sections give an empty body, like Redis.
			if body, err := rdb.Info(ctx, "nosuch").Result(); err != nil || body != "" {
				t.Fatalf("INFO nosuch = %q, %v", body, err)
			}
			// An empty keyspace still has its header.
			if body := rdb.Info(ctx, "keyspace").Val(); body != "# Keyspace\r\n" {
				t.Fatalf("empty keyspace = %q", body)
			}
		})
	}
}

func TestInfoCmdKeyspaceAndShards(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			const shards = 8
			_, addr := startServer(t, shards)
			ctx := context.Background()
			rdb := clientTestConn(t, addr, proto)

			perShard := make([]int, shards)
			for i := 0; i < 100; i++ {
				k := "key:" + strconv.Itoa(i)
				ttl := time.Duration(0)
				if i%10 == 0 {
					ttl = time.Hour
				}
				if err := rdb.Set(ctx, k, i, ttl).Err(); err != nil {
					t.Fatal(err)
				}
				perShard[shard.Owner([]byte(k), shards)]++
			}
			rdb.Select(ctx, 2)
			rdb.MSet(ctx, "x", 1, "y", 2, "z", 3)
			rdb.Select(ctx, 0)

			_, f := infoTestSections(t, rdb.Info(ctx, "keyspace").Val())
			want := map[string]string{"db0": "keys=100,expires=10,avg_ttl=0", "db2": "keys=3,expires=0,avg_ttl=0"}
			if len(f["Keyspace"]) != len(want) {
				t.Fatalf("keyspace = %v, want %v", f["Keyspace"], want)
			}
			for k, v := range want {
				if f["Keyspace"][k] != v {
					t.Fatalf("keyspace %s = %q, want %q", k, f["Keyspace"][k], v)
				}
			}

			_, f = infoTestSections(t, rdb.Info(ctx, "shards").Val())
			if len(f["Shards"]) != shards {
				t.Fatalf("shards section has %d lines, want %d: %v", len(f["Shards"]), shards, f["Shards"])
			}
			total := 0
			for id := 0; id < shards; id++ {
				line := f["Shards"]["shard"+strconv.Itoa(id)]
				kv := map[string]int{}
				for _, p := range strings.Split(line, ",") {
					k, v, _ := strings.Cut(p, "=")
					kv[k], _ = strconv.Atoi(v)
				}
				if len(kv) != 4 || kv["mailbox"] < 0 || kv["commands"] < 1 {
					t.Fatalf("shard%d: %q", id, line)
				}
				total += kv["keys"]
				if kv["keys"] != perShard[id]+infoTestOwned(id, shards, "x", "y", "z") {
					t.Fatalf("shard%d has %d keys, want %d", id, kv["keys"], perShard[id])
				}
			}
			if total != 103 {
				t.Fatalf("shards hold %d keys, want 103", total)
			}
		})
	}
}

func infoTestOwned(id, n int, keys ...string) int {
	c := 0
	for _, k := range keys {
		if shard.Owner([]byte(k), n) == id {
			c++
		}
	}
	return c
}

// TestInfoCmdWire checks the reply types byte by byte: a bulk string in
// RESP2, a verbatim "txt" string in RESP3.
func TestInfoCmdWire(t *testing.T) {
	_, addr := startServer(t, 2)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	read := func(n int) string {
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		return string(buf)
	}
	nc.Write([]byte("INFO nosuch\r\nINFO cluster\r\nHELLO 3\r\n"))
	if got := read(len("$0\r\n\r\n")); got != "$0\r\n\r\n" {
		t.Fatalf("RESP2 empty INFO = %q", got)
	}
	want := "$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"
	if got := read(len(want)); got != want {
		t.Fatalf("RESP2 INFO cluster = %q, want %q", got, want)
	}
	// Skip HELLO's map, then look at INFO under RESP3.
	nc.Write([]byte("PING\r\n"))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "+PONG\r\n" {
			break
		}
	}
	nc.Write([]byte("INFO cluster\r\nINFO nosuch\r\n"))
	want = "=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n=4\r\ntxt:\r\n"
	if got := read(len(want)); got != want {
		t.Fatalf("RESP3 INFO = %q, want %q", got, want)
	}
}

func TestInfoCountsErrorReplies(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	rdb.Set(ctx, "s", "v", 0)
	rdb.LPush(ctx, "s", "x")     // WRONGTYPE, from a shard
	rdb.Do(ctx, "nosuchcommand") // unknown command, local
	rdb.Do(ctx, "GET")           // wrong arity
	rdb.Do(ctx, "SELECT", "99")  // local error
	info := rdb.Info(ctx, "stats").Val()
	if !strings.Contains(info, "total_error_replies:4\r\n") {
		t.Fatalf("want total_error_replies:4 in\n%s", info)
	}
}

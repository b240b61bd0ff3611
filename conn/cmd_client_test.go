package conn

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clientTestConn opens one go-redis connection that never retries, so an
// error from a killed connection reaches the test.
func clientTestConn(t *testing.T, addr string, proto int) *redis.Conn {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, MaxRetries: -1, PoolSize: 1})
	cn := rdb.Conn()
	t.Cleanup(func() {
		cn.Close()
		rdb.Close()
	})
	if err := cn.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return cn
}

// clientListFields is the field order of a Redis 7.0 CLIENT LIST line.
var clientListFields = strings.Fields(`id addr laddr fd name age idle flags db sub psub ssub multi
	qbuf qbuf-free argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp`)

// clientTestParse splits CLIENT LIST output into one map per line, and
// checks every line has exactly Redis 7.0's fields in order.
func clientTestParse(t *testing.T, list string) []map[string]string {
	t.Helper()
	if list != "" && !strings.HasSuffix(list, "\n") {
		t.Fatalf("CLIENT LIST output does not end with a newline: %q", list)
	}
	var out []map[string]string
	for _, line := range strings.Split(strings.TrimSuffix(list, "\n"), "\n") {
		if line == "" {
			continue
		}
		parts := strings.Split(line, " ")
		if len(parts) != len(clientListFields) {
			t.Fatalf("line has %d fields, want %d: %q", len(parts), len(clientListFields), line)
		}
		m := map[string]string{}
		for i, p := range parts {
			k, v, ok := strings.Cut(p, "=")
			if !ok || k != clientListFields[i] {
				t.Fatalf("field %d is %q, want %s=...: %q", i, p, clientListFields[i], line)
			}
			m[k] = v
		}
		out = append(out, m)
	}
	return out
}

func clientTestByID(t *testing.T, lines []map[string]string, id int64) map[string]string {
	t.Helper()
	for _, m := range lines {
		if m["id"] == strconv.FormatInt(id, 10) {
			return m
		}
	}
	t.Fatalf("client %d not listed in %v", id, lines)
	return nil
}

func clientTestErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestClientCmdIDAndName(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			a := clientTestConn(t, addr, proto)
			b := clientTestConn(t, addr, proto)

			idA := a.ClientID(ctx).Val()
			if again := a.ClientID(ctx).Val(); idA == 0 || again != idA {
				t.Fatalf("CLIENT ID = %d then %d, want the same non-zero ID", idA, again)
			}
			if idB := b.ClientID(ctx).Val(); idB == 0 || idB == idA {
				t.Fatalf("two connections share ID %d", idB)
			}
			if hello := a.Do(ctx, "HELLO", proto).Val(); hello != nil {
				if m, ok := hello.(map[any]any); ok && m["id"] != idA {
					t.Fatalf("HELLO id = %v, CLIENT ID = %d", m["id"], idA)
				}
			}

			if _, err := a.ClientGetName(ctx).Result(); err != redis.Nil {
				t.Fatalf("GETNAME without a name: %v, want nil reply", err)
			}
			if err := a.ClientSetName(ctx, "alpha").Err(); err != nil {
				t.Fatal(err)
			}
			if got := a.ClientGetName(ctx).Val(); got != "alpha" {
				t.Fatalf("GETNAME = %q, want alpha", got)
			}
			if _, err := b.ClientGetName(ctx).Result(); err != redis.Nil {
				t.Fatalf("the name leaked to another connection: %v", err)
			}
			for _, bad := range []string{"a b", "a\nb", "héllo", "tab\t"} {
				clientTestErr(t, a.ClientSetName(ctx, bad).Err(),
					"ERR Client names cannot contain spaces, newlines or special characters.")
			}
			if got := a.ClientGetName(ctx).Val(); got != "alpha" {
				t.Fatalf("a rejected name replaced the old one: %q", got)
			}
			if err := a.ClientSetName(ctx, "").Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := a.ClientGetName(ctx).Result(); err != redis.Nil {
				t.Fatalf("an empty SETNAME did not clear the name: %v", err)
			}

			clientTestErr(t, a.Do(ctx, "CLIENT", "foo").Err(), "ERR unknown subcommand 'foo'. Try CLIENT HELP.")
			clientTestErr(t, a.Do(ctx, "client", "SETNAME").Err(), "ERR wrong number of arguments for 'client|setname' command")
			clientTestErr(t, a.Do(ctx, "CLIENT", "id", "x").Err(), "ERR wrong number of arguments for 'client|id' command")
			clientTestErr(t, a.Do(ctx, "CLIENT").Err(), "ERR wrong number of arguments for 'client' command")
		})
	}
}

func TestClientCmdSetInfo(t *testing.T) {
	srv, addr := startServer(t, 2)
	ctx := context.Background()
	a := clientTestConn(t, addr, 3)
	id := a.ClientID(ctx).Val()

	// go-redis sends CLIENT SETINFO LIB-NAME and LIB-VER on connect.
	srv.mu.Lock()
	cl := srv.clients[id]
	srv.mu.Unlock()
	cl.info.mu.Lock()
	lib, ver := cl.info.libName, cl.info.libVer
	cl.info.mu.Unlock()
	if !strings.HasPrefix(lib, "go-redis") || ver == "" {
		t.Fatalf("after connecting lib-name=%q lib-ver=%q, want go-redis's", lib, ver)
	}

	clientTestErr(t, a.Do(ctx, "CLIENT", "SETINFO", "foo", "bar").Err(), "ERR Unrecognized option 'foo'")
	clientTestErr(t, a.Do(ctx, "CLIENT", "SETINFO", "lib-name", "a b").Err(),
		"ERR lib-name cannot contain spaces, newlines or special characters.")
	clientTestErr(t, a.Do(ctx, "CLIENT", "SETINFO", "lib-name").Err(),
		"ERR wrong number of arguments for 'client|setinfo' command")
	if err := a.Do(ctx, "CLIENT", "SETINFO", "LIB-VER", "9.9").Err(); err != nil {
		t.Fatal(err)
	}
	cl.info.mu.Lock()
	ver = cl.info.libVer
	cl.info.mu.Unlock()
	if ver != "9.9" {
		t.Fatalf("lib-ver = %q after SETINFO LIB-VER 9.9", ver)
	}
}

func TestClientCmdList(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			a := clientTestConn(t, addr, proto)
			b := clientTestConn(t, addr, proto)
			idA, idB := a.ClientID(ctx).Val(), b.ClientID(ctx).Val()
			a.ClientSetName(ctx, "first")
			b.ClientSetName(ctx, "second")
			if err := b.Select(ctx, 4).Err(); err != nil {
				t.Fatal(err)
			}
			if err := b.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}

			list, err := a.ClientList(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			lines := clientTestParse(t, list)
			if len(lines) != 2 {
				t.Fatalf("CLIENT LIST has %d lines, want 2:\n%s", len(lines), list)
			}
			if lines[0]["id"] != strconv.FormatInt(idA, 10) {
				t.Fatalf("CLIENT LIST is not in connection order:\n%s", list)
			}
			la, lb := clientTestByID(t, lines, idA), clientTestByID(t, lines, idB)
			want := map[string]string{"name": "first", "db": "0", "cmd": "client|list", "idle": "0",
				"flags": "N", "user": "default", "resp": strconv.Itoa(proto), "multi": "-1"}
			for k, v := range want {
				if la[k] != v {
					t.Errorf("own line: %s=%q, want %q", k, la[k], v)
				}
			}
			for k, v := range map[string]string{"name": "second", "db": "4", "cmd": "set"} {
				if lb[k] != v {
					t.Errorf("other line: %s=%q, want %q", k, lb[k], v)
				}
			}
			if la["addr"] == lb["addr"] || la["laddr"] != addr || lb["laddr"] != addr {
				t.Errorf("addresses: %s/%s and %s/%s", la["addr"], la["laddr"], lb["addr"], lb["laddr"])
			}
			if fd, _ := strconv.Atoi(la["fd"]); fd <= 0 || la["fd"] == lb["fd"] {
				t.Errorf("fds %s and %s", la["fd"], lb["fd"])
			}

			// CLIENT INFO is the caller's own line, and go-redis parses it.
			info, err := b.ClientInfo(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			if info.ID != idB || info.Name != "second" || info.DB != 4 || info.LastCmd != "client|info" || info.Resp != proto {
				t.Fatalf("CLIENT INFO = %+v", info)
			}
			raw := b.Do(ctx, "CLIENT", "INFO").Val().(string)
			if one := clientTestParse(t, raw); len(one) != 1 || one[0]["id"] != strconv.FormatInt(idB, 10) {
				t.Fatalf("CLIENT INFO = %q", raw)
			}

			// Filters.
			only := a.Do(ctx, "CLIENT", "LIST", "ID", idB, 999999, idB).Val().(string)
			if got := clientTestParse(t, only); len(got) != 2 || got[0]["id"] != lb["id"] || got[1]["id"] != lb["id"] {
				t.Fatalf("CLIENT LIST ID %d 999999 %d = %q", idB, idB, only)
			}
			if got := clientTestParse(t, a.Do(ctx, "CLIENT", "LIST", "TYPE", "NORMAL").Val().(string)); len(got) != 2 {
				t.Fatalf("TYPE normal lists %d clients, want 2", len(got))
			}
			if got := a.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Val(); got != "" {
				t.Fatalf("TYPE pubsub = %q, want empty", got)
			}
			clientTestErr(t, a.Do(ctx, "CLIENT", "LIST", "TYPE", "foo").Err(), "ERR Unknown client type 'foo'")
			clientTestErr(t, a.Do(ctx, "CLIENT", "LIST", "ID", "x").Err(), "ERR Invalid client ID")
			clientTestErr(t, a.Do(ctx, "CLIENT", "LIST", "TYPE", "normal", "ID", "1").Err(), "ERR syntax error")

			// NO-EVICT shows as flag e.
			if err := a.Do(ctx, "CLIENT", "NO-EVICT", "on").Err(); err != nil {
				t.Fatal(err)
			}
			if got := clientTestParse(t, a.Do(ctx, "CLIENT", "INFO").Val().(string)); got[0]["flags"] != "e" {
				t.Fatalf("flags after NO-EVICT on: %q", got[0]["flags"])
			}
			clientTestErr(t, a.Do(ctx, "CLIENT", "NO-EVICT", "maybe").Err(), "ERR syntax error")
		})
	}
}

func TestClientCmdIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps")
	}
	_, addr := startServer(t, 2)
	ctx := context.Background()
	a := clientTestConn(t, addr, 2)
	b := clientTestConn(t, addr, 2)
	idB := b.ClientID(ctx).Val()
	b.Get(ctx, "x")
	time.Sleep(1100 * time.Millisecond)
	lb := clientTestByID(t, clientTestParse(t, a.ClientList(ctx).Val()), idB)
	idle, _ := strconv.Atoi(lb["idle"])
	age, _ := strconv.Atoi(lb["age"])
	if idle < 1 || age < idle || lb["cmd"] != "get" {
		t.Fatalf("idle client: idle=%s age=%s cmd=%s, want idle >= 1, age >= idle, get", lb["idle"], lb["age"], lb["cmd"])
	}
	idA := a.ClientID(ctx).Val()
	la := clientTestByID(t, clientTestParse(t, b.ClientList(ctx).Val()), idA)
	if la["cmd"] != "client|id" {
		t.Fatalf("cmd=%s, want client|id", la["cmd"])
	}
	// Like Redis, an unknown command leaves no last command.
	a.Do(ctx, "NOSUCHCOMMAND")
	la = clientTestByID(t, clientTestParse(t, b.ClientList(ctx).Val()), idA)
	if la["cmd"] != "NULL" {
		t.Fatalf("cmd=%s after an unknown command, want NULL", la["cmd"])
	}
}

func TestClientCmdKill(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			a := clientTestConn(t, addr, proto)
			idA := a.ClientID(ctx).Val()

			// By ID.
			v := clientTestConn(t, addr, proto)
			idV := v.ClientID(ctx).Val()
			if n, err := a.ClientKillByFilter(ctx, "ID", strconv.FormatInt(idV, 10)).Result(); err != nil || n != 1 {
				t.Fatalf("CLIENT KILL ID = %d, %v", n, err)
			}
			if err := v.Ping(ctx).Err(); err == nil {
				t.Fatal("the killed connection still answers")
			}
			clientTestWaitGone(t, a, idV)

			// The old form, by address.
			v = clientTestConn(t, addr, proto)
			vi, err := v.ClientInfo(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got, err := a.Do(ctx, "CLIENT", "KILL", vi.Addr).Result(); err != nil || got != "OK" {
				t.Fatalf("CLIENT KILL %s = %v, %v", vi.Addr, got, err)
			}
			if err := v.Ping(ctx).Err(); err == nil {
				t.Fatal("the killed connection still answers")
			}
			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL", vi.Addr).Err(), "ERR No such client")
			clientTestWaitGone(t, a, vi.ID)

			// Filters: ADDR and LADDR, SKIPME and USER.
			v = clientTestConn(t, addr, proto)
			vi = v.ClientInfo(ctx).Val()
			if n := a.ClientKillByFilter(ctx, "ADDR", "127.0.0.1:1").Val(); n != 0 {
				t.Fatalf("KILL ADDR of nobody = %d", n)
			}
			if n := a.ClientKillByFilter(ctx, "LADDR", addr, "ADDR", vi.Addr, "USER", "default").Val(); n != 1 {
				t.Fatalf("KILL LADDR ADDR USER = %d, want 1", n)
			}
			if n := a.ClientKillByFilter(ctx, "LADDR", addr).Val(); n != 0 {
				t.Fatalf("KILL LADDR killed %d, want 0: the caller is skipped", n)
			}
			if a.Ping(ctx).Err() != nil {
				t.Fatal("SKIPME default killed the caller")
			}

			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL", "ID", "0").Err(), "ERR client-id should be greater than 0")
			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL", "ID", "abc").Err(), "ERR client-id should be greater than 0")
			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL", "ID", "1", "SKIPME").Err(), "ERR syntax error")
			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL", "SKIPME", "maybe").Err(), "ERR syntax error")
			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL", "USER", "nobody").Err(), "ERR No such user 'nobody'")
			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL", "TYPE", "foo").Err(), "ERR Unknown client type 'foo'")
			clientTestErr(t, a.Do(ctx, "CLIENT", "KILL").Err(), "ERR wrong number of arguments for 'client|kill' command")

			// Killing oneself: the reply arrives, then the connection closes.
			if n, err := a.ClientKillByFilter(ctx, "ID", strconv.FormatInt(idA, 10), "SKIPME", "no").Result(); err != nil || n != 1 {
				t.Fatalf("self kill = %d, %v", n, err)
			}
			if err := a.Ping(ctx).Err(); err == nil {
				t.Fatal("a connection that killed itself still answers")
			}
		})
	}
}

// clientTestWaitGone waits until CLIENT LIST no longer shows id.
func clientTestWaitGone(t *testing.T, cn *redis.Conn, id int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		gone := true
		for _, m := range clientTestParse(t, cn.ClientList(context.Background()).Val()) {
			gone = gone && m["id"] != strconv.FormatInt(id, 10)
		}
		if gone {
			return
		}
	}
	t.Fatalf("client %d still listed after being killed", id)
}

func TestClientCmdHelp(t *testing.T) {
	_, addr := startServer(t, 1)
	ctx := context.Background()
	a := clientTestConn(t, addr, 2)
	lines, err := a.Do(ctx, "CLIENT", "HELP").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 4 || lines[0] != "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" || lines[len(lines)-2] != "HELP" {
		t.Fatalf("CLIENT HELP = %q", lines)
	}
	for _, sub := range []string{"GETNAME", "ID", "INFO", "KILL", "LIST", "NO-EVICT", "SETINFO", "SETNAME"} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, sub)
		}
		if !found {
			t.Errorf("CLIENT HELP does not mention %s", sub)
		}
	}
	clientTestErr(t, a.Do(ctx, "CLIENT", "HELP", "x").Err(), "ERR wrong number of arguments for 'client|help' command")
}

// The subcommands' syntax strings must be readable by COMMAND DOCS.
func TestClientCmdSyntax(t *testing.T) {
	for _, s := range clientSpecs {
		if _, err := parseSyntax(s.Syntax); err != nil {
			t.Errorf("%s: syntax %q: %v", s.Name, s.Syntax, err)
		}
	}
}

// CLIENT LIST, CLIENT KILL and INFO read other connections while they run
// commands, connect and disconnect; the race detector checks the locking.
func TestClientCmdListConcurrent(t *testing.T) {
	_, addr := startServer(t, 4)
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	const workers = 4
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1})
				rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					p.Do(ctx, "CLIENT", "SETNAME", "w"+strconv.Itoa(i))
					p.Select(ctx, i%16)
					p.Set(ctx, "k"+strconv.Itoa(i), i, 0)
					p.Do(ctx, "CLIENT", "NO-EVICT", "on")
					return nil
				})
				rdb.Close()
			}
		}()
	}
	a := clientTestConn(t, addr, 3)
	for i := 0; i < 50; i++ {
		clientTestParse(t, a.ClientList(ctx).Val())
		if err := a.Info(ctx, "all").Err(); err != nil {
			t.Fatal(err)
		}
		a.ClientKillByFilter(ctx, "TYPE", "normal")
	}
	close(stop)
	for w := 0; w < workers; w++ {
		<-done
	}
}

func TestClientReplyModes(t *testing.T) {
	_, addr := startServer(t, 8)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	send := "CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n" +
		"CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\nPING\r\n"
	if _, err := nc.Write([]byte(send)); err != nil {
		t.Fatal(err)
	}
	want := "+OK\r\n$1\r\n1\r\n$1\r\n2\r\n+PONG\r\n"
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 0, len(want))
	buf := make([]byte, 256)
	for len(got) < len(want) {
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("read after %q: %v", got, err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != want {
		t.Fatalf("replies = %q, want %q", got, want)
	}
}

package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// aclClient is a go-redis client that does not send HELLO or CLIENT
// SETINFO on connect, so that an unauthenticated connection can be tested.
func aclClient(t *testing.T, addr string, opt func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1}
	if opt != nil {
		opt(o)
	}
	rdb := redis.NewClient(o)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func wantOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func do(rdb *redis.Client, args ...any) *redis.Cmd {
	return rdb.Do(context.Background(), args...)
}

func TestAuthRequirepass(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()

	wantErr(t, do(admin, "AUTH", "foo").Err(), "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	wantErr(t, do(admin, "AUTH", "default", "x", "y").Err(), "ERR syntax error")
	wantOK(t, do(admin, "AUTH", "default", "anything").Err()) // nopass takes any password
	wantOK(t, admin.ConfigSet(ctx, "requirepass", "secret").Err())

	// The admin connection stays authenticated; a new one is not.
	wantOK(t, admin.Set(ctx, "k", "v", 0).Err())
	c := aclClient(t, addr, nil)
	wantErr(t, c.Get(ctx, "k").Err(), "NOAUTH Authentication required.")
	wantErr(t, do(c, "NOSUCH").Err(), "ERR unknown command 'NOSUCH', with args beginning with: ")
	wantErr(t, do(c, "GET").Err(), "ERR wrong number of arguments for 'get' command")
	wantErr(t, do(c, "HELLO", "3").Err(), "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	wantErr(t, do(c, "AUTH", "wrong").Err(), "WRONGPASS invalid username-password pair or user is disabled.")
	wantErr(t, do(c, "AUTH", "nosuchuser", "secret").Err(), "WRONGPASS invalid username-password pair or user is disabled.")
	wantOK(t, do(c, "AUTH", "secret").Err())
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after AUTH = %q, %v", v, err)
	}
	// RESET goes back to the default user, which needs a password.
	wantOK(t, do(c, "RESET").Err())
	wantErr(t, c.Get(ctx, "k").Err(), "NOAUTH Authentication required.")
	wantErr(t, do(c, "MULTI").Err(), "NOAUTH Authentication required.")
	// HELLO AUTH authenticates and switches protocol at once.
	wantErr(t, do(c, "HELLO", "3", "AUTH", "default", "bad").Err(), "WRONGPASS invalid username-password pair or user is disabled.")
	if m, err := do(c, "HELLO", "2", "AUTH", "default", "secret").Slice(); err != nil || len(m) != 14 {
		t.Fatalf("HELLO AUTH = %v, %v", m, err)
	}
	wantOK(t, c.Get(ctx, "k").Err())
	// Clearing requirepass lets everyone in again.
	wantOK(t, admin.ConfigSet(ctx, "requirepass", "").Err())
	wantOK(t, aclClient(t, addr, nil).Get(ctx, "k").Err())
	// ACL LIST shows the hash requirepass set.
	wantOK(t, admin.ConfigSet(ctx, "requirepass", "secret").Err())
	list, err := do(admin, "ACL", "LIST").StringSlice()
	wantOK(t, err)
	want := "user default on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* +@all"
	if !slices.Contains(list, want) {
		t.Fatalf("ACL LIST = %q, want %q in it", list, want)
	}
	// QUIT needs no authentication.
	q := aclClient(t, addr, nil)
	wantOK(t, do(q, "QUIT").Err())
}

func TestACLCommandPermissions(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "u", "on", ">pw", "~*", "-@all", "+@read", "-hget", "+config|get", "+select|0", "+acl|whoami").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "u", "pw" })
	if who, err := do(c, "ACL", "WHOAMI").Text(); err != nil || who != "u" {
		t.Fatalf("WHOAMI = %q, %v", who, err)
	}
	wantOK(t, nilErr(c.Get(ctx, "x").Err()))
	wantErr(t, c.Set(ctx, "x", "1", 0).Err(), "NOPERM this user has no permissions to run the 'set' command")
	wantErr(t, c.HGet(ctx, "h", "f").Err(), "NOPERM this user has no permissions to run the 'hget' command")
	wantOK(t, c.ConfigGet(ctx, "maxmemory").Err())
	wantErr(t, c.ConfigSet(ctx, "maxmemory", "0").Err(), "NOPERM this user has no permissions to run the 'config|set' command")
	wantOK(t, do(c, "SELECT", "0").Err())
	wantErr(t, do(c, "SELECT", "1").Err(), "NOPERM this user has no permissions to run the 'select' command")
	// Commands flagged no-auth are never denied.
	wantOK(t, do(c, "AUTH", "u", "pw").Err())
	// A queued denial aborts the transaction.
	wantErr(t, do(c, "ACL", "SETUSER", "u", "+multi").Err(), "NOPERM this user has no permissions to run the 'acl|setuser' command")
	wantOK(t, do(admin, "ACL", "SETUSER", "u", "+multi", "+exec").Err())
	wantOK(t, do(c, "MULTI").Err())
	wantErr(t, do(c, "SET", "a", "b").Err(), "NOPERM this user has no permissions to run the 'set' command")
	wantErr(t, do(c, "EXEC").Err(), "EXECABORT Transaction discarded because of previous errors.")
	// Changing the user applies to connected clients at once.
	wantOK(t, do(admin, "ACL", "SETUSER", "u", "+set").Err())
	wantOK(t, c.Set(ctx, "x", "1", 0).Err())
	// DRYRUN answers for a user without running the command.
	if r, err := do(admin, "ACL", "DRYRUN", "u", "hget", "h", "f").Text(); err != nil || r != "This user has no permissions to run the 'hget' command" {
		t.Fatalf("DRYRUN = %q, %v", r, err)
	}
	if r, err := do(admin, "ACL", "DRYRUN", "u", "get", "x").Text(); err != nil || r != "OK" {
		t.Fatalf("DRYRUN = %q, %v", r, err)
	}
	// A disabled user cannot authenticate.
	wantOK(t, do(admin, "ACL", "SETUSER", "u", "off").Err())
	wantErr(t, do(c, "AUTH", "u", "pw").Err(), "WRONGPASS invalid username-password pair or user is disabled.")
}

// nilErr maps redis.Nil to nil, so a nil reply counts as success.
func nilErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

func TestACLKeyPermissions(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "k", "on", "nopass", "+@all", "~foo*", "%R~ro*", "%W~wo*").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "k", "x" })
	const denied = "NOPERM this user has no permissions to access one of the keys used as arguments"
	wantOK(t, c.Set(ctx, "foo1", "v", 0).Err())
	wantErr(t, c.Set(ctx, "bar", "v", 0).Err(), denied)
	wantErr(t, c.MSet(ctx, "foo2", "v", "bar", "v").Err(), denied) // keys on many shards
	wantOK(t, nilErr(c.Get(ctx, "ro1").Err()))
	wantErr(t, c.Set(ctx, "ro1", "v", 0).Err(), denied)
	wantOK(t, c.Set(ctx, "wo1", "v", 0).Err())
	wantErr(t, c.Get(ctx, "wo1").Err(), denied)
	// Movable keys: the numkeys of ZUNIONSTORE and of EVAL.
	wantErr(t, c.ZUnionStore(ctx, "foo3", &redis.ZStore{Keys: []string{"foo4", "bar"}}).Err(), denied)
	wantOK(t, c.ZUnionStore(ctx, "foo3", &redis.ZStore{Keys: []string{"foo4", "foo5"}}).Err())
	wantErr(t, c.Eval(ctx, "return 1", []string{"bar"}).Err(), denied)
	// Scripts check every command they call.
	err := c.Eval(ctx, "return redis.call('get', 'bar')", nil).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments script: ") {
		t.Fatalf("EVAL reading a denied key: %v", err)
	}
}

func TestACLScriptCommandPermission(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, func(o *redis.Options) { o.Protocol = 3 })
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "s", "on", "nopass", "~*", "+eval", "+get").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "s", "x" })
	wantOK(t, nilErr(c.Eval(ctx, "return redis.call('get', 'x')", nil).Err()))
	err := c.Eval(ctx, "return redis.call('set', 'x', 1)", nil).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR The user executing the script can't run this command or subcommand") {
		t.Fatalf("EVAL calling SET = %v", err)
	}
	log, err2 := do(admin, "ACL", "LOG", "1").Slice()
	wantOK(t, err2)
	e := log[0].(map[any]any)
	if e["context"] != "lua" || e["object"] != "set" || e["reason"] != "command" || e["username"] != "s" {
		t.Fatalf("ACL LOG entry = %v", e)
	}
}

func TestACLChannelPermissions(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "p", "on", "nopass", "+@all", "~*", "&news.*", "&lit").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "p", "x" })
	const denied = "NOPERM this user has no permissions to access one of the channels used as arguments"
	wantOK(t, c.Publish(ctx, "news.1", "m").Err())
	wantErr(t, c.Publish(ctx, "other", "m").Err(), denied)
	// A pattern subscription must name an allowed pattern literally.
	wantErr(t, do(c, "PSUBSCRIBE", "news.1*").Err(), denied)
	if r, err := do(admin, "ACL", "DRYRUN", "p", "PSUBSCRIBE", "news.*").Text(); err != nil || r != "OK" {
		t.Fatalf("DRYRUN PSUBSCRIBE news.* = %q, %v", r, err)
	}
	if r, err := do(admin, "ACL", "DRYRUN", "p", "SUBSCRIBE", "lit", "x").Text(); err != nil || r != "This user has no permissions to access the 'x' channel" {
		t.Fatalf("DRYRUN SUBSCRIBE = %q, %v", r, err)
	}
	sub := redis.NewClient(&redis.Options{Addr: addr, Username: "p", Password: "x", DisableIdentity: true})
	defer sub.Close()
	ps := sub.Subscribe(ctx, "other")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err == nil || err.Error() != denied {
		t.Fatalf("SUBSCRIBE other: %v", err)
	}
	// A new user gets no channel (acl-pubsub-default resetchannels).
	wantOK(t, do(admin, "ACL", "SETUSER", "q", "on", "nopass", "+@all", "~*").Err())
	if r, _ := do(admin, "ACL", "DRYRUN", "q", "PUBLISH", "ch", "m").Text(); r != "This user has no permissions to access the 'ch' channel" {
		t.Fatalf("DRYRUN PUBLISH for a new user = %q", r)
	}
}

func TestACLSelectors(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "sel", "on", "nopass", "-@all", "(+get", "~r*)", "(+set ~w*)").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "sel", "x" })
	wantOK(t, nilErr(c.Get(ctx, "r1").Err()))
	wantOK(t, c.Set(ctx, "w1", "v", 0).Err())
	// The most relevant denial is reported: the key, not the command.
	wantErr(t, c.Get(ctx, "w1").Err(), "NOPERM this user has no permissions to access one of the keys used as arguments")
	wantErr(t, c.Del(ctx, "r1").Err(), "NOPERM this user has no permissions to run the 'del' command")
	list, err := do(admin, "ACL", "LIST").StringSlice()
	wantOK(t, err)
	if want := "user sel on nopass resetchannels -@all (~r* resetchannels -@all +get) (~w* resetchannels -@all +set)"; !slices.Contains(list, want) {
		t.Fatalf("ACL LIST = %q", list)
	}
	wantErr(t, do(admin, "ACL", "SETUSER", "sel", "(+get").Err(), "ERR Unmatched parenthesis in acl selector starting at '(+get'.")
	wantOK(t, do(admin, "ACL", "SETUSER", "sel", "clearselectors").Err())
	wantErr(t, c.Set(ctx, "w1", "v", 0).Err(), "NOPERM this user has no permissions to run the 'set' command")
}

func TestACLDelUserClosesConnections(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "gone", "on", "nopass", "+@all", "~*").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "gone", "x" })
	wantOK(t, c.Ping(ctx).Err())
	wantErr(t, do(admin, "ACL", "DELUSER", "default").Err(), "ERR The 'default' user cannot be removed")
	if n, err := do(admin, "ACL", "DELUSER", "gone", "nosuch").Int(); err != nil || n != 1 {
		t.Fatalf("DELUSER = %d, %v", n, err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("the deleted user's connection still answers")
	}
	// The connection deleting its own user is closed after the reply.
	wantOK(t, do(admin, "ACL", "SETUSER", "self", "on", "nopass", "+@all", "~*").Err())
	s := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "self", "x" })
	if n, err := do(s, "ACL", "DELUSER", "self").Int(); err != nil || n != 1 {
		t.Fatalf("DELUSER self = %d, %v", n, err)
	}
	if err := s.Ping(ctx).Err(); err == nil {
		t.Fatal("the connection that deleted its own user still answers")
	}
}

func TestACLLog(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, func(o *redis.Options) { o.Protocol = 3 })
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "l", "on", ">pw", "+get", "~a*").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "l", "pw" })
	c.Get(ctx, "b")
	c.Get(ctx, "b")
	c.Set(ctx, "a", "1", 0)
	do(c, "AUTH", "l", "wrong")
	log, err := do(admin, "ACL", "LOG").Slice()
	wantOK(t, err)
	if len(log) != 3 {
		t.Fatalf("ACL LOG has %d entries: %v", len(log), log)
	}
	want := []struct {
		count                    int64
		reason, object, username string
	}{{1, "auth", "AUTH", "l"}, {1, "command", "set", "l"}, {2, "key", "b", "l"}}
	for i, w := range want {
		e := log[i].(map[any]any)
		if e["count"] != w.count || e["reason"] != w.reason || e["object"] != w.object || e["username"] != w.username || e["context"] != "toplevel" {
			t.Errorf("entry %d = %v, want %+v", i, e, w)
		}
		if ci, _ := e["client-info"].(string); !strings.Contains(ci, " user=l ") {
			t.Errorf("entry %d client-info = %q", i, ci)
		}
	}
	if n, err := do(admin, "ACL", "LOG", "1").Slice(); err != nil || len(n) != 1 {
		t.Fatalf("ACL LOG 1 = %v, %v", n, err)
	}
	wantOK(t, do(admin, "ACL", "LOG", "RESET").Err())
	if n, err := do(admin, "ACL", "LOG").Slice(); err != nil || len(n) != 0 {
		t.Fatalf("ACL LOG after RESET = %v, %v", n, err)
	}
}

func TestACLFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(file, []byte("user alice on >pw ~a* +get\nuser default on nopass ~* &* +@all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.New()
	wantOK(t, cfg.Load("aclfile", file))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	wantOK(t, err)
	srv := New(Options{Shards: 8, Config: cfg})
	wantOK(t, srv.LoadUsersAtStartup(nil))
	if err := srv.LoadUsersAtStartup([][]string{{"x", "on"}}); err == nil {
		t.Error("user directives and an aclfile together were accepted")
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addr := l.Addr().String()
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	a := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "alice", "pw" })
	wantOK(t, nilErr(a.Get(ctx, "a1").Err()))
	wantOK(t, do(admin, "ACL", "SETUSER", "bob", "on", "#"+aclHash([]byte("b")), "%R~b*", "&c", "+@string", "-append").Err())
	wantOK(t, do(admin, "ACL", "SAVE").Err())
	before, _ := do(admin, "ACL", "LIST").StringSlice()
	data, _ := os.ReadFile(file)
	if got := strings.Join(before, "\n") + "\n"; string(data) != got {
		t.Fatalf("saved file:\n%s\nwant:\n%s", data, got)
	}
	wantOK(t, do(admin, "ACL", "DELUSER", "bob").Err())
	wantOK(t, do(admin, "ACL", "LOAD").Err())
	after, _ := do(admin, "ACL", "LIST").StringSlice()
	if !slices.Equal(before, after) {
		t.Fatalf("after LOAD:\n%q\nwant\n%q", after, before)
	}
	// LOAD replaced alice: her connection is closed.
	if err := a.Ping(ctx).Err(); err == nil {
		t.Fatal("a connection of a user replaced by ACL LOAD still answers")
	}
	// A bad file changes nothing.
	os.WriteFile(file, []byte("user carol on +nosuch\nnouser x\n"), 0o644)
	err = do(admin, "ACL", "LOAD").Err()
	want := "ERR " + file + ":1: Error in applying operation '+nosuch': Unknown command or category name in ACL. " + file + ":2 should start with user keyword followed by the username. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
	wantErr(t, err, want)
	still, _ := do(admin, "ACL", "LIST").StringSlice()
	if !slices.Equal(still, before) {
		t.Fatalf("a failed LOAD changed the users: %q", still)
	}
}

func TestACLLoadUsers(t *testing.T) {
	srv, addr := startServer(t, 8)
	wantOK(t, srv.LoadUsers([][]string{{"default", "on", "nopass", "~*", "+@all", "-flushdb"}, {"x", "on", ">p", "+get", "~*"}}))
	admin := aclClient(t, addr, nil)
	wantErr(t, do(admin, "FLUSHDB").Err(), "NOPERM this user has no permissions to run the 'flushdb' command")
	list, _ := do(admin, "ACL", "LIST").StringSlice()
	want := []string{"user default on nopass sanitize-payload ~* resetchannels +@all -flushdb", "user x on #" + aclHash([]byte("p")) + " ~* resetchannels -@all +get"}
	if !slices.Equal(list, want) {
		t.Fatalf("ACL LIST = %q, want %q", list, want)
	}
}

// The ACL's text formats match redis-server's.
func TestACLFormatsMatchRedis(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server is not installed")
	}
	raddr := trStartRedis(t, bin)
	_, vaddr := startServer(t, 8)
	cmds := [][]string{
		{"ACL", "SETUSER", "u1"},
		{"ACL", "SETUSER", "u2", "on", ">pw", "~foo*", "%R~bar*", "%W~baz", "&chan*", "+@read", "-get", "+config|get"},
		{"ACL", "SETUSER", "u3", "reset", "skip-sanitize-payload"},
		{"ACL", "SETUSER", "u4", "on", "nopass", "+@all", "-@dangerous", "~*", "allchannels"},
		{"ACL", "SETUSER", "u5", "on", "nopass", "-@all", "+@string", "+@hash", "-hget"},
		{"ACL", "SETUSER", "u7", "on", "nopass", "+select|0", "+client|id", "-@all", "+@pubsub"},
		{"ACL", "SETUSER", "u8", "on", "nopass", "(+get ~x*)", "(", "+set", "%W~y*", ")"},
		{"ACL", "SETUSER", "u9", "+@all", "-@string", "+get", "-@hash", "+hget", "-@sortedset"},
		{"ACL", "SETUSER", "bad", "%~"},
		{"ACL", "SETUSER", "bad", "+nosuch"},
		{"ACL", "SETUSER", "bad", "~*", "~x"},
		{"ACL", "SETUSER", "bad", "&*", "&x"},
		{"ACL", "SETUSER", "bad", "<nope"},
		{"ACL", "SETUSER", "bad", "#abc"},
		{"ACL", "SETUSER", "bad", "+select|0|1"},
		{"ACL", "SETUSER", "bad", "+config|get|x"},
		{"ACL", "SETUSER", "bad", "x y"},
		{"ACL", "SETUSER", "a b"},
		{"ACL", "SETUSER", "bad", "+"},
		{"ACL", "SETUSER", "bad", "-@"},
		{"ACL", "SETUSER", "bad", "+get|"},
		{"ACL", "SETUSER", "bad", "%"},
		{"ACL", "SETUSER", "bad", "%RWR~a"},
		{"ACL", "SETUSER", "bad", "(+get ~a", "(x)"},
		{"ACL", "SETUSER", "edge", "%R", "%rw~a", ">a b"},
		{"ACL", "LIST"},
		{"ACL", "USERS"},
		{"ACL", "GETUSER", "default"},
		{"ACL", "GETUSER", "u2"},
		{"ACL", "GETUSER", "u8"},
		{"ACL", "GETUSER", "nosuch"},
		{"ACL", "CAT"},
		{"ACL", "CAT", "nosuch"},
		{"ACL", "DRYRUN", "u2", "get", "foo"},
		{"ACL", "DRYRUN", "u2", "mget", "foo", "zzz"},
		{"ACL", "DRYRUN", "u2", "set", "baz", "1"},
		{"ACL", "DRYRUN", "u2", "config", "set", "x", "y"},
		{"ACL", "DRYRUN", "u2", "publish", "chan1", "x"},
		{"ACL", "DRYRUN", "u8", "set", "y1", "1"},
		{"ACL", "DRYRUN", "nouser", "get", "x"},
		{"ACL", "DRYRUN", "u2", "nocmd", "x"},
		{"ACL", "DRYRUN", "u2", "get"},
		{"ACL", "GENPASS", "0"},
		{"ACL", "GENPASS", "x"},
		{"ACL", "LOG", "x"},
		{"ACL", "DELUSER", "default"},
		{"ACL", "DELUSER", "u1", "nosuch"},
		{"ACL", "LOAD"},
		{"ACL", "SAVE"},
		{"AUTH", "x"},
		{"AUTH", "u2", "nope"},
	}
	for _, cmd := range cmds {
		want, err := trCommand(raddr, cmd...)
		wantOK(t, err)
		got, err := trCommand(vaddr, cmd...)
		wantOK(t, err)
		// Redis lists single commands in its hash table's order.
		if g, w := aclSortRules(string(got)), aclSortRules(string(want)); g != w {
			t.Errorf("%q:\n got %q\nwant %q", cmd, got, want)
		}
	}
	// ACL CAT <category> lists the same commands, in another order. The
	// commands Valkyrie lacks are left out, and the known differences of
	// the command table (the categories COMMAND INFO reports too).
	known := map[string]bool{"sort": true, "sort_ro": true, "pubsub|help": true, "client|setinfo": true}
	for _, cat := range aclCategories {
		want, _ := trCommand(raddr, "ACL", "CAT", cat)
		got, _ := trCommand(vaddr, "ACL", "CAT", cat)
		w, g := aclCatNames(string(want)), aclCatNames(string(got))
		for n := range w {
			if !g[n] && aclLookup(n) != nil && !known[n] {
				t.Errorf("ACL CAT %s lacks %s", cat, n)
			}
		}
		for n := range g {
			if !w[n] && !known[n] {
				t.Errorf("ACL CAT %s has %s, which Redis does not", cat, n)
			}
		}
	}
}

func aclCatNames(reply string) map[string]bool {
	out := map[string]bool{}
	lines := strings.Split(reply, "\r\n")
	for i := 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "$") && i+1 < len(lines) {
			out[lines[i+1]] = true
			i++
		}
	}
	return out
}

// aclSortRules sorts each run of single-command rules (+get -set) in a
// reply, which Redis emits in no fixed order.
func aclSortRules(s string) string {
	words := strings.Split(strings.ReplaceAll(s, "\r\n", " \x00 "), " ")
	single := func(w string) bool {
		return len(w) > 1 && (w[0] == '+' || w[0] == '-') && w[1] != '@' && !strings.ContainsAny(w, "\r\n)(")
	}
	for i := 0; i < len(words); {
		if !single(words[i]) {
			i++
			continue
		}
		j := i
		for j < len(words) && single(words[j]) {
			j++
		}
		slices.Sort(words[i:j])
		i = j
	}
	return strings.ReplaceAll(strings.Join(words, " "), " \x00 ", "\r\n")
}

// Shard channels are channels to the ACL, not keys, though Valkyrie routes
// them by their name.
func TestACLShardChannels(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	wantOK(t, do(admin, "ACL", "SETUSER", "sc", "on", "nopass", "+@all", "resetkeys", "&ok*").Err())
	for _, c := range [][]any{{"SPUBLISH", "ok1", "m"}, {"SSUBSCRIBE", "ok1"}} {
		if r, err := do(admin, append([]any{"ACL", "DRYRUN", "sc"}, c...)...).Text(); err != nil || r != "OK" {
			t.Errorf("DRYRUN %v = %q, %v", c, r, err)
		}
	}
	if r, _ := do(admin, "ACL", "DRYRUN", "sc", "SPUBLISH", "no", "m").Text(); r != "This user has no permissions to access the 'no' channel" {
		t.Errorf("DRYRUN SPUBLISH no = %q", r)
	}
}

func TestACLSortPatternsNeedFullReadAccess(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, admin.RPush(ctx, "mylist", 1).Err())
	wantOK(t, do(admin, "ACL", "SETUSER", "so", "on", "nopass", "+sort", "~mylist", "~v*").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "so", "x" })
	wantErr(t, do(c, "SORT", "mylist", "BY", "v*").Err(), "ERR BY option of SORT denied due to insufficient ACL permissions.")
	wantErr(t, do(c, "SORT", "mylist", "GET", "#").Err(), "ERR GET option of SORT denied due to insufficient ACL permissions.")
	wantOK(t, do(c, "SORT", "mylist", "BY", "nosort").Err()) // a constant BY reads nothing
	wantOK(t, do(admin, "ACL", "SETUSER", "so", "%R~*").Err())
	wantOK(t, do(c, "SORT", "mylist", "BY", "v*").Err())
}

func TestACLRevokedChannelClosesSubscriber(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "ps", "on", "nopass", "+@all", "~*", "resetchannels", "&foo:1", "&bar:*", "&keep").Err())
	for _, tc := range []struct {
		kind, name string
		rules      []any
		killed     bool
	}{
		{"SUBSCRIBE", "foo:1", []any{"resetchannels", "&bar:*", "&keep"}, true},
		{"PSUBSCRIBE", "bar:*", []any{"resetchannels", "&foo:1", "&keep"}, true},
		{"SSUBSCRIBE", "foo:1", []any{"resetchannels", "&keep"}, true},
		{"SUBSCRIBE", "keep", []any{"resetchannels", "&keep"}, false},
		{"SUBSCRIBE", "keep", []any{"allchannels"}, false},
	} {
		wantOK(t, do(admin, "ACL", "SETUSER", "ps", "resetchannels", "&foo:1", "&bar:*", "&keep").Err())
		nc, err := net.Dial("tcp", addr)
		wantOK(t, err)
		nc.Write([]byte("AUTH ps x\r\nCLIENT SETNAME deathrow\r\n" + tc.kind + " " + tc.name + "\r\n"))
		buf := make([]byte, 4096)
		got := ""
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for strings.Count(got, "\r\n") < 5 { // +OK +OK and the three lines of the confirmation
			n, err := nc.Read(buf)
			if err != nil {
				t.Fatalf("%s %s: %v after %q", tc.kind, tc.name, err, got)
			}
			got += string(buf[:n])
		}
		wantOK(t, do(admin, append([]any{"ACL", "SETUSER", "ps"}, tc.rules...)...).Err())
		list, err := admin.ClientList(ctx).Result()
		wantOK(t, err)
		if strings.Contains(list, "deathrow") != !tc.killed {
			t.Errorf("%s %s then %v: killed=%v, client list %q", tc.kind, tc.name, tc.rules, !strings.Contains(list, "deathrow"), list)
		}
		nc.Close()
		for i := 0; i < 100; i++ { // let the server see the hang-up
			if l, _ := admin.ClientList(ctx).Result(); !strings.Contains(l, "deathrow") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Permissions are checked again at EXEC: a command queued while allowed
// and refused since gets Redis's error inside the EXEC reply.
func TestACLExecRechecks(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "tx", "on", "nopass", "+@all", "~*").Err())
	nc, err := net.Dial("tcp", addr)
	wantOK(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	read := func(want string) {
		t.Helper()
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != want {
			t.Fatalf("read %q, %v; want %q", buf, err, want)
		}
	}
	nc.Write([]byte("AUTH tx x\r\nMULTI\r\nSET a 1\r\nINCR b\r\n"))
	read("+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n")
	wantOK(t, do(admin, "ACL", "SETUSER", "tx", "-incr").Err())
	nc.Write([]byte("EXEC\r\n"))
	read("*2\r\n+OK\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n")
	if n, _ := admin.Exists(ctx, "b").Result(); n != 0 {
		t.Fatal("the refused INCR ran")
	}
}

func TestClientKillUser(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "kk", "on", "nopass", "+@all", "~*").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "kk", "x" })
	wantOK(t, c.Ping(ctx).Err())
	wantErr(t, do(admin, "CLIENT", "KILL", "USER", "nosuch").Err(), "ERR No such user 'nosuch'")
	if n, err := do(admin, "CLIENT", "KILL", "USER", "kk").Int(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL USER kk = %d, %v", n, err)
	}
	if list, _ := admin.ClientList(ctx).Result(); !strings.Contains(list, "user=default") || strings.Contains(list, "user=kk") {
		t.Fatalf("CLIENT LIST = %q", list)
	}
}

// AUTH, HELLO AUTH and ACL SETUSER keep their secrets out of SLOWLOG.
func TestACLSecretsRedacted(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	wantOK(t, do(admin, "CONFIG", "SET", "slowlog-log-slower-than", "0").Err())
	wantOK(t, do(admin, "SLOWLOG", "RESET").Err())
	do(admin, "AUTH", "not-real")
	do(admin, "AUTH", "not-real", "not-a-password")
	do(admin, "HELLO", "2", "AUTH", "not-real", "not-a-password")
	wantOK(t, do(admin, "ACL", "SETUSER", "slowlog-test-user", "+get", "+set").Err())
	wantOK(t, do(admin, "CONFIG", "SET", "slowlog-log-slower-than", "-1").Err())
	log, err := admin.SlowLogGet(context.Background(), -1).Result()
	wantOK(t, err)
	var got []string
	for _, e := range log {
		got = append(got, strings.Join(e.Args, " "))
	}
	for _, w := range []string{"AUTH (redacted)", "AUTH (redacted) (redacted)", "HELLO 2 AUTH (redacted) (redacted)", "ACL SETUSER (redacted) (redacted) (redacted)"} {
		if !slices.Contains(got, w) {
			t.Errorf("SLOWLOG lacks %q: %q", w, got)
		}
	}
}

// unit/other's "RESET clears authenticated state".
func TestResetClearsUser(t *testing.T) {
	_, addr := startServer(t, 8)
	c := aclClient(t, addr, nil)
	wantOK(t, do(c, "ACL", "SETUSER", "user1", "on", ">secret", "+@all").Err())
	wantOK(t, do(c, "AUTH", "user1", "secret").Err())
	if who, _ := do(c, "ACL", "WHOAMI").Text(); who != "user1" {
		t.Fatalf("WHOAMI = %q", who)
	}
	wantOK(t, do(c, "RESET").Err())
	if who, _ := do(c, "ACL", "WHOAMI").Text(); who != "default" {
		t.Fatalf("WHOAMI after RESET = %q", who)
	}
}

// A client that must still authenticate may not send long requests.
func TestUnauthenticatedRequestLimits(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	wantOK(t, do(admin, "CONFIG", "SET", "requirepass", "pw").Err())
	for _, tc := range []struct{ send, want string }{
		{"*100\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n"},
		{"*1\r\n$100000000\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n"},
		{"*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$2\r\npw\r\n*11\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n",
			"+OK\r\n*10\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	} {
		nc, err := net.Dial("tcp", addr)
		wantOK(t, err)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		nc.Write([]byte(tc.send))
		buf := make([]byte, len(tc.want))
		if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.send, buf, err, tc.want)
		}
		nc.Close()
	}
}

// Key permissions follow the key specs' flags: an existence test needs no
// access, SET with GET reads, BITFIELD GET only reads.
func TestACLKeySpecAccess(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	wantOK(t, do(admin, "ACL", "SETUSER", "ks", "on", "nopass", "+@all", "%R~read*", "%W~write*").Err())
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"HEXISTS", "write", "f"}, "OK"},
		{[]any{"EXISTS", "write"}, "OK"},
		{[]any{"SET", "write", "v"}, "OK"},
		{[]any{"SET", "write", "v", "GET"}, "This user has no permissions to access the 'write' key"},
		{[]any{"BITFIELD", "read", "GET", "u4", "0"}, "OK"},
		{[]any{"BITFIELD", "read", "SET", "u4", "0", "1"}, "This user has no permissions to access the 'read' key"},
		{[]any{"LPUSH", "write", "a"}, "OK"},
		{[]any{"LPOP", "write"}, "This user has no permissions to access the 'write' key"},
		{[]any{"COPY", "read", "write"}, "OK"},
		{[]any{"COPY", "write", "read"}, "This user has no permissions to access the 'write' key"},
	} {
		if r, err := do(admin, append([]any{"ACL", "DRYRUN", "ks"}, tc.args...)...).Text(); err != nil || r != tc.want {
			t.Errorf("DRYRUN %v = %q, %v; want %q", tc.args, r, err, tc.want)
		}
	}
	// unit/acl: the read-only script commands need their own permission.
	wantOK(t, do(admin, "ACL", "SETUSER", "scripter", "on", "nopass", "+readonly").Err())
	if r, _ := do(admin, "ACL", "DRYRUN", "scripter", "EVAL_RO", "", "0").Text(); r != "This user has no permissions to run the 'eval_ro' command" {
		t.Errorf("DRYRUN EVAL_RO = %q", r)
	}
}

// redis.conf `user` lines are checked when read, with Redis's errors
// (which name the word at the rule's index in the whole line).
func TestUserDirectives(t *testing.T) {
	var u UserDirectives
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"foo", "on", "%~x"}, "Error in user declaration 'foo': Syntax error"},
		{[]string{"foo", "on", "~*", "~x"}, "Error in user declaration 'on': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"},
		{[]string{"foo", "on", "(+get"}, "Error in user declaration 'foo': Unknown command or category name in ACL"},
		{[]string{"foo", "on", "+nosuch"}, ""}, // refused later, by LoadUsersAtStartup
		{[]string{"foo"}, "Error in user declaration 'foo': Duplicate user found. A user can only be defined once in config files"},
	} {
		if got := u.Add(tc.args); got != tc.want {
			t.Errorf("Add(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
	srv, _ := startServer(t, 8)
	err := srv.LoadUsersAtStartup(u.Lines())
	if err == nil || err.Error() != "Error loading ACL rule '+nosuch' for the user named 'foo': Unknown command or category name in ACL" {
		t.Fatalf("LoadUsersAtStartup: %v", err)
	}
}

// unit/scripting's "Script ACL check": redis.acl_check_cmd answers for the
// user running the script.
func TestScriptACLCheckCmd(t *testing.T) {
	_, addr := startServer(t, 8)
	admin := aclClient(t, addr, nil)
	ctx := context.Background()
	wantOK(t, do(admin, "ACL", "SETUSER", "bob", "on", ">123", "+@scripting", "+set", "~x*").Err())
	c := aclClient(t, addr, func(o *redis.Options) { o.Username, o.Password = "bob", "123" })
	for script, want := range map[string]any{
		"return redis.acl_check_cmd('set','xx',1)":      int64(1),
		"return redis.acl_check_cmd('hset','xx','f',1)": nil,
		"return redis.acl_check_cmd('set','yy',1)":      nil,
	} {
		got, err := c.Eval(ctx, script, nil).Result()
		if err != nil && !errors.Is(err, redis.Nil) || got != want {
			t.Errorf("%s = %v, %v; want %v", script, got, err, want)
		}
	}
	err := c.Eval(ctx, "return redis.acl_check_cmd('invalid-cmd','arg')", nil).Err()
	if err == nil || !strings.Contains(err.Error(), "Invalid command passed to redis.acl_check_cmd()") {
		t.Errorf("invalid command: %v", err)
	}
}

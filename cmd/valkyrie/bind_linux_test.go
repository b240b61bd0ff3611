package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Without a bind directive the addresses are Redis's default "* -::*"
// when started from a configuration file, as redis-server is, and the
// seed's 127.0.0.1 without one. (Only the choice is checked: tests must
// not listen on every interface.)
func TestDefaultBind(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.conf")
	os.WriteFile(plain, []byte("maxmemory 1mb\n"), 0o644)
	bound := filepath.Join(dir, "bound.conf")
	os.WriteFile(bound, []byte("bind 127.0.0.2 -::1\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{plain}, "* -::*"},
		{[]string{plain, "--port", "7000"}, "* -::*"},
		{nil, "127.0.0.1"},
		{[]string{"--port", "7000"}, "127.0.0.1"},
		{[]string{"--bind", "127.0.0.2"}, "127.0.0.2"},
		{[]string{bound}, "127.0.0.2 -::1"},
		{[]string{plain, "--bind", ""}, ""},
	} {
		st, err := loadSettings(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.defaultBind(); err != nil {
			t.Fatal(err)
		}
		if got := st.cfg.Value("bind"); got != c.want {
			t.Errorf("%q: bind %q, want %q", c.args, got, c.want)
		}
	}
}

// Started from a file with bind "" (as CONFIG REWRITE writes it after
// CONFIG SET bind ""), Valkyrie listens on no TCP address but serves its
// unix socket, where CONFIG SET bind opens TCP again, as Redis does.
func TestStartWithEmptyBind(t *testing.T) {
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	sock := filepath.Join(dir, "socket")
	conf := filepath.Join(dir, "redis.conf")
	os.WriteFile(conf, []byte("port "+port+"\nbind \"\"\nunixsocket "+sock+"\n"), 0o644)
	p := startProc(t, conf)
	p.waitLine(t, "Ready to accept connections")
	addr := "127.0.0.1:" + port
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Fatal("bind \"\" listens on TCP")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatal(err)
	}
	ctx := context.Background()
	uc := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, MaxRetries: -1, DialTimeout: 5 * time.Second})
	defer uc.Close()
	if got := uc.ConfigGet(ctx, "bind").Val(); got["bind"] != "" || len(got) != 1 {
		t.Fatalf("CONFIG GET bind = %q", got)
	}
	if err := uc.ConfigSet(ctx, "bind", "127.0.0.1").Err(); err != nil {
		t.Fatal(err)
	}
	if r := call(t, addr, "PING"); r != "+PONG" {
		t.Fatalf("PING after CONFIG SET bind = %q", r)
	}
}

package conn

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Files move both ways between Valkyrie and a real redis-server: each
// loads what the other saved, with the same keyspace. Skipped when
// redis-server is not installed.

const persistLib = "#!lua name=moved\nredis.register_function('moved', function() return 'moved' end)"

func TestRedisLoadsValkyriesFile(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	v := startPersistServer(t, 8, dir)
	vc := newClient2(t, v.addr, 2)
	fillEveryType(t, vc)
	if err := vc.FunctionLoad(ctx, persistLib).Err(); err != nil {
		t.Fatal(err)
	}
	want := keyspace(t, v.addr)
	if len(want) < 20 {
		t.Fatalf("only %d keys written", len(want))
	}
	if err := vc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "dump.rdb")
	if check, err := exec.LookPath("redis-check-rdb"); err == nil {
		out, err := exec.Command(check, file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "RDB looks OK") {
			t.Fatalf("redis-check-rdb: %v\n%s", err, out)
		}
	}
	addr := trStartRedis(t, bin, "--dir", dir, "--dbfilename", "dump.rdb")
	if got := keyspace(t, addr); !slices.Equal(got, want) {
		t.Fatalf("redis-server loaded:\n%s\nValkyrie held:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v, err := newClient2(t, addr, 2).FCall(ctx, "moved", nil).Result(); err != nil || v != "moved" {
		t.Fatalf("FCALL on redis-server: %v %v", v, err)
	}
}

func TestValkyrieLoadsRedissFile(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	addr := trStartRedis(t, bin, "--dir", dir, "--dbfilename", "dump.rdb")
	rc := newClient2(t, addr, 2)
	fillEveryType(t, rc)
	if err := rc.FunctionLoad(ctx, persistLib).Err(); err != nil {
		t.Fatal(err)
	}
	want := keyspace(t, addr)
	if len(want) < 20 {
		t.Fatalf("only %d keys written", len(want))
	}
	if err := rc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	v := startPersistServer(t, 8, dir)
	if got := keyspace(t, v.addr); !slices.Equal(got, want) {
		t.Fatalf("Valkyrie loaded:\n%s\nredis-server held:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	vc := newClient2(t, v.addr, 2)
	if v, err := vc.FCall(ctx, "moved", nil).Result(); err != nil || v != "moved" {
		t.Fatalf("FCALL after loading Redis's file: %v %v", v, err)
	}
	// And back: Valkyrie's save of it loads in Redis again, unchanged.
	if err := vc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	again := trStartRedis(t, bin, "--dir", dir, "--dbfilename", "dump.rdb")
	if got := keyspace(t, again); !slices.Equal(got, want) {
		t.Fatalf("round trip through Valkyrie:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

package conn

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// TestFailedLoadAtStartupKeepsTheFile: a dump.rdb that cannot be loaded
// stops the start-up, and the shutdown that follows must not save the
// partial (or empty) dataset over it, as it did with save points set: the
// user's only copy was replaced by an empty file.
func TestFailedLoadAtStartupKeepsTheFile(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 4, dir)
	c := newClient2(t, a.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "debug", "populate", 3000, "k", 20).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	a.srv.persist.shutdownMode.Store(shutdownNoSave)
	a.stop()
	path := filepath.Join(dir, "dump.rdb")
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := full[:len(full)*2/3] // some keys load, then the file ends
	if err := os.WriteFile(path, cut, 0o644); err != nil {
		t.Fatal(err)
	}

	// As cmd/valkyrie does: load, and shut down when the load fails.
	cfg := config.New()
	if err := cfg.Load("dir", dir, "save", "3600 1 300 100 60 10000"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 4, Config: cfg, Persistent: true})
	srv.BeginLoading()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	if err := srv.LoadAtStartup(); err == nil {
		t.Fatal("a truncated file loaded without an error")
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	<-done
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, cut) {
		t.Fatalf("the shutdown after a failed load replaced dump.rdb (%d bytes, was %d)", len(after), len(cut))
	}
}

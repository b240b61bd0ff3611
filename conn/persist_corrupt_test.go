package conn

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startLoading starts a server over dir with save points and returns it
// with LoadAtStartup's error and its log.
func startLoading(t *testing.T, dir string) (*Server, *syncBuffer, chan error, error) {
	t.Helper()
	cfg := config.New()
	if err := cfg.Load("dir", dir, "save", "3600 1 300 100", "enable-protected-configs", "yes"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := New(Options{Shards: 2, Config: cfg, Persistent: true, Logger: log})
	srv.BeginLoading()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	return srv, logs, done, srv.LoadAtStartup()
}

func stopServer(t *testing.T, srv *Server, done chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	<-done
}

// A file that does not load is left as it is: the shutdown that follows
// the failure used to save the (empty) dataset over it. The log says why,
// in the words Redis's corrupt-dump.tcl greps for.
func TestCorruptRDBFileIsNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dump.rdb")
	// RDB 9, a list ziplist "k" whose ziplist is 3 bytes, EOF, CRC 0 (not
	// checked).
	file := []byte("REDIS0009\xfe\x00\x0a\x01k\x03xyz\xff\x00\x00\x00\x00\x00\x00\x00\x00")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, logs, done, err := startLoading(t, dir)
	if err == nil {
		t.Fatal("the corrupt file loaded")
	}
	stopServer(t, srv, done)
	if got, _ := os.ReadFile(path); !bytes.Equal(got, file) {
		t.Fatalf("the file was replaced by %q", got)
	}
	for _, want := range []string{"List ziplist integrity check failed.", "Terminating server after rdb file reading failure."} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs.String(), "Saving the final RDB snapshot") {
		t.Errorf("saved at shutdown:\n%s", logs)
	}
}

// Empty collections in a file are skipped, each named in the log, and
// counted, as Redis does.
func TestRDBEmptyKeysSkippedAndLogged(t *testing.T) {
	dir := t.TempDir()
	// RDB 9: an empty set "set" and an empty list "lst", then "s" = "v".
	file := []byte("REDIS0009\xfe\x00\x02\x03set\x00\x01\x03lst\x00\x00\x01s\x01v\xff\x00\x00\x00\x00\x00\x00\x00\x00")
	if err := os.WriteFile(filepath.Join(dir, "dump.rdb"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, logs, done, err := startLoading(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stopServer(t, srv, done)
	for _, want := range []string{"skipping empty key: set", "skipping empty key: lst", "empty keys skipped: 2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
	if n := srv.persist.loadLoaded.Load(); n != 1 {
		t.Errorf("%d keys loaded, want 1", n)
	}
}

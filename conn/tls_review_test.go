package conn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// Many TLS clients that never finish the handshake (silent, or a few bytes
// of a ClientHello) are cut by Shutdown at once: it does not wait for
// tlsHandshakeTimeout, and no handshake goroutine is left behind.
func TestTLSShutdownDuringHandshakes(t *testing.T) {
	p := newTestPKI(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := config.New()
	if err := cfg.Load("tls-cert-file", write("s.crt", p.serverCert), "tls-key-file", write("s.key", p.serverKey),
		"tls-auth-clients", "no"); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	srv := New(Options{Shards: 8, Config: cfg})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(l) }()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 40 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x50, 0x01}) // a ClientHello's first bytes
		}
		conns = append(conns, c)
	}
	rdb := redis.NewClient(&redis.Options{Addr: l.Addr().String(), TLSConfig: &tls.Config{InsecureSkipVerify: true}, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("a client behind 40 stalled handshakes: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with handshakes pending: %v after %v", err, time.Since(start))
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServeTLS: %v", err)
	}
	// every stalled client sees its connection closed
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var b [512]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("stalled client %d still open after Shutdown", i)
				}
				break
			}
		}
	}
	rdb.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Shutdown, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// CONFIG SET of a TLS file that does not load fails, as in Redis, and
// leaves the parameter as it was; a certificate and key changed together
// in one CONFIG SET are checked as a pair.
func TestTLSConfigSetBadFileFails(t *testing.T) {
	p := newTestPKI(t)
	addr, plain := startTLSServer(t, p)
	ctx := context.Background()
	pc := redis.NewClient(&redis.Options{Addr: plain})
	defer pc.Close()
	old := pc.ConfigGet(ctx, "tls-cert-file").Val()["tls-cert-file"]
	err := pc.ConfigSet(ctx, "tls-cert-file", "/nonexistent/cert.pem").Err()
	want := "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs."
	if err == nil || err.Error() != want {
		t.Fatalf("CONFIG SET tls-cert-file /nonexistent: %v, want %q", err, want)
	}
	if got := pc.ConfigGet(ctx, "tls-cert-file").Val()["tls-cert-file"]; got != old {
		t.Fatalf("tls-cert-file is %q after the failed set, want %q", got, old)
	}
	if err := pc.ConfigSet(ctx, "tls-protocols", "TLSv1.4").Err(); err == nil {
		t.Fatal("CONFIG SET tls-protocols TLSv1.4 accepted")
	}
	// a new certificate and key, set together
	dir := t.TempDir()
	c, k := issue(t, p.ca, p.caKey, 9, x509.ExtKeyUsageServerAuth)
	cf, kf := filepath.Join(dir, "n.crt"), filepath.Join(dir, "n.key")
	os.WriteFile(cf, c, 0o600)
	os.WriteFile(kf, k, 0o600)
	if err := pc.Do(ctx, "config", "set", "tls-cert-file", cf, "tls-key-file", kf).Err(); err != nil {
		t.Fatalf("certificate and key set together: %v", err)
	}
	if err := tlsRedis(t, addr, p.clientTLS(p.client)).Ping(ctx).Err(); err != nil {
		t.Fatalf("TLS after the new pair: %v", err)
	}
}

// CONFIG SET tls-auth-clients yes with no CA configured is accepted, as in
// Redis, and from then on a client without a certificate is refused (Redis
// verifies against an empty list); the reload failed and kept serving
// such clients while CONFIG GET said yes.
func TestTLSAuthClientsYesWithoutCA(t *testing.T) {
	p := newTestPKI(t)
	addr, plain := startTLSServer(t, p, "tls-ca-cert-file", "", "tls-auth-clients", "no")
	ctx := context.Background()
	anon := &tls.Config{InsecureSkipVerify: true}
	if err := tlsRedis(t, addr, anon).Ping(ctx).Err(); err != nil {
		t.Fatalf("tls-auth-clients no: %v", err)
	}
	pc := redis.NewClient(&redis.Options{Addr: plain})
	defer pc.Close()
	if err := pc.ConfigSet(ctx, "tls-auth-clients", "yes").Err(); err != nil {
		t.Fatalf("CONFIG SET tls-auth-clients yes: %v", err)
	}
	if err := tlsRedis(t, addr, anon).Ping(ctx).Err(); err == nil {
		t.Fatal("a client without a certificate served after CONFIG SET tls-auth-clients yes")
	}
}

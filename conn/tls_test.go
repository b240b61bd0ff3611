package conn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// testPKI is a CA with a server and a client certificate, made in the test.
type testPKI struct {
	caPEM                 []byte
	ca                    *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	serverCert, serverKey []byte
	client                tls.Certificate
}

func newTestCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// issue signs a leaf certificate for usage; it returns the PEM blocks.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "valkyrie-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{}
	p.ca, p.caKey, p.caPEM = newTestCA(t, "valkyrie test CA")
	p.serverCert, p.serverKey = issue(t, p.ca, p.caKey, 2, x509.ExtKeyUsageServerAuth)
	c, k := issue(t, p.ca, p.caKey, 3, x509.ExtKeyUsageClientAuth)
	var err error
	if p.client, err = tls.X509KeyPair(c, k); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTLSServer writes the PKI's files, loads the tls-* parameters given
// (pairs) and serves TLS on a loopback port, with plain TCP on another.
func startTLSServer(t *testing.T, p *testPKI, pairs ...string) (tlsAddr, plainAddr string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := config.New()
	base := []string{
		"tls-cert-file", write("server.crt", p.serverCert),
		"tls-key-file", write("server.key", p.serverKey),
		"tls-ca-cert-file", write("ca.crt", p.caPEM),
	}
	if err := cfg.Load(append(base, pairs...)...); err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 8, Config: cfg})
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tdone, pdone := make(chan error, 1), make(chan error, 1)
	go func() { tdone <- srv.ServeTLS(tl) }()
	go func() { pdone <- srv.Serve(pl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for _, d := range []chan error{tdone, pdone} {
			if err := <-d; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
	})
	return tl.Addr().String(), pl.Addr().String()
}

func (p *testPKI) clientTLS(certs ...tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{RootCAs: pool, Certificates: certs, ServerName: "127.0.0.1"}
}

func tlsRedis(t *testing.T, addr string, tc *tls.Config) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: tc, MaxRetries: -1, DialTimeout: 3 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestTLSCommandsPipelinePubSub(t *testing.T) {
	p := newTestPKI(t)
	addr, plain := startTLSServer(t, p)
	ctx := context.Background()
	rdb := tlsRedis(t, addr, p.clientTLS(p.client))
	if v, err := rdb.Ping(ctx).Result(); err != nil || v != "PONG" {
		t.Fatalf("PING over TLS: %q %v", v, err)
	}
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The plain listener serves the same data.
	pc := redis.NewClient(&redis.Options{Addr: plain})
	defer pc.Close()
	if v, err := pc.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET over plain TCP: %q %v", v, err)
	}

	// A pipeline of 1000 commands across the shards, with a big value.
	big := strings.Repeat("x", 200_000)
	pipe := rdb.Pipeline()
	for i := range 1000 {
		pipe.Set(ctx, "p:"+itoa(i), i, 0)
	}
	pipe.Set(ctx, "big", big, 0)
	pipe.Get(ctx, "big")
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := cmds[len(cmds)-1].(*redis.StringCmd).Val(); got != big {
		t.Fatalf("GET big over TLS: %d bytes", len(got))
	}
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 1002 {
		t.Fatalf("DBSIZE %d %v, want 1002", n, err)
	}
	list, err := rdb.ClientList(ctx).Result()
	if err != nil || !strings.Contains(list, "cmd=client|list") {
		t.Fatalf("CLIENT LIST over TLS: %q %v", list, err)
	}
	if strings.Contains(list, "fd=-1 ") {
		t.Fatalf("CLIENT LIST shows no descriptor for a TLS client: %q", list)
	}

	// Pub/sub over TLS.
	sub := rdb.Subscribe(ctx, "news")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := pc.Publish(ctx, "news", "hello").Result(); err != nil || n != 1 {
		t.Fatalf("PUBLISH reached %d %v", n, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	msg, err := sub.ReceiveMessage(rctx)
	if err != nil || msg.Payload != "hello" {
		t.Fatalf("message over TLS: %+v %v", msg, err)
	}
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func TestTLSMutualAuth(t *testing.T) {
	p := newTestPKI(t)
	addr, _ := startTLSServer(t, p) // tls-auth-clients yes is the default
	ctx := context.Background()

	if err := tlsRedis(t, addr, p.clientTLS()).Ping(ctx).Err(); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	otherCA, otherKey, _ := newTestCA(t, "another CA")
	c, k := issue(t, otherCA, otherKey, 9, x509.ExtKeyUsageClientAuth)
	stranger, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsRedis(t, addr, p.clientTLS(stranger)).Ping(ctx).Err(); err == nil {
		t.Fatal("a client with another CA's certificate was served")
	}
	pushy := p.clientTLS()
	pushy.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
	if err := tlsRedis(t, addr, pushy).Ping(ctx).Err(); err == nil {
		t.Fatal("a client sending another CA's certificate was served")
	}
	if err := tlsRedis(t, addr, p.clientTLS(p.client)).Ping(ctx).Err(); err != nil {
		t.Fatalf("a client with a good certificate: %v", err)
	}

	// optional: no certificate is fine, a bad one is not.
	addr2, _ := startTLSServer(t, p, "tls-auth-clients", "optional")
	if err := tlsRedis(t, addr2, p.clientTLS()).Ping(ctx).Err(); err != nil {
		t.Fatalf("optional, no certificate: %v", err)
	}
	// Go's client offers a certificate only when its issuer is among the
	// server's acceptable CAs: make it send the stranger anyway.
	if err := tlsRedis(t, addr2, pushy).Ping(ctx).Err(); err == nil {
		t.Fatal("optional: a client with another CA's certificate was served")
	}
	// no: any client.
	addr3, _ := startTLSServer(t, p, "tls-auth-clients", "no")
	if err := tlsRedis(t, addr3, p.clientTLS(stranger)).Ping(ctx).Err(); err != nil {
		t.Fatalf("tls-auth-clients no: %v", err)
	}
}

func TestTLSProtocols(t *testing.T) {
	p := newTestPKI(t)
	addr, _ := startTLSServer(t, p, "tls-protocols", "TLSv1.3")
	ctx := context.Background()
	old := p.clientTLS(p.client)
	old.MaxVersion = tls.VersionTLS12
	if err := tlsRedis(t, addr, old).Ping(ctx).Err(); err == nil {
		t.Fatal("a TLSv1.2-only client was served under tls-protocols TLSv1.3")
	}
	if err := tlsRedis(t, addr, p.clientTLS(p.client)).Ping(ctx).Err(); err != nil {
		t.Fatalf("TLSv1.3 client: %v", err)
	}
	addr2, _ := startTLSServer(t, p, "tls-protocols", "TLSv1.2")
	cs, err := tls.Dial("tcp", addr2, p.clientTLS(p.client))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if v := cs.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Fatalf("tls-protocols TLSv1.2 negotiated %x", v)
	}

	if _, _, err := tlsProtocols("TLSv1.2 SSLv3"); err == nil {
		t.Fatal("tls-protocols with SSLv3 accepted")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	cfg := config.New()
	if _, err := TLSConfig(cfg); err == nil {
		t.Fatal("no certificate configured, no error")
	}
	if err := cfg.Load("tls-cert-file", "/nonexistent.crt", "tls-key-file", "/nonexistent.key"); err != nil {
		t.Fatal(err)
	}
	if _, err := TLSConfig(cfg); err == nil || !strings.HasPrefix(err.Error(), "Failed to load certificate: /nonexistent.crt") {
		t.Fatalf("missing files: %v", err)
	}
}

// A TLS client that connects and sends nothing does not hold up the
// others: the handshake runs off the accept loop.
func TestTLSSilentClientDoesNotBlockAccept(t *testing.T) {
	p := newTestPKI(t)
	addr, _ := startTLSServer(t, p)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := tlsRedis(t, addr, p.clientTLS(p.client)).Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

// Blocking commands wake the connection's read with a deadline; over TLS
// the connection must carry on afterwards.
func TestTLSBlockingAndUnblock(t *testing.T) {
	p := newTestPKI(t)
	addr, plain := startTLSServer(t, p)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: p.clientTLS(p.client), PoolSize: 1, MaxRetries: -1})
	defer rdb.Close()
	pc := redis.NewClient(&redis.Options{Addr: plain})
	defer pc.Close()
	id, err := rdb.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- rdb.BLPop(ctx, 5*time.Second, "q").Err() }()
	waitFor(t, func() bool {
		n, _ := pc.ClientUnblock(ctx, id).Result()
		return n == 1
	})
	if err := <-got; err != redis.Nil {
		t.Fatalf("BLPOP after CLIENT UNBLOCK: %v", err)
	}
	go func() { got <- rdb.BLPop(ctx, 5*time.Second, "q").Err() }()
	waitFor(t, func() bool {
		s, _ := pc.Info(ctx, "clients").Result()
		return strings.Contains(s, "blocked_clients:1")
	})
	if err := pc.LPush(ctx, "q", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("BLPOP: %v", err)
	}
	if v, err := rdb.Ping(ctx).Result(); err != nil || v != "PONG" {
		t.Fatalf("PING after the wake-ups: %q %v", v, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5 s")
}

// CONFIG SET of a tls-* parameter applies to new connections.
func TestTLSConfigSetReloads(t *testing.T) {
	p := newTestPKI(t)
	addr, plain := startTLSServer(t, p)
	ctx := context.Background()
	old := p.clientTLS(p.client)
	old.MaxVersion = tls.VersionTLS12
	if err := tlsRedis(t, addr, old).Ping(ctx).Err(); err != nil {
		t.Fatalf("TLSv1.2 client before CONFIG SET: %v", err)
	}
	pc := redis.NewClient(&redis.Options{Addr: plain})
	defer pc.Close()
	if err := pc.ConfigSet(ctx, "tls-protocols", "TLSv1.3").Err(); err != nil {
		t.Fatal(err)
	}
	if err := tlsRedis(t, addr, old).Ping(ctx).Err(); err == nil {
		t.Fatal("TLSv1.2 client served after CONFIG SET tls-protocols TLSv1.3")
	}
	if err := pc.ConfigSet(ctx, "tls-auth-clients", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if err := tlsRedis(t, addr, p.clientTLS()).Ping(ctx).Err(); err != nil {
		t.Fatalf("no certificate after CONFIG SET tls-auth-clients no: %v", err)
	}
}

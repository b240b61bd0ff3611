package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir and returns their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestTLSPortFromConfigFile: `port 0` with a tls-port serves TLS only;
// certificates that do not load stop start-up as Redis does.
func TestTLSPortFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	port := strconv.Itoa(freePort(t))
	conf := filepath.Join(dir, "redis.conf")
	os.WriteFile(conf, []byte("port 0\nbind 127.0.0.1\ntls-port "+port+"\ntls-cert-file "+certFile+
		"\ntls-key-file "+keyFile+"\ntls-ca-cert-file "+certFile+"\ntls-auth-clients optional\n"+
		"tls-protocols \"TLSv1.2 TLSv1.3\"\ntls-ciphers DEFAULT\ntls-ciphersuites TLS_AES_128_GCM_SHA256\n"), 0o644)
	p := startProc(t, conf)
	p.waitLine(t, "Ready to accept connections")
	pem, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(resp("PING"))
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	if string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("PING over TLS = %q", buf[:n])
	}

	p = startProc(t, conf+" --tls-cert-file "+filepath.Join(dir, "missing.crt"))
	p.waitLine(t, "Failed to configure TLS. Check logs for more info.")
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

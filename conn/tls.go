package conn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// TLS, as Redis 7.0 configures it: a listener on tls-port next to the
// plain one, the certificate and key from tls-cert-file and tls-key-file,
// client certificates checked against tls-ca-cert-file / tls-ca-cert-dir
// as tls-auth-clients says, and the protocol versions of tls-protocols.
// tls-ciphers, tls-ciphersuites and tls-prefer-server-ciphers are accepted
// and ignored: Go picks its own secure suites (and TLS 1.3's cannot be
// configured). The files are read at start-up and again when CONFIG SET
// changes a tls-* parameter; a bad new set is logged and the old one kept.

// tlsHandshakeTimeout bounds a client's TLS handshake.
const tlsHandshakeTimeout = 10 * time.Second

// TLSConfig builds the server's TLS configuration from cfg's tls-*
// parameters. The error's text is what Redis logs.
func TLSConfig(cfg *config.Table) (*tls.Config, error) { return tlsConfigFrom(cfg.Value, false) }

// tlsConfigFrom is TLSConfig with the parameters read by get. For a
// reload after CONFIG SET tls-auth-clients (which Redis does not check),
// a missing CA is no error: client certificates are then required and
// checked against an empty pool, so every client is refused, as in Redis.
func tlsConfigFrom(get func(name string) string, reload bool) (*tls.Config, error) {
	certFile, keyFile := get("tls-cert-file"), get("tls-key-file")
	if certFile == "" || keyFile == "" {
		return nil, errors.New("No tls-cert-file or tls-key-file configured")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, errors.New("Failed to load certificate: " + certFile + ": " + err.Error())
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	caFile, caDir := get("tls-ca-cert-file"), get("tls-ca-cert-dir")
	auth := get("tls-auth-clients")
	if caFile == "" && caDir == "" && auth != "no" && !reload {
		return nil, errors.New("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-auth-clients is enabled")
	}
	if caFile != "" || caDir != "" {
		pool := x509.NewCertPool()
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil || !pool.AppendCertsFromPEM(pem) {
				return nil, errors.New("Failed to configure CA certificate(s) file/directory: " + caFile)
			}
		}
		if caDir != "" {
			ents, err := os.ReadDir(caDir)
			if err != nil {
				return nil, errors.New("Failed to configure CA certificate(s) file/directory: " + caDir)
			}
			for _, e := range ents {
				if e.IsDir() {
					continue
				}
				if pem, err := os.ReadFile(filepath.Join(caDir, e.Name())); err == nil {
					pool.AppendCertsFromPEM(pem) // other files in the directory are skipped
				}
			}
		}
		tc.ClientCAs = pool
	}
	if tc.ClientCAs == nil && auth != "no" {
		tc.ClientCAs = x509.NewCertPool() // reload: no CA trusts no one
	}
	switch auth {
	case "yes":
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	case "optional":
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		tc.ClientAuth = tls.NoClientCert
	}
	lo, hi, err := tlsProtocols(get("tls-protocols"))
	if err != nil {
		return nil, err
	}
	tc.MinVersion, tc.MaxVersion = lo, hi
	tc.SessionTicketsDisabled = get("tls-session-caching") != "yes"
	return tc, nil
}

// tlsProtocols maps tls-protocols ("TLSv1.2 TLSv1.3", any case; empty
// means those two, as in Redis) to the lowest and highest version. Go
// takes a range, so "TLSv1 TLSv1.2" also allows TLSv1.1.
func tlsProtocols(v string) (lo, hi uint16, err error) {
	words := strings.Fields(v)
	if len(words) == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	for _, w := range words {
		var ver uint16
		switch strings.ToLower(w) {
		case "tlsv1":
			ver = tls.VersionTLS10
		case "tlsv1.1":
			ver = tls.VersionTLS11
		case "tlsv1.2":
			ver = tls.VersionTLS12
		case "tlsv1.3":
			ver = tls.VersionTLS13
		default:
			return 0, 0, errors.New("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.")
		}
		if lo == 0 || ver < lo {
			lo = ver
		}
		hi = max(hi, ver)
	}
	return lo, hi, nil
}

// tlsListener hands out server-side TLS connections over the accepted
// TCP ones; the handshake runs on its own goroutine (Server.handshake),
// not in the accept loop.
type tlsListener struct {
	net.Listener
	conf *tls.Config // asks the server for its current configuration
}

func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(nc, l.conf), nil
}

// ServeTLS serves TLS connections on l (a plain TCP listener, the
// tls-port one), with the configuration TLSConfig builds from the
// tls-* parameters, until Shutdown.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.tlsConf.Load() == nil {
		tc, err := TLSConfig(s.cfg)
		if err != nil {
			l.Close()
			return err
		}
		s.tlsConf.CompareAndSwap(nil, tc)
	}
	s.watchTLSOnce.Do(s.watchTLS)
	return s.Serve(s.tlsWrap(l))
}

// tlsWrap serves TLS over l with the current tls-* configuration.
func (s *Server) tlsWrap(l net.Listener) *tlsListener {
	conf := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return s.tlsConf.Load(), nil
	}}
	return &tlsListener{Listener: l, conf: conf}
}

// watchTLS reloads the configuration when CONFIG SET changes a tls-*
// parameter. As in Redis, a CONFIG SET of the files, the protocols or
// session caching that would not load fails with "Unable to update TLS
// configuration" and changes nothing (the cause is logged);
// tls-auth-clients is not checked then, as Redis does not. Reloads run
// one at a time and read the parameters inside the lock, so the last one
// stored follows the last CONFIG SET even when two race.
func (s *Server) watchTLS() {
	for _, p := range [...]string{"tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-ca-cert-dir",
		"tls-protocols", "tls-session-caching"} {
		s.cfg.OnApply(p, func(string) error {
			if _, err := tlsConfigFrom(s.cfg.Staged, false); err != nil {
				s.log.Warn("Unable to update TLS configuration: " + err.Error())
				return errors.New("Unable to update TLS configuration. Check server logs.")
			}
			return nil
		})
	}
	for _, p := range [...]string{"tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-ca-cert-dir",
		"tls-auth-clients", "tls-protocols", "tls-session-caching"} {
		s.cfg.OnChange(p, func(string) {
			s.tlsReload.Lock()
			defer s.tlsReload.Unlock()
			tc, err := tlsConfigFrom(s.cfg.Value, true)
			if err != nil {
				s.log.Warn("Unable to update TLS configuration: " + err.Error())
				return
			}
			s.tlsConf.Store(tc)
		})
	}
}

// handshake completes a new TLS connection's handshake, bounded by
// tlsHandshakeTimeout, before it is registered as a client; a failed
// one is closed. It runs on its own goroutine, counted in s.wg.
func (s *Server) handshake(tc *tls.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		tc.Close()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
		defer cancel()
		done := make(chan struct{})
		defer close(done)
		go func() { // the server's shutdown cuts the handshake short
			select {
			case <-s.stopping:
				cancel()
			case <-done:
			}
		}()
		if err := tc.HandshakeContext(ctx); err != nil {
			s.log.Debug("Error accepting a client connection", "err", err.Error(), "addr", tc.RemoteAddr().String())
			tc.Close()
			return
		}
		s.accept(tc)
	}()
}

// tcpUnder returns the TCP connection under a TLS one, or nc itself.
func tcpUnder(nc net.Conn) net.Conn {
	if tc, ok := nc.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return nc
}

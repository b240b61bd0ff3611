package conn

import (
	"errors"
	"net"
	"strings"
	"syscall"
)

// The bind addresses, as Redis 7.0 reads them: "*" is every IPv4
// address, "::*" every IPv6 one (the IPv6 socket is IPv6-only, so both
// share a port), an address with a ':' is IPv6, anything else IPv4 (a name
// is resolved), and a leading '-' marks an address that may be missing.
//
// CONFIG SET bind re-binds at run time. Unlike Redis, which closes every
// TCP listener first and binds again (rolling back on failure), Valkyrie
// keeps the listeners whose address stays, opens the new ones, and only
// when all could be opened closes those no longer wanted, so a failed
// CONFIG SET never leaves the server deaf for a moment. Only when a new
// address collides with an old one of the same server ("127.0.0.1" to
// "*") does it fall back to Redis's order, reopening the old addresses if
// the new ones still fail. tls-port's listeners follow bind the same way.

var errBind = errors.New("Failed to bind to specified addresses.")

// bindAddr is one bind entry resolved for a port.
type bindAddr struct {
	entry    string
	network  string // "tcp4" or "tcp6"
	addr     *net.TCPAddr
	optional bool
}

// resolveBind resolves a bind entry on port.
func resolveBind(entry, port string) (bindAddr, error) {
	b := bindAddr{entry: entry, optional: strings.HasPrefix(entry, "-")}
	host := strings.TrimPrefix(entry, "-")
	b.network = "tcp4"
	switch {
	case host == "*":
		host = "0.0.0.0"
	case host == "::*":
		host, b.network = "::", "tcp6"
	case strings.Contains(host, ":"):
		b.network = "tcp6"
	}
	a, err := net.ResolveTCPAddr(b.network, net.JoinHostPort(host, port))
	if err != nil {
		return b, err
	}
	b.addr = a
	return b, nil
}

func (b bindAddr) listen() (net.Listener, error) {
	return net.ListenTCP(b.network, b.addr)
}

// ListenBind opens a TCP listener on port for one bind entry ("*", "::*",
// "-::1", "10.0.0.1", a host name...).
func ListenBind(entry, port string) (net.Listener, error) {
	b, err := resolveBind(entry, port)
	if err != nil {
		return nil, err
	}
	return b.listen()
}

// BindSkippable reports whether Redis goes on without a bind entry that
// failed to listen with err: its address family or protocol is not
// supported here, or the entry is optional ('-') and its address is not
// available on this machine.
func BindSkippable(entry string, err error) bool {
	if strings.HasPrefix(entry, "-") && errors.Is(err, syscall.EADDRNOTAVAIL) {
		return true
	}
	for _, e := range [...]syscall.Errno{syscall.ENOPROTOOPT, syscall.EPROTONOSUPPORT,
		syscall.ESOCKTNOSUPPORT, syscall.EPFNOSUPPORT, syscall.EAFNOSUPPORT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) changeBind(v string) error {
	entries := strings.Fields(v)
	port, tlsPort := s.cfg.Staged("port"), "0"
	if s.tlsConf.Load() != nil {
		tlsPort = s.cfg.Staged("tls-port") // only a server that serves TLS
	}
	// Names are resolved before s.mu is taken: every accept needs it.
	resolve := func(port string) ([]bindAddr, error) {
		if port == "0" {
			return nil, nil
		}
		var want []bindAddr
		for _, e := range entries {
			b, err := resolveBind(e, port)
			if err != nil {
				s.log.Warn("Warning: Could not create server TCP listening socket " +
					strings.TrimPrefix(e, "-") + ":" + port + ": " + err.Error())
				return nil, errBind
			}
			want = append(want, b)
		}
		return want, nil
	}
	want, err := resolve(port)
	if err != nil {
		return err
	}
	wantTLS, err := resolve(tlsPort)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	plain := s.rebind(false, want)
	if plain.err != nil {
		return plain.err
	}
	if tlsPort != "0" {
		tls := s.rebind(true, wantTLS)
		if tls.err != nil {
			plain.undo()
			return tls.err
		}
		tls.commit()
	}
	plain.commit()
	return nil
}

// acceptLoop names an accept loop by its listeners: from is the one in
// s.listeners, cur the one it will serve (from itself, or the replacement
// s.moved holds).
type acceptLoop struct{ from, cur net.Listener }

// loops lists the loops of TCP listeners (tls ones, or plain ones). The
// caller holds s.mu.
func (s *Server) loops(tls bool) []acceptLoop {
	var out []acceptLoop
	for l := range s.listeners {
		if _, isTLS := l.(*tlsListener); isTLS != tls {
			continue
		}
		cur := l
		if nl := s.moved[l]; nl != nil {
			cur = nl
		}
		if _, ok := cur.Addr().(*net.TCPAddr); ok {
			out = append(out, acceptLoop{l, cur})
		}
	}
	return out
}

// rebinding is a bind change of one kind of listener, prepared: the new
// listeners are open; commit hands them to accept loops and closes the old
// ones, undo closes them (and reopens the old ones it had to close).
type rebinding struct {
	s      *Server
	tls    bool
	err    error
	drop   []acceptLoop   // loops whose listener goes
	opened []net.Listener // the new listeners
	closed []acceptLoop   // of drop, those already closed (collision fallback)
}

// rebind opens the listeners of want that are missing among the loops of
// its kind. The caller holds s.mu.
func (s *Server) rebind(tls bool, want []bindAddr) *rebinding {
	r := &rebinding{s: s, tls: tls}
	var todo []bindAddr
	kept := map[net.Listener]bool{}
	slots := s.loops(tls)
	for _, b := range want {
		found := false
		for _, sl := range slots {
			if a := sl.cur.Addr().(*net.TCPAddr); !kept[sl.cur] && a.Port == b.addr.Port && a.IP.Equal(b.addr.IP) {
				kept[sl.cur], found = true, true
				break
			}
		}
		if !found {
			todo = append(todo, b)
		}
	}
	for _, sl := range slots {
		if !kept[sl.cur] {
			r.drop = append(r.drop, sl)
		}
	}
	left, inUse := r.open(todo)
	if inUse && len(r.drop) > 0 {
		// Perhaps a collision with a listener that goes: close those
		// first, as Redis does, and try again.
		for _, sl := range r.drop {
			sl.cur.Close()
		}
		r.closed = r.drop
		left, _ = r.open(left)
	}
	if len(left) > 0 {
		r.undo()
		r.err = errBind
	}
	return r
}

// open listens on each of todo, skipping what Redis skips, and returns
// those that failed, and whether one was in use.
func (r *rebinding) open(todo []bindAddr) (failed []bindAddr, inUse bool) {
	for _, b := range todo {
		l, err := b.listen()
		if err != nil {
			r.s.log.Warn("Warning: Could not create server TCP listening socket " +
				strings.TrimPrefix(b.entry, "-") + ":" + portOf(b.addr) + ": " + err.Error())
			if BindSkippable(b.entry, err) {
				continue
			}
			failed = append(failed, b)
			inUse = inUse || errors.Is(err, syscall.EADDRINUSE)
			continue
		}
		r.opened = append(r.opened, l)
	}
	return failed, inUse
}

// undo closes the new listeners and gives the loops whose listener was
// closed the old address back.
func (r *rebinding) undo() {
	for _, l := range r.opened {
		l.Close()
	}
	r.opened = nil
	for _, sl := range r.closed {
		nl, err := relisten(sl.cur, portOf(sl.cur.Addr().(*net.TCPAddr)))
		if err != nil {
			r.s.log.Warn("could not listen again on " + sl.cur.Addr().String() + ": " + err.Error())
			r.s.retire(sl.from)
			continue
		}
		r.s.moveTo(sl.from, r.wrap(nl))
	}
	r.closed = nil
}

// commit gives the new listeners to the loops whose listener goes, and
// starts a loop for each one left; loops left without one end.
func (r *rebinding) commit() {
	s := r.s
	closed := len(r.closed) > 0
	for _, sl := range r.drop {
		if len(r.opened) > 0 {
			s.moveTo(sl.from, r.wrap(r.opened[0]))
			r.opened = r.opened[1:]
		} else {
			s.retire(sl.from)
		}
		if !closed {
			sl.cur.Close()
		}
	}
	for _, l := range r.opened {
		nl := r.wrap(l)
		s.listeners[nl] = struct{}{}
		go s.serve(nl, true)
	}
	r.opened = nil
}

func (r *rebinding) wrap(l net.Listener) net.Listener {
	if r.tls {
		return r.s.tlsWrap(l)
	}
	return l
}

// moveTo makes nl the listener of from's loop. The caller holds s.mu.
func (s *Server) moveTo(from, nl net.Listener) {
	if old := s.moved[from]; old != nil && old != nl {
		old.Close()
	}
	s.moved[from] = nl
}

// retire ends from's loop once its listener is closed. The caller holds
// s.mu. from leaves s.listeners at once, so that a port or bind change
// before the loop wakes up does not move it.
func (s *Server) retire(from net.Listener) {
	if old := s.moved[from]; old != nil {
		old.Close()
		delete(s.moved, from)
	}
	delete(s.listeners, from)
	s.retired[from] = true
}

// relisten opens a listener like l (same address family; an IPv6 one
// stays IPv6-only, or not, as l was) on port.
func relisten(l net.Listener, port string) (net.Listener, error) {
	if tl, ok := l.(*tlsListener); ok {
		l = tl.Listener
	}
	a := l.Addr().(*net.TCPAddr)
	network := "tcp4"
	if a.IP.To4() == nil {
		network = "tcp6"
		if !v6Only(l) {
			network = "tcp" // a dual-stack "::" (--address ":6379")
		}
	}
	return net.Listen(network, net.JoinHostPort(a.IP.String(), port))
}

func portOf(a *net.TCPAddr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

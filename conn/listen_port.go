package conn

import (
	"errors"
	"net"
	"strconv"
)

// CONFIG SET port moves the server to another TCP port, as Redis does:
// every TCP listener is opened again on the new port, and only when all
// of them could be does the server switch (closing the old ones, whose
// Serve loops carry on with the new). A port that cannot be bound fails
// the whole CONFIG SET, which is rolled back.

var errListenPort = errors.New("Unable to listen on this port")

func (s *Server) watchPort() {
	s.cfg.OnApply("port", s.changePort)
	s.cfg.OnApply("bind", s.changeBind) // listen_bind.go
}

func (s *Server) changePort(v string) error {
	port, err := strconv.Atoi(v)
	if err != nil {
		return nil // validated already
	}
	// Everything under s.mu (binding does not wait on anything that
	// takes it): a second CONFIG SET port that comes before an accept
	// loop took its new listener must move that listener, not the closed
	// one it replaces, or the first new listener stays bound for ever.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	type move struct{ from, cur net.Listener }
	var old []move
	for l := range s.listeners {
		if _, ok := l.(*tlsListener); ok {
			continue // tls-port, not port
		}
		cur := l
		if nl := s.moved[l]; nl != nil {
			cur = nl // the loop of l has not switched to it yet
		}
		if a, ok := cur.Addr().(*net.TCPAddr); ok && a.Port != port {
			old = append(old, move{l, cur})
		}
	}
	if len(old) == 0 {
		return nil
	}
	if port == 0 {
		return errListenPort // Valkyrie has no other way in
	}
	opened := make([]net.Listener, 0, len(old))
	for _, m := range old {
		// The same family: "*" and "::*" share a port.
		nl, err := relisten(m.cur, strconv.Itoa(port))
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return errListenPort
		}
		opened = append(opened, nl)
	}
	for i, m := range old {
		s.moved[m.from] = opened[i]
		m.cur.Close() // from itself, or the replacement it had not taken yet
	}
	return nil
}

// movedTo returns the listener that replaced l after a port or bind
// change (and registers it in l's place), or nil; retired reports that a
// bind change closed l for good.
func (s *Server) movedTo(l net.Listener) (nl net.Listener, retired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired[l] {
		delete(s.retired, l) // retire took it out of s.listeners
		return nil, true
	}
	nl = s.moved[l]
	if nl == nil {
		return nil, false
	}
	delete(s.moved, l)
	delete(s.listeners, l)
	if s.closing {
		nl.Close()
		return nil, false
	}
	s.listeners[nl] = struct{}{}
	return nl, false
}

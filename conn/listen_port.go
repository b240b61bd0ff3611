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
}

func (s *Server) changePort(v string) error {
	port, err := strconv.Atoi(v)
	if err != nil {
		return nil // validated already
	}
	s.mu.Lock()
	var old []net.Listener
	for l := range s.listeners {
		if a, ok := l.Addr().(*net.TCPAddr); ok && a.Port != port {
			old = append(old, l)
		}
	}
	s.mu.Unlock()
	if len(old) == 0 {
		return nil
	}
	if port == 0 {
		return errListenPort // Valkyrie has no other way in
	}
	opened := make([]net.Listener, 0, len(old))
	for _, l := range old {
		a := l.Addr().(*net.TCPAddr)
		nl, err := net.Listen("tcp", net.JoinHostPort(a.IP.String(), v))
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return errListenPort
		}
		opened = append(opened, nl)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		for _, o := range opened {
			o.Close()
		}
		return nil
	}
	for i, l := range old {
		s.moved[l] = opened[i]
		l.Close()
	}
	s.mu.Unlock()
	return nil
}

// movedTo returns the listener that replaced l after a port change (and
// registers it in l's place), or nil.
func (s *Server) movedTo(l net.Listener) net.Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	nl := s.moved[l]
	if nl == nil {
		return nil
	}
	delete(s.moved, l)
	delete(s.listeners, l)
	if s.closing {
		nl.Close()
		return nil
	}
	s.listeners[nl] = struct{}{}
	return nl
}

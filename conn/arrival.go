package conn

import (
	"errors"
	"net"
	"os"
	"time"
)

// stampedReader is a connection's byte source that also tells when the
// bytes of its last read arrived (Unix nanoseconds).
type stampedReader interface {
	Read(p []byte) (int, error)
	lastArrival() int64
	// waitReadable waits until the socket has bytes to read (or an end
	// or error to report), without a buffer to read them into. It
	// returns false when a read deadline ended the wait first.
	waitReadable() bool
	// unread reports whether bytes wait in the socket, unread; false
	// where that cannot be known cheaply.
	unread() bool
	// holds reports whether hold works here.
	holds() bool
	// hold calls step, inside one wait of the network poller, for as
	// long as step returns true; see arrivalReader.hold. It returns nil
	// once step returned false, and otherwise why the wait ended (a
	// deadline, a close).
	hold(step func() bool) error
	// blocked reports whether the last Read, inside hold, found nothing.
	blocked() bool
	// hangUp ends the connection from any goroutine without waiting
	// for its owner; the owner closes nc when it stops.
	hangUp(nc net.Conn)
}

// errCannotHold is hold's answer where the source has no poller to hold.
var errCannotHold = errors.New("conn: this connection cannot hold its reads")

// clockReader stamps each read with the time it returned: the fallback
// where the kernel gives no receive times.
type clockReader struct {
	nc   net.Conn
	last int64
}

func (r *clockReader) Read(p []byte) (int, error) {
	n, err := r.nc.Read(p)
	if n > 0 {
		r.last = wallClock()
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil // the deadline that stops watchSocket is not an error
	}
	return n, err
}

func (r *clockReader) lastArrival() int64 { return r.last }

func (r *clockReader) unread() bool { return false }

// waitReadable cannot wait here: the read that follows makes its buffer
// at once and waits.
func (r *clockReader) waitReadable() bool { return true }

func (r *clockReader) holds() bool { return false }

func (r *clockReader) hold(func() bool) error { return errCannotHold }

func (r *clockReader) blocked() bool { return false }

func (r *clockReader) hangUp(nc net.Conn) { nc.Close() }

// wallClock is the time in Unix nanoseconds, the clock of kernel receive
// times.
func wallClock() int64 { return time.Now().UnixNano() }

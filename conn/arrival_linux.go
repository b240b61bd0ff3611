//go:build linux && !386

package conn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// arrivalReader reads a TCP connection with recvmsg and keeps the kernel's
// receive time of the last bytes read (SO_TIMESTAMPNS). Blocked clients
// queue in the order their commands reached the machine, not the order
// their goroutines happened to run: Go's poller may wake the connections
// that became readable together in any order, even last first.
type arrivalReader struct {
	raw  syscall.RawConn
	msg  syscall.Msghdr
	iov  syscall.Iovec
	oob  [64]byte
	p    []byte
	n    int
	err  error
	last int64 // when the last read's bytes arrived (Unix ns); the read's time if the kernel gave none
	recv func(fd uintptr) bool
	peek func(fd uintptr) bool
	one  [1]byte

	// hold's state: while holding, Read reads fd itself, once, and
	// reports a socket with nothing to read as empty rather than wait.
	holding bool
	fd      uintptr
	empty   bool // the last read found nothing
	drained bool // the last read took less than it had room for
	step    func() bool
	held    func(fd uintptr) bool
	// emptyReads counts the reads that found nothing, for tests.
	emptyReads atomic.Int64
}

// newArrivalReader returns a reader for nc that records arrival times,
// or a plain reader when nc is not a TCP connection or the socket
// refuses timestamps.
func newArrivalReader(nc net.Conn) stampedReader {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return &clockReader{nc: nc}
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return &clockReader{nc: nc}
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
	if err != nil || serr != nil {
		return &clockReader{nc: nc}
	}
	r := &arrivalReader{raw: raw}
	r.recv = r.recvmsg
	r.peek = r.peekByte
	r.held = r.holdStep
	return r
}

// hold keeps the connection inside one RawConn.Read for as long as step
// returns true. Each RawConn.Read begins by forgetting what the poller
// knew about the socket, so it must try a read before it may wait: for a
// client that sends one command and waits for its reply, that read
// always finds nothing (a system call of about 400 ns, as long as the
// command's own work). Inside one RawConn.Read the poller's knowledge
// stands: once a read has taken less than it had room for, the socket
// was empty, and whatever arrives after it makes the poller report the
// socket again, so the loop waits without trying.
//
// While step runs, the connection holds the descriptor's read lock, so
// Close from another goroutine would wait for it: other goroutines end
// the connection with hangUp.
func (r *arrivalReader) hold(step func() bool) error {
	r.step = step
	err := r.raw.Read(r.held)
	r.holding, r.step = false, nil
	return err
}

// holdStep is hold's RawConn callback: false means "wait for the poller".
func (r *arrivalReader) holdStep(fd uintptr) bool {
	r.fd, r.holding = fd, true
	for {
		r.empty, r.drained = false, false
		if !r.step() {
			r.holding = false
			return true
		}
		if r.empty || r.drained {
			return false
		}
	}
}

func (r *arrivalReader) blocked() bool { return r.empty }

func (r *arrivalReader) holds() bool { return true }

// hangUp shuts the socket down in both directions: the client sees the
// end at once, the owner's reads and writes fail or find the end, and its
// waits on the poller wake. Unlike Close, it does not wait for a read
// that holds the descriptor.
func (r *arrivalReader) hangUp(net.Conn) {
	r.raw.Control(func(fd uintptr) {
		syscall.Shutdown(int(fd), syscall.SHUT_RDWR)
	})
}

// unread asks the kernel how many bytes wait in the socket (FIONREAD).
func (r *arrivalReader) unread() bool {
	var n int32
	r.raw.Control(func(fd uintptr) {
		syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	})
	return n > 0
}

func (r *arrivalReader) waitReadable() bool {
	err := r.raw.Read(r.peek)
	return err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}

// peekByte is waitReadable's RawConn callback: it looks at one byte
// without taking it, and says "wait" (false) only when there is none yet.
// An end of stream or an error counts as readable: the read reports it.
func (r *arrivalReader) peekByte(fd uintptr) bool {
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.one[0])), 1, syscall.MSG_PEEK, 0, 0)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true
	}
}

func (r *arrivalReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p, r.n, r.err = p, 0, nil
	if r.holding {
		return r.readHeld(p)
	}
	err := r.raw.Read(r.recv)
	r.p, r.iov.Base = nil, nil // keep no buffer alive: an idle connection drops its own
	switch {
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil // see deadlineReader
	case err != nil:
		return 0, err
	case r.err != nil:
		return 0, r.err
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}

// readHeld is Read inside hold: one read, no wait.
func (r *arrivalReader) readHeld(p []byte) (int, error) {
	ok := r.recvmsg(r.fd)
	r.p, r.iov.Base = nil, nil
	switch {
	case !ok:
		r.empty = true
		return 0, nil
	case r.err != nil:
		return 0, r.err
	case r.n == 0:
		return 0, io.EOF
	}
	r.drained = r.n < len(p)
	return r.n, nil
}

// recvmsg is the RawConn callback: false means "not readable yet, wait".
func (r *arrivalReader) recvmsg(fd uintptr) bool {
	r.iov.Base = &r.p[0]
	r.iov.SetLen(len(r.p))
	r.msg.Iov = &r.iov
	r.msg.Iovlen = 1
	r.msg.Control = &r.oob[0]
	r.msg.SetControllen(len(r.oob))
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), 0)
		switch errno {
		case 0:
			r.n = int(n)
			r.last = r.stamp()
			if r.last == 0 {
				r.last = wallClock()
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			r.emptyReads.Add(1)
			return false
		default:
			r.err = os.NewSyscallError("recvmsg", errno)
			return true
		}
	}
}

// stamp returns the SCM_TIMESTAMPNS time in the control data, or 0.
func (r *arrivalReader) stamp() int64 {
	oob := r.oob[:min(int(r.msg.Controllen), len(r.oob))]
	hdr := syscall.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hdr || n > len(oob) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS &&
			n >= syscall.CmsgLen(int(unsafe.Sizeof(syscall.Timespec{}))) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[hdr]))
			return ts.Nano()
		}
		oob = oob[min(cmsgAlign(n), len(oob)):]
	}
	return 0
}

func cmsgAlign(n int) int {
	const word = int(unsafe.Sizeof(uintptr(0)))
	return (n + word - 1) &^ (word - 1)
}

func (r *arrivalReader) lastArrival() int64 { return r.last }

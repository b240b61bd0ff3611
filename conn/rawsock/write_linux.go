//go:build linux

package rawsock

import (
	"net"
	"syscall"
	"unsafe"
)

// Writer writes to a socket without ever waiting for it.
type Writer struct {
	rc      syscall.RawConn
	fn      func(fd uintptr) bool // do, made once: no closure per write
	bufs    [][]byte
	iov     []syscall.Iovec // writev's scratch
	n       int
	blocked bool
	err     error
}

// New returns a writer for nc, or nil when nc has no socket of
// its own to write to (TLS), which then blocks in Write.
func New(nc net.Conn) *Writer {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &Writer{rc: rc}
	w.fn = w.do
	return w
}

// iovMax is how many buffers one writev takes (Linux's IOV_MAX).
const iovMax = 1024

// Write sends what of bufs the socket takes now. It reports the bytes
// sent, and what the socket did not take (rest, non-empty only if it
// would have blocked). It consumes bufs: the slices in it are advanced.
func (w *Writer) Write(bufs [][]byte) (n int, rest [][]byte, err error) {
	w.bufs, w.n, w.blocked, w.err = bufs, 0, false, nil
	if err := w.rc.Write(w.fn); err != nil {
		w.bufs = nil
		return w.n, nil, err
	}
	n, rest, err = w.n, w.bufs, w.err
	if !w.blocked {
		rest = nil
	}
	w.bufs, w.err = nil, nil
	return n, rest, err
}

func (w *Writer) do(fd uintptr) bool {
	for len(w.bufs) > 0 {
		if len(w.bufs[0]) == 0 {
			w.bufs = w.bufs[1:]
			continue
		}
		var n int
		var err error
		if len(w.bufs) == 1 {
			// syscall.Write, as net.Conn's Write uses it: the race
			// detector sees the socket as the synchronisation it is.
			n, err = syscall.Write(int(fd), w.bufs[0])
		} else {
			n, err = w.writev(fd)
		}
		switch err {
		case nil:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			w.blocked = true
			return true
		default:
			w.err = err
			return true
		}
		if n <= 0 {
			w.blocked = true
			return true
		}
		w.n += n
		for n > 0 {
			if n < len(w.bufs[0]) {
				w.bufs[0] = w.bufs[0][n:]
				break
			}
			n -= len(w.bufs[0])
			w.bufs = w.bufs[1:]
		}
	}
	return true
}

// writev writes the first iovMax buffers with one system call, as
// net.Buffers does.
func (w *Writer) writev(fd uintptr) (int, error) {
	w.iov = w.iov[:0]
	for _, b := range w.bufs[:min(len(w.bufs), iovMax)] {
		if len(b) == 0 {
			continue
		}
		v := syscall.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		w.iov = append(w.iov, v)
	}
	r, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	clear(w.iov) // no pointers into buffers that may be dropped
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

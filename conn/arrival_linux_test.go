//go:build linux && !386

package conn

import (
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends (closing one twice is harmless).
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// The reader reports when bytes reached the machine, not when they were
// read: a read long after the bytes came still gets their arrival time.
func TestArrivalReaderKeepsKernelReceiveTime(t *testing.T) {
	client, server := tcpPair(t)
	r := newArrivalReader(server)
	if _, ok := r.(*arrivalReader); !ok {
		t.Fatalf("a TCP connection got %T, want *arrivalReader", r)
	}
	buf := make([]byte, 64)
	const late = 50 * time.Millisecond
	// The kernel may start timestamping only a moment after the first
	// socket asks for it; try a few times.
	for try := 0; try < 10; try++ {
		sent := time.Now()
		if _, err := client.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(late)
		n, err := r.Read(buf)
		if err != nil || string(buf[:n]) != "PING\r\n" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		got := time.Unix(0, r.lastArrival())
		if got.Before(sent.Add(-time.Second)) {
			t.Fatalf("arrival %v is before the write at %v", got, sent)
		}
		if got.Sub(sent) < late/2 {
			return // the time the bytes came, not the time of the read
		}
	}
	t.Fatalf("arrival times are read times, %v after the bytes came", late)
}

// A deadline set to stop a read is not an error for the Reader.
func TestArrivalReaderDeadlineIsEmptyRead(t *testing.T) {
	client, server := tcpPair(t)
	r := newArrivalReader(server)
	server.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != nil {
		t.Fatalf("deadline: %d, %v; want 0, nil", n, err)
	}
	server.SetReadDeadline(time.Time{})
	client.Close()
	if _, err := r.Read(make([]byte, 8)); err == nil {
		t.Fatal("no error at end of stream")
	}
	server.Close()
	if _, err := r.Read(make([]byte, 8)); err == nil {
		t.Fatal("no error after close")
	}
}

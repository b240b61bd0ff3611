package conn

import (
	"net"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// A connection command that panics (a bug) when a script calls it gives
// the script an error reply, and leaves the connection's own database,
// protocol and pending replies as they were: the script's were only lent.
func TestScriptHostLocalPanicRestoresTheConnection(t *testing.T) {
	srv, _ := startServer(t, 8)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newClient(srv, a)
	c.db, c.proto, c.local = 2, wire.RESP3, []byte("+pending\r\n")
	e := &entry{spec: &shard.Spec{Name: "zzpanic", Arity: 1}, run: func(c *client, args [][]byte) {
		c.local = append(c.local, "+half"...)
		panic("a bug")
	}}
	db := 5
	var out []byte
	func() {
		defer func() { recover() }() // gopher-lua's PCall would catch it
		out = (*scriptHost)(c).Local(script.Command{Kind: script.Local, Spec: e.spec, Ref: e},
			[][]byte{[]byte("zzpanic")}, &db, wire.RESP2, nil)
	}()
	if c.db != 2 || c.proto != wire.RESP3 || string(c.local) != "+pending\r\n" {
		t.Fatalf("after the panic: db %d, proto %v, local %q", c.db, c.proto, c.local)
	}
	if !strings.HasPrefix(string(out), "-"+shard.ErrPanicked) {
		t.Fatalf("reply %q", out)
	}
}

package wire

// Proto is the RESP version a connection speaks, chosen with HELLO.
type Proto uint8

const (
	RESP2 Proto = 2
	RESP3 Proto = 3
)

// ProtocolError is a malformed request. The server answers it with
// "-ERR Protocol error: <msg>" and then closes the connection, as Redis does.
type ProtocolError string

func (e ProtocolError) Error() string { return "Protocol error: " + string(e) }

// Reply returns the error reply line for e, without the leading '-'.
func (e ProtocolError) Reply() string { return "ERR Protocol error: " + string(e) }

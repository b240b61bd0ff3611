// Package wire reads Redis requests and writes Redis replies.
//
// It owns the bytes on the socket and nothing else: no command semantics,
// no storage, no goroutines. A Reader turns a byte stream into commands
// (RESP multibulk or telnet-style inline lines), resuming across partial
// reads and enforcing size limits before it allocates. The AppendX
// functions encode every RESP3 reply type into a caller's []byte and
// downgrade each one to RESP2 exactly as Redis does when the connection
// speaks RESP2.
//
// Ownership: arguments returned by Reader.Next are subslices of the
// Reader's buffer. They stay valid until the next call to Reader.Fill, so
// whoever keeps an argument beyond that point must copy it.
package wire

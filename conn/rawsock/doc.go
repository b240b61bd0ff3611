// Package rawsock writes to a socket without waiting for it: what the
// kernel takes now is sent, the rest is handed back to the caller to
// queue. Connections use it so that a client that does not read never
// stalls the goroutine that serves it, and pub/sub queues so that a push
// to a socket with room is sent at once instead of counting as memory held
// until a writer goroutine runs. Linux only; elsewhere New returns nil and
// callers block in Write as before.
package rawsock

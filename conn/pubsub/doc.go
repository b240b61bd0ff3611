// Package pubsub delivers pushes to connections: the pub/sub hub, and the
// output queue that a connection writes through once it receives pushes
// (subscribers, monitors, and anything else that must interleave its own
// bytes with replies).
//
// It knows RESP (package wire), the actor runtime, the glob matcher and the
// events it is handed; it knows nothing of shards or of the connection
// layer, which hands it keyspace events through Events and its server-wide
// settings and counters through QueueConfig.
//
// Ownership:
//
//   - The Hub is one actor goroutine. It alone owns every subscription map:
//     the server's channel, pattern and shard-channel tables, and each
//     Subscriber's own sets. Connections reach them only through the Hub's
//     methods, which send a message and wait for the answer. New starts the
//     goroutine; Close stops it.
//   - A Queue owns one writer goroutine, the only writer of its socket from
//     the moment the queue exists. Anyone may Push raw bytes to it from any
//     goroutine (the connection its replies, the hub its messages, the
//     monitor feed its lines): Push copies them under the queue's lock and
//     never blocks; past the hard or soft output-buffer Limit it closes the
//     connection instead. Bytes reach the socket in the order they were
//     pushed. NewQueue starts the writer; Stop flushes (for at most a
//     second) and waits for it to return. The connection that made the
//     queue calls Stop, once, as it ends.
//   - A Subscriber's counts are written by the hub and may be read by any
//     goroutine (CLIENT LIST); its Queue is shared as above.
package pubsub

// Package conn is the network side of Valkyrie: the listener, the server
// lifecycle, one goroutine per connection, and the commands that concern
// the connection or the server rather than the data (PING, HELLO, CLIENT,
// INFO, CONFIG, COMMAND, ...).
//
// A connection goroutine reads with a wire.Reader and gathers every
// complete command already buffered into a segment. Each data command is
// routed to the shard that owns its keys and joins that shard's batch;
// connection commands run on the spot into a local buffer. When the read
// buffer runs dry the segment is settled: one message per shard, one wait
// for all answers, replies copied out in request order, one write.
//
// A command whose keys live on several shards (MGET, DEL, MSET across
// shards; DBSIZE, FLUSHDB over all) settles the segment first, then borrows
// the shards it needs in ascending order, runs on this goroutine, and
// returns them. Ascending order means two connections can never each hold
// a shard the other waits for.
//
// The connection never touches shard data except through a loan, and never
// reads from the socket while a shard may still be reading arguments that
// point into its read buffer.
//
// Between segments of quick commands (those that wait for nothing but a
// shard) the connection stays inside the poller's callback (holdReads),
// which spares it a read that would find nothing before each wait. It
// holds the socket's read lock there, so only its own goroutine closes
// the socket; others end it with hangUp.
//
// A connection that receives pushes (a subscriber, a monitor, a tracking
// client or its redirect target) writes through an output queue of
// package pubsub instead, so that other goroutines can queue bytes for it
// without blocking. Invalidations pushed while it works on a segment wait
// for the segment's replies (pushState in tracking.go).
//
// Persistence: the RDB (persist.go, persist_load.go), the append-only file
// fed by the shards' journal (aof.go, aof_rewrite.go, aof_load.go), and
// replication: the master side (repl.go, repl_sync.go), whose replicas
// read the same journal, the replica side (replica.go), which passes its
// master's stream on to replicas of its own, and the replication IDs that
// let a chain continue after a failover (repl_id.go).
package conn

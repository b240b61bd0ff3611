// Command valkyrie runs the Valkyrie server: a Redis-compatible, in-memory
// key-value store whose keyspace is split across shard goroutines.
//
//	valkyrie --address=127.0.0.1:6379 --tcp-handlers=4 --shards=4
//
// Both counts default to, and are clamped to, max(1, CPUs/2); --no-clamp
// lifts the clamp. --tcp-handlers is the number of processors' worth of
// threads given to connection goroutines: the Go scheduler runs with
// GOMAXPROCS = tcp-handlers + shards, so that connections and shards
// together get as many threads as the two flags ask for.
package main

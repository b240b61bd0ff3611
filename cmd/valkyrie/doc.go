// Command valkyrie runs the Valkyrie server: a Redis-compatible, in-memory
// key-value store whose keyspace is split across shard goroutines.
//
//	valkyrie --address=127.0.0.1:6379 --tcp-handlers=4 --shards=4
//
// Both counts default to, and are clamped to, max(1, CPUs/2); --no-clamp
// lifts the clamp. --tcp-handlers sets GOMAXPROCS: the number of threads
// that run connection goroutines in parallel. Shard goroutines run on the
// same threads, and the other half of the machine is left to the system,
// as the original design intended.
package main

// Package shard holds the data: one Shard per partition of the keyspace,
// and the table of commands that read and write it.
//
// A Shard is a plain value with no goroutine, lock or clock inside. Tests
// drive it synchronously through Exec; the server runs each Shard on its own
// actor (see Worker), which is then the only goroutine that touches it.
//
// Ownership rules:
//   - A Shard's maps belong to its Worker's goroutine. Nothing else reads or
//     writes them, except a borrower holding a Loan: while lent, the worker
//     goroutine is parked waiting for the loan to come back, so there is
//     still exactly one goroutine using the data at any moment, and the
//     channel hand-offs order every access.
//   - Command arguments point into the connection's read buffer. The
//     connection does not read again until every shard has answered its
//     batch, so handlers may read arguments freely but must copy anything
//     they store (string(arg) does that).
//   - Replies are appended to the batch's output buffer, which the
//     connection lends with the batch and gets back with the answer.
//
// Keys map to shards with Owner (farmhash modulo the shard count). A command
// whose keys all live on one shard runs inside that shard's batch; one whose
// keys span several runs on the connection's goroutine after borrowing those
// shards in ascending order, which is what makes it atomic and deadlock-free.
// A transaction (EXEC) runs the same two ways: as one marked run of calls
// in a single shard's batch (see Call.Tx), or with Across on the borrowed
// shards. WATCH sessions (Watch) are marked dirty by writes and expiry; at
// the same point the shard sends CLIENT TRACKING invalidations through each
// Tracker's sink, which never blocks (tracking.go). The tracking table is
// per shard and owned by its goroutine; the shards share only counters and
// the immutable snapshot of BCAST prefixes (TrackingTable).
//
// Persistence reads the shards two ways. A snapshot (snapshot.go) begins
// on every shard at one instant and is written in slices between batches.
// The journal (journal.go) takes every write in a deterministic form: a
// shard hands its batch's log to it before answering, an Across run its
// one unit before giving the shards back; the AOF and the replicas read it.
// On a replica the replicas' stream is the master's, passed on as it came
// (Journal.Proxy), and the journal's records go to the AOF only; the
// replica expires only the keys its own clients gave a TTL
// (replica_expiry.go).
package shard

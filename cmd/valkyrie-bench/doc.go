// Command valkyrie-bench compares Valkyrie and redis-server side by side
// using public tools.
//
// It starts both servers on free loopback ports and, for every test and
// pipeline depth, runs redis-benchmark against each of them in turn
// (alternating, so drift on the machine hurts both alike). For every run it
// reports throughput and the server's own CPU time per request, read from
// /proc/PID/stat before and after the run.
//
// With -mem-keys > 0 it then starts a fresh pair of servers, loads the same
// N keys into each over a pipelined raw RESP connection, and reports the
// growth of VmRSS per key.
//
// Typical use, from the repository root:
//
//	go run ./cmd/valkyrie-bench -build
//	go run ./cmd/valkyrie-bench -valkyrie ./valkyrie -pipelines 1,16 -requests 100000
//
// To check the tool itself without Valkyrie, point -valkyrie at redis-server
// and pass redis arguments with -valkyrie-args ({port} is replaced by the
// chosen port):
//
//	go run ./cmd/valkyrie-bench -valkyrie "$(command -v redis-server)" \
//		-valkyrie-args "--port {port} --bind 127.0.0.1 --save '' --appendonly no"
//
// It needs Linux (/proc) and binaries for redis-server and redis-benchmark.
package main

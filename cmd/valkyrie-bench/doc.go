// Command valkyrie-bench compares Valkyrie and redis-server side by side
// using public tools.
//
// It starts both servers on free loopback ports and, for every test and
// pipeline depth, runs redis-benchmark against each of them in turn
// (alternating, so drift on the machine hurts both alike). For every run it
// reports throughput and the server's own CPU time per request, read from
// /proc/PID/stat before and after the run. -tests default stands for every
// test redis-benchmark runs without -t, and -data-sizes lists the value
// sizes to run them with (redis-benchmark -d).
//
// With -mem-keys > 0 it then starts a fresh pair of servers, loads the same
// N keys into each over a pipelined raw RESP connection, and reports the
// growth of VmRSS per key.
//
// With -mem-collections (any of hash,set,zset) it measures collections the
// same way: for each listed type it starts yet another fresh pair of
// servers, records VmRSS, loads ONE key holding -mem-members members
// (HSET h field:%09d value:%09d, SADD s member:%012d, ZADD z <i>
// member:%012d; 100 members per command, 1000 commands per pipelined
// write, every reply checked to be the integer count of members added),
// waits -settle and reports VmRSS growth per member, the valkyrie/redis
// ratio, HLEN/SCARD/ZCARD from each server, and the used_memory each server
// reports in INFO memory (Valkyrie's is the Go heap in use).
//
// Typical use, from the repository root:
//
//	go run ./cmd/valkyrie-bench -build
//	go run ./cmd/valkyrie-bench -valkyrie ./valkyrie -pipelines 1,16 -requests 100000
//	go run ./cmd/valkyrie-bench -build -tests default -data-sizes 3,1024 -rounds 3 -mem-keys 0
//	go run ./cmd/valkyrie-bench -build -requests 0 -mem-keys 0 \
//		-mem-collections hash,set,zset -mem-members 1000000
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

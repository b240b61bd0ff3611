package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// Feature benchmarks: transactions, scripts and pub/sub, each measured as
// ops/s against both servers in turn.
//
//	tx1     MULTI, 10 INCRs on keys that one Valkyrie shard owns, EXEC
//	txn     MULTI, 10 INCRs on keys spread over the shards, EXEC
//	eval    EVAL of a one-INCR script (redis-benchmark)
//	pub1    PUBLISH with 1 subscriber draining the channel (redis-benchmark)
//	pub100  PUBLISH with 100 subscribers
var featureNames = []string{"tx1", "txn", "eval", "pub1", "pub100"}

const (
	txCommands = 10
	txClients  = 50
)

func (b *bench) features(ctx context.Context) error {
	c := b.cfg
	shards := max(c.shards, 1)
	fmt.Fprintf(b.out, "\nfeatures: %d requests each, %d clients; Valkyrie keys laid out for %d shards\n",
		c.featureRequests, txClients, shards)
	fmt.Fprintf(b.out, "%8s  %14s  %14s  %6s  %10s  %10s\n", "feature", "valkyrie ops/s", "redis ops/s", "ratio", "v µs/op", "r µs/op")
	for _, f := range c.features {
		v, r, err := b.startPair(ctx, "feature-"+f)
		if err != nil {
			return err
		}
		var res [2]sample
		for i, s := range []*server{v, r} {
			if res[i], err = b.feature(ctx, f, s, shards); err != nil {
				return err
			}
		}
		fmt.Fprintf(b.out, "%8s  %14.0f  %14.0f  %6s  %10.3f  %10.3f\n", f, res[0].rps, res[1].rps,
			ratio(res[0].rps, res[1].rps), res[0].cpuUs, res[1].cpuUs)
		v.kill()
		r.kill()
	}
	return nil
}

func (b *bench) feature(ctx context.Context, f string, s *server, shards int) (sample, error) {
	n := b.cfg.featureRequests
	switch f {
	case "tx1":
		return transactions(ctx, s, n, txKeys(shards, true))
	case "txn":
		return transactions(ctx, s, n, txKeys(shards, false))
	case "eval":
		return runBenchmark(ctx, b.benchProgram(), s, n, "EVAL", "-c", strconv.Itoa(txClients),
			"EVAL", "return redis.call('INCR', KEYS[1])", "1", "counter")
	case "pub1", "pub100":
		subs := 1
		if f == "pub100" {
			subs = 100
		}
		stop, err := subscribe(ctx, s, subs, "news")
		if err != nil {
			return sample{}, err
		}
		defer stop()
		return runBenchmark(ctx, b.benchProgram(), s, n, "PUBLISH", "-c", strconv.Itoa(txClients),
			"PUBLISH", "news", "hello")
	}
	return sample{}, fmt.Errorf("unknown feature %q", f)
}

// txKeys returns the transaction's keys: all owned by shard 0 of a server
// with the given shard count, or each on a different shard where possible.
func txKeys(shards int, oneShard bool) []string {
	var keys []string
	for i := 0; len(keys) < txCommands; i++ {
		k := "tx:" + strconv.Itoa(i)
		o := shard.Owner([]byte(k), shards)
		if oneShard && o != 0 {
			continue
		}
		if !oneShard && len(keys) < shards && o != len(keys) {
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

// transactions runs n MULTI/INCR.../EXEC transactions from txClients
// connections, one transaction in flight per connection, and reports
// transactions per second.
func transactions(ctx context.Context, s *server, n int, keys []string) (sample, error) {
	req := appendCommand(nil, "MULTI")
	for _, k := range keys {
		req = appendCommand(req, "INCR", k)
	}
	req = appendCommand(req, "EXEC")
	replies := len(keys) + 2

	before, err := cpuTicks(s.pid())
	if err != nil {
		return sample{}, err
	}
	var left atomic.Int64
	left.Store(int64(n))
	errc := make(chan error, txClients)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < txClients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- txLoop(ctx, s.addr(), req, replies, &left)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errc)
	for err := range errc {
		if err != nil {
			return sample{}, err
		}
	}
	after, err := cpuTicks(s.pid())
	if err != nil {
		return sample{}, err
	}
	return sample{
		rps:   float64(n) / elapsed.Seconds(),
		cpuUs: float64(after-before) * 1e6 / clockTicks / float64(n),
	}, nil
}

// txLoop sends req and reads its replies until the shared budget runs out.
// Each EXEC reply must be an array of txCommands integers.
func txLoop(ctx context.Context, addr string, req []byte, replies int, left *atomic.Int64) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)
	for left.Add(-1) >= 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(req); err != nil {
			return err
		}
		for r := 0; r < replies; r++ {
			line, err := rd.ReadSlice('\n')
			if err != nil {
				return err
			}
			if line[0] == '-' {
				return errors.New("server replied " + string(line))
			}
			if r == replies-1 { // EXEC: *N followed by N integers
				if string(line) != "*"+strconv.Itoa(replies-2)+"\r\n" {
					return errors.New("EXEC replied " + string(line))
				}
				for k := 0; k < replies-2; k++ {
					if line, err = rd.ReadSlice('\n'); err != nil || line[0] != ':' {
						return fmt.Errorf("EXEC element %q: %v", line, err)
					}
				}
			}
		}
	}
	return nil
}

// subscribe opens subs connections subscribed to channel that read and
// discard everything until the returned stop function is called.
func subscribe(ctx context.Context, s *server, subs int, channel string) (func(), error) {
	var conns []net.Conn
	var wg sync.WaitGroup
	stop := func() {
		for _, nc := range conns {
			nc.Close()
		}
		wg.Wait()
	}
	for i := 0; i < subs; i++ {
		nc, err := net.DialTimeout("tcp", s.addr(), 5*time.Second)
		if err != nil {
			stop()
			return nil, err
		}
		conns = append(conns, nc)
		if _, err := nc.Write(appendCommand(nil, "SUBSCRIBE", channel)); err != nil {
			stop()
			return nil, err
		}
		rd := bufio.NewReader(nc)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for line := 0; line < 6; line++ { // *3, $9, subscribe, $N, channel, :1
			if _, err := rd.ReadSlice('\n'); err != nil {
				stop()
				return nil, fmt.Errorf("SUBSCRIBE on %s: %v", s.name, err)
			}
		}
		nc.SetReadDeadline(time.Time{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				if _, err := rd.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	if ctx.Err() != nil {
		stop()
		return nil, ctx.Err()
	}
	fmt.Fprintf(os.Stderr, "[%s] %d subscribers on %q\n", s.name, subs, channel)
	return stop, nil
}

package conn

import (
	"bufio"
	"context"
	"io"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readRESP reads one RESP2 reply and renders it flat.
func readRESP(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "(nil)", nil
		}
		parts := []string{}
		for i := 0; i < n; i++ {
			p, err := readRESP(br)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return "[" + strings.Join(parts, " ") + "]", nil
	}
	return line, nil
}

// TestBlockedMovesConserveElements: many clients blocked in BLMOVE and
// BRPOPLPUSH between six lists on six shards (and on one shard), some with
// a pipelined PING, a producer, clients that hang up while blocked, and
// CLIENT UNBLOCK racing the serving: every element ends up exactly once,
// every reply comes, nothing stays blocked, and no waiter left behind
// takes a later element.
func TestBlockedMovesConserveElements(t *testing.T) {
	for _, shards := range []int{8, 1} {
		t.Run(strconv.Itoa(shards), func(t *testing.T) {
			_, addr := startServer(t, shards)
			ctx := context.Background()
			rdb := newClient2(t, addr, 2)
			keys := keysOnShards(t, "q", 8, 1, 2, 3, 4, 5, 6)
			srcs := keys[:3]
			all := keys
			const total = 600
			// The producer only has to finish, not to be quick: under
			// -race on a loaded 2-core machine the 24 clients' churn
			// slowed its 600 pushes past 4 s (CI-like load: "producer
			// too slow"). The deadline is there to catch a hang.
			deadline := time.Now().Add(60 * time.Second)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var mu sync.Mutex
			var errs []string
			ids := make(chan string, 100)
			for i := 0; i < 24; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(i)))
					for {
						select {
						case <-stop:
							return
						default:
						}
						nc, err := net.Dial("tcp", addr)
						if err != nil {
							return
						}
						br := bufio.NewReader(nc)
						nc.Write([]byte(resp("CLIENT", "ID")))
						id, _ := readRESP(br)
						select {
						case ids <- strings.TrimPrefix(id, ":"):
						default:
						}
						for n := 0; n < 20; n++ {
							src := all[rng.Intn(len(all))]
							dst := all[rng.Intn(len(all))]
							to := []string{"0.2", "0.01", "0.05"}[rng.Intn(3)]
							cmd := resp("BLMOVE", src, dst, "LEFT", "RIGHT", to)
							if rng.Intn(3) == 0 {
								cmd = resp("BRPOPLPUSH", src, dst, to)
							}
							if rng.Intn(4) == 0 {
								cmd += resp("PING") // pipelined after the blocking command
							}
							nc.Write([]byte(cmd))
							if rng.Intn(6) == 0 {
								time.Sleep(time.Duration(rng.Intn(3)) * time.Millisecond)
								break // hang up, maybe while blocked
							}
							nc.SetReadDeadline(time.Now().Add(5 * time.Second))
							r, err := readRESP(br)
							if err != nil {
								mu.Lock()
								errs = append(errs, "read: "+err.Error())
								mu.Unlock()
								break
							}
							if strings.HasPrefix(r, "-") && !strings.HasPrefix(r, "-UNBLOCKED") {
								mu.Lock()
								errs = append(errs, r)
								mu.Unlock()
							}
							if strings.HasSuffix(cmd, resp("PING")) {
								if p, _ := readRESP(br); p != "+PONG" {
									mu.Lock()
									errs = append(errs, "after PING: "+p)
									mu.Unlock()
								}
							}
						}
						nc.Close()
					}
				}(i)
			}
			wg.Add(1)
			go func() { // unblocker
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case id := <-ids:
						rdb.Do(ctx, "CLIENT", "UNBLOCK", id, []string{"TIMEOUT", "ERROR"}[len(id)%2])
						time.Sleep(time.Millisecond)
					}
				}
			}()
			for i := 0; i < total; i++ {
				if err := rdb.RPush(ctx, srcs[i%3], "e"+strconv.Itoa(i)).Err(); err != nil {
					t.Fatal(err)
				}
				if i%20 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
				if time.Now().After(deadline) {
					t.Fatalf("producer too slow")
				}
			}
			time.Sleep(200 * time.Millisecond)
			close(stop)
			wg.Wait()
			for _, e := range errs {
				t.Error(e)
			}
			// Let the server finish with every closed connection (one may
			// still run the BLMOVE it read before the hang-up) and give up
			// their waiters.
			waitFor := time.Now().Add(10 * time.Second)
			for {
				info := rdb.Info(ctx, "clients").Val()
				conns := "connected_clients:" + strconv.Itoa(int(rdb.PoolStats().TotalConns)) + "\r"
				if strings.Contains(info, "blocked_clients:0") && strings.Contains(info, conns) {
					break
				}
				if time.Now().After(waitFor) {
					t.Fatalf("still blocked or connected: %s", info)
				}
				time.Sleep(20 * time.Millisecond)
			}
			seen := map[string]int{}
			for _, k := range all {
				for _, e := range rdb.LRange(ctx, k, 0, -1).Val() {
					seen[e]++
				}
			}
			for i := 0; i < total; i++ {
				if c := seen["e"+strconv.Itoa(i)]; c != 1 {
					t.Errorf("element e%d is held %d times", i, c)
				}
			}
			if len(seen) != total {
				t.Errorf("%d distinct elements, want %d", len(seen), total)
			}
			// No waiter left behind takes new elements.
			for _, k := range all {
				rdb.RPush(ctx, k, "probe-"+k)
			}
			time.Sleep(100 * time.Millisecond)
			for _, k := range all {
				if got := rdb.LRange(ctx, k, -1, -1).Val(); len(got) != 1 || got[0] != "probe-"+k {
					t.Errorf("%s: last element %v, probe taken", k, got)

				}
			}
		})
	}
}

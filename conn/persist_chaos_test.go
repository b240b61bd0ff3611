package conn

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestPersistenceCommandsRaceEachOther runs SAVE, BGSAVE (plain,
// SCHEDULE, in EXEC), DEBUG RELOAD, FLUSHALL, LASTSAVE and INFO from
// several clients at once with writes going on and connections dropped
// in the middle of their commands, then shuts down while a BGSAVE runs:
// no panic, no hang, every reply one of Redis's.
func TestPersistenceCommandsRaceEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	s := startPersistServer(t, 8, t.TempDir(), "save", "3600 1000000")
	ctx := context.Background()
	setup := newClient2(t, s.addr, 2)
	if err := setup.Do(ctx, "debug", "populate", 30000, "k", 20).Err(); err != nil {
		t.Fatal(err)
	}
	okReplies := map[string]bool{"OK": true, "Background saving started": true, "Background saving scheduled": true}
	okErrors := []string{"ERR Background save already in progress"}
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			c := redis.NewClient(&redis.Options{Addr: s.addr, Protocol: 2, PoolSize: 1, ReadTimeout: 20 * time.Second})
			defer c.Close()
			for time.Now().Before(deadline) {
				var res *redis.Cmd
				switch r.IntN(9) {
				case 0:
					res = c.Do(ctx, "bgsave")
				case 1:
					res = c.Do(ctx, "bgsave", "schedule")
				case 2:
					res = c.Do(ctx, "save")
				case 3:
					if r.IntN(4) == 0 {
						res = c.Do(ctx, "debug", "reload")
					}
				case 4:
					if r.IntN(8) == 0 {
						res = c.Do(ctx, "flushall")
					}
				case 5:
					p := c.TxPipeline()
					p.Do(ctx, "bgsave")
					p.Incr(ctx, "ctr")
					p.Exec(ctx)
				case 6:
					c.Info(ctx, "persistence")
					c.Do(ctx, "lastsave")
				case 7:
					// A client that sends a save and leaves at once.
					nc, err := net.Dial("tcp", s.addr)
					if err == nil {
						cmds := []string{"SAVE", "BGSAVE", "DEBUG RELOAD", "FLUSHALL"}
						cmd := cmds[r.IntN(len(cmds))]
						if cmd == "FLUSHALL" && r.IntN(4) != 0 {
							cmd = "BGSAVE"
						}
						nc.Write([]byte(cmd + "\r\nSET k:1 x\r\n"))
						time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
						nc.Close()
					}
				case 8:
					p := c.Pipeline()
					for j := 0; j < 50; j++ {
						p.Set(ctx, "k:"+strconv.Itoa(r.IntN(30000)), j, 0)
						p.HSet(ctx, "h:"+strconv.Itoa(r.IntN(100)), "f", j)
					}
					p.Exec(ctx)
				}
				if res == nil {
					continue
				}
				v, err := res.Result()
				if err != nil {
					ok := false
					for _, e := range okErrors {
						ok = ok || err.Error() == e
					}
					if !ok {
						select {
						case errs <- res.String() + ": " + err.Error():
						default:
						}
					}
				} else if s, isStr := v.(string); !isStr || !okReplies[s] {
					select {
					case errs <- res.String():
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var bad []string
	for e := range errs {
		bad = append(bad, e)
	}
	if len(bad) > 0 {
		t.Fatalf("unexpected replies:\n%s", strings.Join(bad, "\n"))
	}
	setup.Do(ctx, "bgsave")
	done := make(chan struct{})
	go func() {
		s.stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown during a BGSAVE hung")
	}
}

package conn

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// maxmemory, the refusing half: while the memory in use is above it,
// commands that may grow the dataset (Redis's denyoom flag) answer OOM,
// as Redis does when eviction cannot free enough. Valkyrie does not
// evict yet, so every policy behaves as noeviction.
//
// Memory in use is the Go heap's live objects, sampled every oomPeriod by
// one goroutine that runs only while maxmemory is set (and once at once
// when it changes); commands read the answer from one atomic flag.

const errOOM = script.ErrOOM

// oomPeriod is how often the memory in use is compared with maxmemory (a
// variable for tests).
var oomPeriod = 100 * time.Millisecond

// oomWatch owns the sampling goroutine. mu orders the changes (starting
// and stopping the goroutine); the goroutine itself never takes it, since
// a change holds it while waiting for the goroutine to stop, and reads the
// limit from the atomic.
type oomWatch struct {
	mu      sync.Mutex
	limit   atomic.Int64
	stop    chan struct{} // closed to stop the goroutine; nil when none runs
	stopped chan struct{}
}

// watchMaxmemory starts following the maxmemory parameter.
func (s *Server) watchMaxmemory() {
	s.setMaxmemory()
	s.cfg.OnChange("maxmemory", func(string) { s.setMaxmemory() })
}

// setMaxmemory applies the configured limit: it samples at once, and
// starts or stops the sampler. It reads the parameter under the lock, so
// that of two CONFIG SETs whose callbacks interleave, the last to apply
// applies the value set last.
func (s *Server) setMaxmemory() {
	w := &s.oomWatch
	w.mu.Lock()
	defer w.mu.Unlock()
	limit := s.cfg.Int("maxmemory")
	w.limit.Store(limit)
	s.sampleMemory(limit)
	switch {
	case limit > 0 && w.stop == nil:
		select {
		case <-s.stopping:
			return
		default:
		}
		w.stop, w.stopped = make(chan struct{}), make(chan struct{})
		go s.sampleMemoryLoop(w.stop, w.stopped)
	case limit <= 0 && w.stop != nil:
		close(w.stop)
		<-w.stopped
		w.stop = nil
	}
}

// stopMaxmemory stops the sampler (Shutdown).
func (s *Server) stopMaxmemory() {
	w := &s.oomWatch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		<-w.stopped
		w.stop = nil
	}
}

func (s *Server) sampleMemoryLoop(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(oomPeriod)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.sampleMemory(s.oomWatch.limit.Load())
		}
	}
}

var heapObjects = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

// sampleMemory sets the OOM flag for the given limit.
func (s *Server) sampleMemory(limit int64) {
	if limit <= 0 {
		s.oom.Store(false)
		return
	}
	sample := []metrics.Sample{heapObjects[0]}
	metrics.Read(sample)
	used := int64(sample[0].Value.Uint64())
	s.oom.Store(used > limit)
}

// refuseOOM answers OOM and reports true when memory is over maxmemory
// and Redis would refuse the command: one that may grow the dataset (a
// script or function by its flags, EXEC by what it queued), or anything
// but EXEC, DISCARD, QUIT and RESET inside MULTI. As in Redis, there is no
// such check while a script has run past busy-reply-threshold: the BUSY
// check that follows answers instead.
func (c *client) refuseOOM(e *entry, args [][]byte) bool {
	if !e.arityOK(len(args)) {
		return false
	}
	if c.srv.scripts.Running() > 0 && c.srv.scripts.TimedOut(c.busyLimit()) != "" {
		return false
	}
	refuse := c.deniedOnOOM(e, args)
	if c.tx.on {
		switch e.spec.Name {
		case "exec", "discard", "quit", "reset":
		default:
			refuse = true
		}
	}
	if !refuse {
		return false
	}
	c.last = e.spec
	c.reject(e, args, errOOM)
	return true
}

// deniedOnOOM reports whether the command carries Redis's denyoom flag
// when called with args.
func (c *client) deniedOnOOM(e *entry, args [][]byte) bool {
	spec := e.spec
	if len(spec.Subcommands) > 0 {
		if spec = subSpec(e.spec, args[1]); spec == nil {
			return false
		}
	}
	if spec.Flags&shard.DenyOOM != 0 {
		return true
	}
	if mayWrite, allowOOM, ok := c.scriptFlagsOf(spec.Name, args); ok {
		return mayWrite && !allowOOM
	}
	switch spec.Name {
	case "exec":
		if !c.tx.on {
			return false
		}
		for _, tc := range c.tx.calls {
			if c.deniedOnOOM(tc.e, c.txArgs(tc)) {
				return true
			}
		}
	}
	return false
}

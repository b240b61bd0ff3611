package conn

import (
	"sync/atomic"
	"time"
)

// The server's cron: one goroutine per Server, started by New and stopped
// by Shutdown. Every cronPeriod, as Redis's serverCron at hz 10, it
// samples the rates INFO shows (instantaneous_ops_per_sec and the kbps
// figures); and as Redis's clientsCron it wakes the connections idle for
// idleAfter so that they drop their buffers.

// cronPeriod is how often the cron runs; Redis samples its instantaneous
// metrics every 100 ms too.
const cronPeriod = 100 * time.Millisecond

// metricSamples is how many samples a rate averages, as Redis's
// STATS_METRIC_SAMPLES: the rate over the last 1.6 seconds.
const metricSamples = 16

// rate is one instantaneous metric: the ring of per-second rates is the
// cron's own; value, their mean, is what INFO reads. The arithmetic is
// Redis's trackInstantaneousMetric and getInstantaneousMetric: integer
// rates, and an integer mean of the 16 samples.
type rate struct {
	last    int64 // the counter at the last sample
	samples [metricSamples]int64
	next    int
	value   atomic.Int64
}

// sample records the counter's rate since the last sample, elapsed ago.
func (r *rate) sample(count int64, elapsed time.Duration) {
	d := count - r.last
	r.last = count
	if d < 0 || elapsed <= 0 { // CONFIG RESETSTAT zeroed the counter
		d = 0
	}
	r.samples[r.next] = d * int64(time.Second) / int64(elapsed)
	r.next = (r.next + 1) % metricSamples
	var sum int64
	for _, v := range r.samples {
		sum += v
	}
	r.value.Store(sum / metricSamples)
}

// clear forgets every sample (CONFIG RESETSTAT, on the cron's goroutine).
func (r *rate) clear(count int64) {
	r.last, r.samples, r.next = count, [metricSamples]int64{}, 0
	r.value.Store(0)
}

func (r *rate) get() int64 { return r.value.Load() }

// serverCron is the cron's state. Only its goroutine touches the rates'
// rings; resetRates asks it to clear them.
type serverCron struct {
	ops, in, out rate
	resetRates   atomic.Bool
	stop, done   chan struct{}

	// The largest read buffer and output backlog of any connection at
	// each of the last peakSlots sweeps, and their maxima, which INFO
	// shows as client_recent_max_input_buffer and _output_buffer (Redis
	// keeps the same over its last 8 seconds).
	peakIn, peakOut     [peakSlots]int
	peakNext            int
	recentIn, recentOut atomic.Int64
}

const peakSlots = 8

// startCron starts the cron's goroutine (New).
func (s *Server) startCron() {
	s.cron.stop, s.cron.done = make(chan struct{}), make(chan struct{})
	go s.runCron(s.cron.stop, s.cron.done)
}

// resetRates zeroes the rates at once and has the cron start them over
// from its next sample (CONFIG RESETSTAT).
func (s *Server) resetRates() {
	for _, r := range []*rate{&s.cron.ops, &s.cron.in, &s.cron.out} {
		r.value.Store(0)
	}
	s.cron.resetRates.Store(true)
}

// stopCron stops it and waits for it (Shutdown).
func (s *Server) stopCron() {
	close(s.cron.stop)
	<-s.cron.done
}

func (s *Server) runCron(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(cronPeriod)
	defer t.Stop()
	last := time.Now()
	lastSweep := last
	sweepEvery := min(idleAfter/2, time.Second)
	for {
		select {
		case <-stop:
			return
		case <-s.cmem.wake:
			s.evictClients()
		case now := <-t.C:
			s.sampleRates(now.Sub(last))
			s.memPeak(s.mem.Used())
			s.checkClientLimits(now.Unix())
			s.followHeap()
			s.savePoints(now)
			s.aofCron()
			s.replCron(now)
			last = now
			if now.Sub(lastSweep) >= sweepEvery {
				s.sweepIdle(now)
				lastSweep = now
			}
		}
	}
}

// sampleRates is Redis's trackInstantaneousMetric for the three rates.
func (s *Server) sampleRates(elapsed time.Duration) {
	cr, st := &s.cron, &s.stats
	if cr.resetRates.Swap(false) {
		cr.ops.clear(st.commands.Load())
		cr.in.clear(st.netIn.Load())
		cr.out.clear(st.netOut.Load())
		return
	}
	cr.ops.sample(st.commands.Load(), elapsed)
	cr.in.sample(st.netIn.Load(), elapsed)
	cr.out.sample(st.netOut.Load(), elapsed)
}

// sweepIdle wakes every connection that has read nothing for idleAfter
// and still holds a read buffer, so that it drops its buffers. A blocked
// connection is left alone: its socket watcher owns the reader.
//
// On the way it records the largest read buffer and output backlog.
//
// And as Redis's clientsCron, it closes the clients idle for longer than
// the timeout parameter (seconds; 0: never), but not subscribers, monitors
// or blocked clients.
func (s *Server) sweepIdle(now time.Time) {
	timeout := time.Duration(s.idleTimeout.Load()) * time.Second
	var idle, expired []*client
	maxIn, maxOut := 0, 0
	s.mu.Lock()
	for _, c := range s.clients {
		if c.isReplica.Load() {
			continue // a replica's link: never idle, its reader owns the socket
		}
		c.info.mu.Lock()
		size, used := c.info.qbufSize, c.info.lastUsed
		c.info.mu.Unlock()
		maxIn = max(maxIn, size)
		out := int(c.outPending.Load())
		if sub := c.pubsub(); sub != nil {
			n, _ := sub.Queue().Pending()
			out += n
		}
		maxOut = max(maxOut, out)
		if c.block.blocked.Load() {
			continue
		}
		if c.working.Load() {
			// Running commands: not idle, unless stuck in one write.
			if w := c.writing.Load(); w != 0 && timeout > 0 && now.UnixNano()-w >= int64(timeout) {
				used = time.Unix(0, w)
			} else {
				used = now
			}
		}
		if timeout > 0 && now.Sub(used) >= timeout && !c.subscribed2() && !c.monitoringNow() {
			expired = append(expired, c)
			continue
		}
		if size > 0 && now.Sub(used) >= idleAfter {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		c.wakeIdle()
	}
	for _, c := range expired {
		s.log.Debug("Closing idle client", "client", c.id)
		c.hangUp()
	}
	cr := &s.cron
	cr.peakIn[cr.peakNext], cr.peakOut[cr.peakNext] = maxIn, maxOut
	cr.peakNext = (cr.peakNext + 1) % peakSlots
	cr.recentIn.Store(int64(maxOf(cr.peakIn[:])))
	cr.recentOut.Store(int64(maxOf(cr.peakOut[:])))
}

func maxOf(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// wakeIdle makes the connection's read return at once, with idleWake set.
// push.mu orders it with endIdleWake and the tracking wake-ups, which set
// the same deadline.
func (c *client) wakeIdle() {
	c.push.mu.Lock()
	if !c.idleWake.Load() {
		c.idleWake.Store(true)
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
	c.push.mu.Unlock()
}

// endIdleWake clears the wake-up on the connection's goroutine and reports
// whether there was one. Clearing the deadline cannot lose a tracking
// wake-up: the connection checks push.wake before it reads again.
func (c *client) endIdleWake() bool {
	c.push.mu.Lock()
	defer c.push.mu.Unlock()
	if !c.idleWake.Load() {
		return false
	}
	c.idleWake.Store(false)
	c.nc.SetReadDeadline(time.Time{})
	return true
}

// monitoringNow reports, from any goroutine, whether the connection is a
// monitor.
func (c *client) monitoringNow() bool {
	sub := c.pubsub()
	return sub != nil && c.srv.isMonitor(sub.Queue())
}

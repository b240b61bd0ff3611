package conn

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// errorStats counts error replies by their code, for INFO errorstats
// ("errorstat_WRONGTYPE:count=3"). A code is found as Redis finds it: the
// text between the '-' and the first space within the reply's first 32
// bytes, ERR when there is no such space. Redis 7.0 tracks any number of
// codes; scripts can make up codes at will, so this keeps at most
// errorStatsMax of them and counts others only in total_error_replies.
type errorStats struct {
	mu    sync.RWMutex
	codes map[string]*atomic.Int64
}

const errorStatsMax = 128

var errCodeERR = []byte("ERR")

// errorCode returns the code of the error reply r ("-CODE message...").
func errorCode(r []byte) []byte {
	if i := bytes.IndexByte(r[:min(len(r), 32)], ' '); i > 0 {
		return r[1:i]
	}
	return errCodeERR
}

// count counts the error reply r.
func (e *errorStats) count(r []byte) {
	code := errorCode(r)
	e.mu.RLock()
	n := e.codes[string(code)]
	e.mu.RUnlock()
	if n == nil {
		e.mu.Lock()
		if n = e.codes[string(code)]; n == nil {
			if len(e.codes) >= errorStatsMax {
				e.mu.Unlock()
				return
			}
			if e.codes == nil {
				e.codes = map[string]*atomic.Int64{}
			}
			n = new(atomic.Int64)
			e.codes[string(code)] = n
		}
		e.mu.Unlock()
	}
	n.Add(1)
}

// countMsg counts the error whose reply is "-" + msg.
func (e *errorStats) countMsg(msg string) {
	b := make([]byte, 0, 32)
	b = append(b, '-')
	b = append(b, msg[:min(len(msg), 31)]...)
	e.count(b)
}

func (e *errorStats) reset() {
	e.mu.Lock()
	e.codes = nil
	e.mu.Unlock()
}

// infoErrorStats writes the errorstats section, codes in byte order as
// Redis lists them.
func infoErrorStats(b []byte, x *infoCtx) []byte {
	e := &x.c.srv.stats.errs
	e.mu.RLock()
	codes := make([]string, 0, len(e.codes))
	for code := range e.codes {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		b = append(b, "errorstat_"...)
		b = append(b, code...)
		b = append(b, ":count="...)
		b = strconv.AppendInt(b, e.codes[code].Load(), 10)
		b = append(b, '\r', '\n')
	}
	e.mu.RUnlock()
	return b
}

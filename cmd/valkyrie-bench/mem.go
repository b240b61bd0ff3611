package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// memChunk is how many commands are written before their replies are read.
const memChunk = 1000

// memResult is the outcome of loading data into one server.
type memResult struct {
	before, after         int64 // VmRSS in bytes
	usedBefore, usedAfter int64 // used_memory from INFO memory
	count                 int64 // DBSIZE, or the collection's cardinality
}

func (m memResult) perKey(n int) float64 { return float64(m.after-m.before) / float64(n) }

func (m memResult) usedPerKey(n int) float64 {
	return float64(m.usedAfter-m.usedBefore) / float64(n)
}

// memLoad records VmRSS, loads n keys of valueSize-byte values, waits for
// settle and records VmRSS and DBSIZE again.
func memLoad(ctx context.Context, s *server, n, valueSize int, settle time.Duration) (memResult, error) {
	res, err := measure(ctx, s, settle, func() error { return loadKeys(ctx, s, n, valueSize) })
	if err != nil {
		return res, err
	}
	if res.count, err = s.dbsize(ctx); err != nil {
		return res, fmt.Errorf("DBSIZE on %s: %w", s.name, err)
	}
	return res, nil
}

// measure records VmRSS and used_memory, runs load, waits for settle and
// records both again.
func measure(ctx context.Context, s *server, settle time.Duration, load func() error) (memResult, error) {
	var res memResult
	var err error
	if res.before, err = rssBytes(s.pid()); err != nil {
		return res, err
	}
	if res.usedBefore, err = s.usedMemory(ctx); err != nil {
		return res, fmt.Errorf("INFO memory on %s: %w", s.name, err)
	}
	if err := load(); err != nil {
		return res, fmt.Errorf("loading %s: %w", s.name, err)
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if err := s.exited(); err != nil {
		return res, err
	}
	if res.after, err = rssBytes(s.pid()); err != nil {
		return res, err
	}
	if res.usedAfter, err = s.usedMemory(ctx); err != nil {
		return res, fmt.Errorf("INFO memory on %s: %w", s.name, err)
	}
	return res, nil
}

// loadKeys sends SET key:%012d <value> for i in [0, n) and checks every
// reply is +OK.
func loadKeys(ctx context.Context, s *server, n, valueSize int) error {
	var (
		key   = make([]byte, 0, 16)
		value = make([]byte, valueSize)
	)
	appendSet := func(b []byte, i int) []byte {
		key = appendKey(key[:0], i)
		fillValue(value, i)
		b = append(b, "*3\r\n$3\r\nSET\r\n"...)
		b = appendBulk(b, key)
		return appendBulk(b, value)
	}
	checkOK := func(line []byte, _ int) error {
		if !bytes.Equal(line, []byte("+OK\r\n")) {
			return fmt.Errorf("%q", line)
		}
		return nil
	}
	return pipeline(ctx, s, "SET", n, appendSet, checkOK)
}

// pipeline sends commands 0..n-1, each appended by appendCmd, over one
// connection, memChunk at a time, and passes every single-line reply to
// check. name labels errors.
func pipeline(ctx context.Context, s *server, name string, n int,
	appendCmd func(b []byte, i int) []byte, check func(line []byte, i int) error) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() }) // unblock on cancel
	defer stop()

	r := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for start := 0; start < n; start += memChunk {
		end := min(start+memChunk, n)
		buf = buf[:0]
		for i := start; i < end; i++ {
			buf = appendCmd(buf, i)
		}
		if _, err := c.Write(buf); err != nil {
			return err
		}
		for i := start; i < end; i++ {
			line, err := r.ReadSlice('\n')
			if err == nil {
				err = check(line, i)
			}
			if err != nil {
				return fmt.Errorf("reply to %s #%d: %w", name, i, err)
			}
		}
	}
	return nil
}

// appendKey appends key:%012d without fmt.
func appendKey(b []byte, i int) []byte { return appendPadded(b, "key:", i, 12) }

// appendPadded appends prefix and i zero-padded to width digits, like
// fmt's prefix%0<width>d for i >= 0.
func appendPadded(b []byte, prefix string, i, width int) []byte {
	b = append(b, prefix...)
	for range width - decimalLen(i) {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(i), 10)
}

// appendPaddedBulk appends prefix%0<width>d as a RESP bulk string.
func appendPaddedBulk(b []byte, prefix string, i, width int) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(prefix)+max(width, decimalLen(i))), 10)
	b = append(b, '\r', '\n')
	b = appendPadded(b, prefix, i, width)
	return append(b, '\r', '\n')
}

// decimalLen returns the length of i in decimal.
func decimalLen(i int) int {
	var d [20]byte
	return len(strconv.AppendInt(d[:0], int64(i), 10))
}

// fillValue writes letters that vary per key, so no server can share values.
func fillValue(v []byte, i int) {
	for j := range v {
		v[j] = 'a' + byte((i+j)%26)
	}
}

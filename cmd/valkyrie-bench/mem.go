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

// memChunk is how many SETs are written before their replies are read.
const memChunk = 1000

// memResult is the outcome of loading keys into one server.
type memResult struct {
	before, after int64 // VmRSS in bytes
	dbsize        int64
}

func (m memResult) perKey(n int) float64 { return float64(m.after-m.before) / float64(n) }

// memLoad records VmRSS, loads n keys of valueSize-byte values, waits for
// settle and records VmRSS and DBSIZE again.
func memLoad(ctx context.Context, s *server, n, valueSize int, settle time.Duration) (memResult, error) {
	var res memResult
	var err error
	if res.before, err = rssBytes(s.pid()); err != nil {
		return res, err
	}
	if err := loadKeys(ctx, s, n, valueSize); err != nil {
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
	if res.dbsize, err = s.dbsize(ctx); err != nil {
		return res, fmt.Errorf("DBSIZE on %s: %w", s.name, err)
	}
	return res, nil
}

// loadKeys sends SET key:%012d <value> for i in [0, n) over one connection,
// memChunk commands at a time, and checks every reply is +OK.
func loadKeys(ctx context.Context, s *server, n, valueSize int) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() }) // unblock on cancel
	defer stop()

	r := bufio.NewReaderSize(c, 64<<10)
	var (
		buf   []byte
		key   = make([]byte, 0, 16)
		value = make([]byte, valueSize)
	)
	for start := 0; start < n; start += memChunk {
		end := min(start+memChunk, n)
		buf = buf[:0]
		for i := start; i < end; i++ {
			key = appendKey(key[:0], i)
			fillValue(value, i)
			buf = append(buf, "*3\r\n$3\r\nSET\r\n"...)
			buf = appendBulk(buf, key)
			buf = appendBulk(buf, value)
		}
		if _, err := c.Write(buf); err != nil {
			return err
		}
		for i := start; i < end; i++ {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return fmt.Errorf("reply to SET #%d: %w", i, err)
			}
			if !bytes.Equal(line, []byte("+OK\r\n")) {
				return fmt.Errorf("reply to SET #%d: %q", i, line)
			}
		}
	}
	return nil
}

// appendKey appends key:%012d without fmt.
func appendKey(b []byte, i int) []byte {
	b = append(b, "key:"...)
	var d [20]byte
	digits := strconv.AppendInt(d[:0], int64(i), 10)
	for range 12 - len(digits) {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// fillValue writes letters that vary per key, so no server can share values.
func fillValue(v []byte, i int) {
	for j := range v {
		v[j] = 'a' + byte((i+j)%26)
	}
}

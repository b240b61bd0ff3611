package aof

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// ItemsPerCommand is the most elements one rewritten RPUSH, SADD, ZADD or
// HMSET carries (Redis's AOF_REWRITE_ITEMS_PER_CMD).
const ItemsPerCommand = 64

// FromRDBOptions tunes FromRDB.
type FromRDBOptions struct {
	// Timestamp, when non-zero, is written first as a "#TS:<unix>"
	// annotation, as Redis does at the start of a rewrite with
	// aof-timestamp-enabled yes.
	Timestamp int64
	// Now, when positive (Unix ms), leaves out the keys whose expiry is
	// before it, as a Redis master does when it loads an RDB. Zero keeps
	// every key, as a rewrite of what is in memory does.
	Now int64
}

// ErrStream is returned (wrapped in the error) for a stream whose nodes or
// consumer groups do not hold together.
var ErrStream = errors.New("aof: malformed stream in RDB")

// flushAt is how many bytes FromRDB buffers before it writes them to w.
const flushAt = 64 << 10

// FromRDB reads an RDB file from r and writes to w the AOF commands that
// rebuild it, as Redis 7.0's rewriteAppendOnlyFileRio writes an AOF base
// when aof-use-rdb-preamble is no: the optional "#TS:" annotation, a
// FUNCTION LOAD per library, then for each database that has keys a
// SELECT and every key in file order: SET for a string, RPUSH, SADD, ZADD
// and HMSET with at most ItemsPerCommand elements each, a stream as its
// XADDs (or an XADD MAXLEN 0 of a dummy entry when it is empty), XSETID
// with ENTRIESADDED and MAXDELETEDID, and per consumer group an XGROUP
// CREATE with ENTRIESREAD, then per consumer (in name order) an XCLAIM ...
// TIME RETRYCOUNT JUSTID FORCE per pending entry, or an XGROUP
// CREATECONSUMER when it has none; and after a key's commands, PEXPIREAT
// when it has an expiry.
//
// Memory is bounded by the largest key. Errors of r or of the RDB are
// returned as rdb.Load returns them; errors of w as they are.
func FromRDB(r io.Reader, w io.Writer, opts FromRDBOptions) error {
	c := &converter{w: w, db: -1}
	if opts.Timestamp != 0 {
		c.buf = AppendTimestamp(c.buf, opts.Timestamp)
	}
	err := rdb.Load(r, rdb.Handler{
		Function: func(code string) error {
			c.buf = append(c.buf, "*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n"...)
			c.buf = appendBulkString(c.buf, code)
			return c.maybeFlush()
		},
		Key: func(e *rdb.Entry) error {
			if opts.Now > 0 && e.ExpireAt >= 0 && e.ExpireAt < opts.Now {
				return nil
			}
			return c.key(e)
		},
	})
	if err != nil {
		return err
	}
	return c.flush()
}

type converter struct {
	w   io.Writer
	buf []byte
	db  int
	els []lpElem // scratch for a stream node's entries
}

func (c *converter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	if cap(c.buf) > 4*flushAt {
		c.buf = nil
	}
	c.buf = c.buf[:0]
	return err
}

func (c *converter) maybeFlush() error {
	if len(c.buf) < flushAt {
		return nil
	}
	return c.flush()
}

func appendBulkString(dst []byte, s string) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

func appendBulk(dst, s []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

func appendBulkInt(dst []byte, v int64) []byte {
	var num [20]byte
	return appendBulk(dst, strconv.AppendInt(num[:0], v, 10))
}

// appendBulkID appends a stream ID as "<ms>-<seq>".
func appendBulkID(dst []byte, ms, seq uint64) []byte {
	var num [41]byte
	b := strconv.AppendUint(num[:0], ms, 10)
	b = append(b, '-')
	return appendBulk(dst, strconv.AppendUint(b, seq, 10))
}

// appendBulkDouble appends a score as Redis's rioWriteBulkDouble does,
// with printf's "%.17g".
func appendBulkDouble(dst []byte, f float64) []byte {
	var num [32]byte
	var b []byte
	switch {
	case math.IsInf(f, 1):
		b = append(num[:0], "inf"...)
	case math.IsInf(f, -1):
		b = append(num[:0], "-inf"...)
	case math.IsNaN(f):
		b = append(num[:0], "nan"...)
	default:
		b = strconv.AppendFloat(num[:0], f, 'g', 17, 64)
	}
	return appendBulk(dst, b)
}

// appendHead appends "*<n>" and the command name and key of a command.
func appendHead(dst []byte, n int, name, key string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, '\r', '\n')
	dst = appendBulkString(dst, name)
	return appendBulkString(dst, key)
}

func (c *converter) key(e *rdb.Entry) error {
	if e.DB != c.db {
		c.db = e.DB
		c.buf = AppendSelect(c.buf, e.DB)
	}
	v := e.Value
	var err error
	switch v.Kind {
	case rdb.String:
		c.buf = appendHead(c.buf, 3, "SET", e.Key)
		c.buf = appendBulkString(c.buf, v.Str)
	case rdb.List:
		err = c.batched(e.Key, "RPUSH", v.Elems, nil, 1)
	case rdb.Set:
		err = c.batched(e.Key, "SADD", v.Elems, nil, 1)
	case rdb.ZSet:
		err = c.batched(e.Key, "ZADD", v.Elems, v.Scores, 2)
	case rdb.Hash:
		err = c.batched(e.Key, "HMSET", v.Elems, nil, 2)
	case rdb.Stream:
		err = c.stream(e.Key, v)
	default:
		return errors.New("aof: unknown value kind in RDB")
	}
	if err != nil {
		return err
	}
	if e.ExpireAt >= 0 {
		c.buf = appendHead(c.buf, 3, "PEXPIREAT", e.Key)
		c.buf = appendBulkInt(c.buf, e.ExpireAt)
	}
	return c.maybeFlush()
}

// batched writes the commands name key item... of at most ItemsPerCommand
// items each, as Redis's rewriteListObject and its siblings do. An item
// is one element (per 1), a field and its value (per 2, no scores), or a
// score and its member (per 2, scores).
func (c *converter) batched(key, name string, elems []string, scores []float64, per int) error {
	items := len(elems)
	if scores == nil {
		items /= per
	}
	for i := 0; i < items; i += ItemsPerCommand {
		n := min(items-i, ItemsPerCommand)
		c.buf = appendHead(c.buf, 2+n*per, name, key)
		for j := i; j < i+n; j++ {
			switch {
			case scores != nil:
				c.buf = appendBulkDouble(c.buf, scores[j])
				c.buf = appendBulkString(c.buf, elems[j])
			case per == 2:
				c.buf = appendBulkString(c.buf, elems[2*j])
				c.buf = appendBulkString(c.buf, elems[2*j+1])
			default:
				c.buf = appendBulkString(c.buf, elems[j])
			}
		}
		if err := c.maybeFlush(); err != nil {
			return err
		}
	}
	return nil
}

// lpElem is one entry of a listpack: a string, or an integer when isInt.
type lpElem struct {
	s     []byte
	v     int64
	isInt bool
}

func (el *lpElem) int() (int64, bool) {
	if el.isInt {
		return el.v, true
	}
	v, err := strconv.ParseInt(string(el.s), 10, 64)
	return v, err == nil
}

func appendBulkElem(dst []byte, el *lpElem) []byte {
	if el.isInt {
		return appendBulkInt(dst, el.v)
	}
	return appendBulk(dst, el.s)
}

// Flags of a stream entry in a node's listpack (t_stream.c).
const (
	streamItemDeleted    = 1 << 0
	streamItemSameFields = 1 << 1
)

// streamNodeEntries calls fn with the ID and field-value pairs of every
// live entry of a stream node. A node's listpack holds the master entry
// (count, deleted count, the number of master fields, the master fields
// and a 0), then each entry as its flags, the differences of its ID from
// the node's master ID, its fields and values (only values when it has the
// master's fields), and the count of its listpack elements.
func (c *converter) streamNodeEntries(nd *rdb.StreamNode, fn func(ms, seq uint64, fields, values []lpElem, same bool) error) error {
	els := c.els[:0]
	err := rdb.EachListpackEntry(nd.LP, func(s []byte, v int64, isInt bool) error {
		els = append(els, lpElem{s: s, v: v, isInt: isInt})
		return nil
	})
	c.els = els[:0]
	if err != nil {
		return ErrStream
	}
	num := func(i int) (int64, bool) {
		if i >= len(els) {
			return 0, false
		}
		return els[i].int()
	}
	nf, ok := num(2)
	if !ok || nf < 0 || nf > int64(len(els)) {
		return ErrStream
	}
	master := els[3 : 3+nf]
	if z, ok := num(3 + int(nf)); !ok || z != 0 {
		return ErrStream
	}
	masterMs := binary.BigEndian.Uint64(nd.Key[:8])
	masterSeq := binary.BigEndian.Uint64(nd.Key[8:])
	p := 4 + int(nf)
	for p < len(els) {
		flags, ok1 := num(p)
		dms, ok2 := num(p + 1)
		dseq, ok3 := num(p + 2)
		if !ok1 || !ok2 || !ok3 {
			return ErrStream
		}
		p += 3
		var fields, values []lpElem
		same := flags&streamItemSameFields != 0
		if same {
			if p+int(nf) > len(els) {
				return ErrStream
			}
			fields, values = master, els[p:p+int(nf)]
			p += int(nf)
		} else {
			n, ok := num(p)
			if !ok || n < 0 || n > int64(len(els)) || p+1+2*int(n) > len(els) {
				return ErrStream
			}
			fields = els[p+1 : p+1+2*int(n)] // pairs
			p += 1 + 2*int(n)
		}
		p++ // the entry's element count
		if p > len(els) {
			return ErrStream
		}
		if flags&streamItemDeleted != 0 {
			continue
		}
		if err := fn(masterMs+uint64(dms), masterSeq+uint64(dseq), fields, values, same); err != nil {
			return err
		}
	}
	return nil
}

func idOf(b [16]byte) (ms, seq uint64) {
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func cmpID(ams, aseq, bms, bseq uint64) int {
	switch {
	case ams < bms:
		return -1
	case ams > bms:
		return 1
	case aseq < bseq:
		return -1
	case aseq > bseq:
		return 1
	}
	return 0
}

// estimateEntriesRead is Redis's streamEstimateDistanceFromFirstEverEntry,
// which its loader uses for the groups of a stream saved before 7.0.
func estimateEntriesRead(m *rdb.StreamMeta, firstMs, firstSeq, ms, seq uint64) int64 {
	if m.EntriesAdded == 0 {
		return 0
	}
	cmpLast := cmpID(ms, seq, m.LastMs, m.LastSeq)
	if m.Length == 0 && cmpLast < 1 {
		return int64(m.EntriesAdded)
	}
	if cmpLast == 0 {
		return int64(m.EntriesAdded)
	} else if cmpLast > 0 {
		return -1
	}
	cmpFirst := cmpID(ms, seq, firstMs, firstSeq)
	if (m.MaxDeletedMs == 0 && m.MaxDelSeq == 0) ||
		cmpID(m.MaxDeletedMs, m.MaxDelSeq, firstMs, firstSeq) < 0 {
		if cmpFirst < 0 {
			return int64(m.EntriesAdded - m.Length)
		} else if cmpFirst == 0 {
			return int64(m.EntriesAdded - m.Length + 1)
		}
	}
	return -1
}

// stream writes the commands of rewriteStreamObject.
func (c *converter) stream(key string, v *rdb.Value) error {
	var firstMs, firstSeq uint64
	haveFirst := false
	if v.Meta.Length > 0 {
		for i := range v.Nodes {
			err := c.streamNodeEntries(&v.Nodes[i], func(ms, seq uint64, fields, values []lpElem, same bool) error {
				if !haveFirst {
					firstMs, firstSeq, haveFirst = ms, seq, true
				}
				n := len(fields)
				if same {
					n *= 2
				}
				c.buf = appendHead(c.buf, 3+n, "XADD", key)
				c.buf = appendBulkID(c.buf, ms, seq)
				for j := range fields {
					c.buf = appendBulkElem(c.buf, &fields[j])
					if same {
						c.buf = appendBulkElem(c.buf, &values[j])
					}
				}
				return c.maybeFlush()
			})
			if err != nil {
				return err
			}
		}
	} else {
		c.buf = appendHead(c.buf, 7, "XADD", key)
		c.buf = append(c.buf, "$6\r\nMAXLEN\r\n$1\r\n0\r\n$3\r\n0-1\r\n$1\r\nx\r\n$1\r\ny\r\n"...)
	}
	m := &v.Meta
	c.buf = appendHead(c.buf, 7, "XSETID", key)
	c.buf = appendBulkID(c.buf, m.LastMs, m.LastSeq)
	c.buf = append(c.buf, "$12\r\nENTRIESADDED\r\n"...)
	c.buf = appendBulkInt(c.buf, int64(m.EntriesAdded))
	c.buf = append(c.buf, "$12\r\nMAXDELETEDID\r\n"...)
	c.buf = appendBulkID(c.buf, m.MaxDeletedMs, m.MaxDelSeq)

	// Redis keeps groups, consumers and pending entries in radix trees and
	// writes them in key order, which is also the order it saves them in.
	cmpName := func(a, b []byte) int { return bytes.Compare(a, b) }
	slices.SortFunc(v.Groups, func(a, b rdb.StreamGroup) int { return cmpName(a.Name, b.Name) })
	for gi := range v.Groups {
		g := &v.Groups[gi]
		entriesRead := g.EntriesRead
		if !g.HasEntriesRead {
			entriesRead = estimateEntriesRead(m, firstMs, firstSeq, g.LastMs, g.LastSeq)
		}
		c.buf = append(c.buf, "*7\r\n$6\r\nXGROUP\r\n$6\r\nCREATE\r\n"...)
		c.buf = appendBulkString(c.buf, key)
		c.buf = appendBulk(c.buf, g.Name)
		c.buf = appendBulkID(c.buf, g.LastMs, g.LastSeq)
		c.buf = append(c.buf, "$11\r\nENTRIESREAD\r\n"...)
		c.buf = appendBulkInt(c.buf, entriesRead)

		slices.SortFunc(g.PEL, func(a, b rdb.StreamNACK) int { return bytes.Compare(a.ID[:], b.ID[:]) })
		slices.SortFunc(g.Consumers, func(a, b rdb.StreamConsumer) int { return cmpName(a.Name, b.Name) })
		for ci := range g.Consumers {
			cons := &g.Consumers[ci]
			if len(cons.PEL) == 0 {
				c.buf = append(c.buf, "*5\r\n$6\r\nXGROUP\r\n$14\r\nCREATECONSUMER\r\n"...)
				c.buf = appendBulkString(c.buf, key)
				c.buf = appendBulk(c.buf, g.Name)
				c.buf = appendBulk(c.buf, cons.Name)
				continue
			}
			slices.SortFunc(cons.PEL, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
			for _, id := range cons.PEL {
				i, found := slices.BinarySearchFunc(g.PEL, id, func(n rdb.StreamNACK, id [16]byte) int {
					return bytes.Compare(n.ID[:], id[:])
				})
				if !found {
					return ErrStream
				}
				nack := &g.PEL[i]
				ms, seq := idOf(id)
				c.buf = appendHead(c.buf, 12, "XCLAIM", key)
				c.buf = appendBulk(c.buf, g.Name)
				c.buf = appendBulk(c.buf, cons.Name)
				c.buf = append(c.buf, "$1\r\n0\r\n"...)
				c.buf = appendBulkID(c.buf, ms, seq)
				c.buf = append(c.buf, "$4\r\nTIME\r\n"...)
				c.buf = appendBulkInt(c.buf, nack.DeliveryTime)
				c.buf = append(c.buf, "$10\r\nRETRYCOUNT\r\n"...)
				c.buf = appendBulkInt(c.buf, int64(nack.DeliveryCount))
				c.buf = append(c.buf, "$6\r\nJUSTID\r\n$5\r\nFORCE\r\n"...)
				if err := c.maybeFlush(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

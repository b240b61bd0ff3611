package shard

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Stream commands without consumer groups: XADD, XRANGE, XREVRANGE, XLEN,
// XDEL, XTRIM, XSETID, XREAD (without blocking) and XINFO.

func init() {
	stream := func(name string, arity int, flags Flag, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "stream", Since: "5.0.0", Summary: summary, Complexity: complexity, Syntax: syntax}, Run: run}
	}
	const rangeCost = "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."
	register(
		stream("xadd", -5, Write|DenyOOM|Fast, "Appends a new entry to a stream",
			"O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
			"key [NOMKSTREAM] [<MAXLEN|MINID> [=|~] threshold [LIMIT count]] <*|id> field value [field value ...]",
			cmdXAdd),
		stream("xrange", -4, ReadOnly, "Return a range of elements in a stream, with IDs matching the specified IDs interval",
			rangeCost, "key start end [COUNT count]", func(c *Ctx) { cmdXRange(c, false) }),
		stream("xrevrange", -4, ReadOnly,
			"Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
			"O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
			"key end start [COUNT count]", func(c *Ctx) { cmdXRange(c, true) }),
		stream("xlen", 2, ReadOnly|Fast, "Return the number of entries in a stream", "O(1)", "key", cmdXLen),
		stream("xdel", -3, Write|Fast,
			"Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.",
			"O(1) for each single item to delete in the stream, regardless of the stream size.", "key id [id ...]", cmdXDel),
		stream("xtrim", -4, Write, "Trims the stream to (approximately if '~' is passed) a certain size",
			"O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
			"key <<MAXLEN|MINID> [=|~] threshold [LIMIT count]>", cmdXTrim),
		stream("xsetid", -3, Write|DenyOOM|Fast, "An internal command for replicating stream values", "O(1)",
			"key last-id [ENTRIESADDED entries_added] [MAXDELETEDID max_deleted_entry_id]", cmdXSetID),
		&Command{Spec: Spec{Name: "xread", Arity: -4, Flags: ReadOnly | Blocking,
			Group: "stream", Since: "5.0.0",
			Summary:    "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
			Complexity: "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.",
			Syntax:     "[COUNT count] [BLOCK milliseconds] <STREAMS key [key ...] id [id ...]>"},
			Run: func(c *Ctx) { xread(c, false) }, Keys: xreadKeys, NewWaiter: newXReadWaiter},
		&Command{Spec: Spec{Name: "xinfo", Arity: -2, Group: "stream", Since: "5.0.0",
			Summary: "A container for stream introspection commands", Complexity: "Depends on subcommand.",
			Subcommands: xinfoSpecs()}, Run: cmdXInfo, Keys: xinfoKeys},
	)
}

// Error replies of the stream commands.
const (
	ErrStreamID        = "ERR Invalid stream ID specified as stream command argument"
	ErrXAddSmaller     = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
	ErrXAddZero        = "ERR The ID specified in XADD must be greater than 0-0"
	ErrXAddExhausted   = "ERR The stream has exhausted the last possible ID, unable to add more items"
	ErrXAddTooLarge    = "ERR Elements are too large to be stored"
	errXTrimBoth       = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
	errXMaxLenNeg      = "ERR The MAXLEN argument must be >= 0."
	errXLimitNeg       = "ERR The LIMIT argument must be >= 0."
	errXLimitNoTrim    = "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
	errXTrimNoStrategy = "ERR syntax error, XTRIM must be called with a trimming strategy"
	errXLimitNoApprox  = "ERR syntax error, LIMIT cannot be used without the special ~ option"
	errXRangeStart     = "ERR invalid start ID for the interval"
	errXRangeEnd       = "ERR invalid end ID for the interval"
	errXReadUnbalanced = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
	errXReadGroupOpt   = "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
	errXReadNoAck      = "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
	errXReadGT         = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
	errXSetIDAdded     = "ERR entries_added must be positive"
	errXSetIDMaxDel    = "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
	errXSetIDSmaller   = "ERR The ID specified in XSETID is smaller than the target stream top item"
	errXSetIDLength    = "ERR The entries_added specified in XSETID is smaller than the target stream length"
	errTimeoutInt      = "ERR timeout is not an integer or out of range"
	errTimeoutNeg      = "ERR timeout is negative"
)

// streamLimits holds stream-node-max-bytes and stream-node-max-entries,
// each plus one so that zero means "not set: Redis's default".
type streamLimits struct{ bytes, entries atomic.Int64 }

// SetStreamLimits sets stream-node-max-bytes and stream-node-max-entries
// for the shard; safe from any goroutine.
func (s *Shard) SetStreamLimits(maxBytes, maxEntries int64) {
	s.streamLim.bytes.Store(limitPlusOne(maxBytes))
	s.streamLim.entries.Store(limitPlusOne(maxEntries))
}

func (db *DB) streamLimits() StreamLimits {
	l := DefaultStreamLimits
	if db.sh == nil {
		return l
	}
	if b := db.sh.streamLim.bytes.Load(); b > 0 {
		l.MaxBytes = b - 1
	}
	if e := db.sh.streamLim.entries.Load(); e > 0 {
		l.MaxEntries = e - 1
	}
	return l
}

// parseStreamID parses ms-seq, ms (seq = missingSeq), "-" and "+" (unless
// strict) and, when seqStar, ms-* (seqGiven false). It replies the error.
func (c *Ctx) parseStreamID(arg []byte, missingSeq uint64, strict, seqStar bool) (id StreamID, seqGiven, ok bool) {
	id, seqGiven, ok = parseStreamID(arg, missingSeq, strict, seqStar)
	if !ok {
		c.Error(ErrStreamID)
	}
	return id, seqGiven, ok
}

func parseStreamID(arg []byte, missingSeq uint64, strict, seqStar bool) (id StreamID, seqGiven, ok bool) {
	if len(arg) > 127 {
		return id, false, false
	}
	if len(arg) == 1 && (arg[0] == '-' || arg[0] == '+') {
		if strict {
			return id, false, false
		}
		if arg[0] == '-' {
			return StreamID{}, true, true
		}
		return maxStreamID, true, true
	}
	// Redis cuts the string at a NUL byte.
	for i, ch := range arg {
		if ch == 0 {
			arg = arg[:i]
			break
		}
	}
	msPart, seqPart, dash := arg, []byte(nil), false
	for i, ch := range arg {
		if ch == '-' {
			msPart, seqPart, dash = arg[:i], arg[i+1:], true
			break
		}
	}
	ms, ok := parseStreamUint(msPart)
	if !ok {
		return id, false, false
	}
	id.Ms, seqGiven = ms, true
	switch {
	case !dash:
		id.Seq = missingSeq
	case seqStar && len(seqPart) == 1 && seqPart[0] == '*':
		seqGiven = false
	default:
		if id.Seq, ok = parseStreamUint(seqPart); !ok {
			return id, false, false
		}
	}
	return id, seqGiven, true
}

// parseStreamUint reads an unsigned number as Redis's string2ull does: a
// canonical integer that is not negative, or what strtoull accepts
// (leading spaces, a sign, leading zeros; "-n" wraps around).
func parseStreamUint(b []byte) (uint64, bool) {
	if n, ok := wire.ParseInt(b); ok && canonicalInt(b) {
		return uint64(n), n >= 0
	}
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	if i == len(b) {
		return 0, false
	}
	var v uint64
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			return 0, false
		}
		if v > (^uint64(0)-uint64(d))/10 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	if neg {
		v = -v
	}
	return v, true
}

// canonicalInt reports whether b is written as Redis's string2ll wants:
// no sign but a leading '-', no leading zeros.
func canonicalInt(b []byte) bool {
	if len(b) == 0 || b[0] == '+' {
		return false
	}
	d := b
	if d[0] == '-' {
		d = d[1:]
	}
	return len(d) > 0 && (d[0] != '0' || len(b) == 1)
}

// appendStreamID appends id as a bulk string.
func (c *Ctx) streamID(id StreamID) {
	var buf [48]byte
	c.Out = wire.AppendBulk(c.Out, id.Append(buf[:0]))
}

// entry replies one entry: [id, [field, value, ...]].
func (c *Ctx) streamEntry(e *streamEntry) {
	c.Array(2)
	c.streamID(e.ID)
	c.Array(2 * e.n)
	e.Fields(func(f, v []byte) {
		c.Bulk(f)
		c.Bulk(v)
	})
}

// streamAt returns the stream at key; ok is false after a WRONGTYPE reply.
func (c *Ctx) streamAt(key []byte) (s *Stream, found, ok bool) {
	return valueAt[*Stream](c, key)
}

// trimOpts is what XADD and XTRIM parse.
type trimOpts struct {
	TrimArgs
	strategy   bool // MAXLEN or MINID given
	noMkStream bool
	idGiven    bool
	seqGiven   bool
	id         StreamID
	trimIdx    int // the argument of MAXLEN or MINID (journal_forms.go)
}

// parseAddOrTrim parses the options of XADD (xadd) or XTRIM from
// argument 2 on. For XADD it returns the position of the ID; -1 after an
// error reply.
func (c *Ctx) parseAddOrTrim(xadd bool) (trimOpts, int) {
	var o trimOpts
	limitGiven := false
	i := 2
	for ; i < len(c.Args); i++ {
		more := len(c.Args) - 1 - i
		a := c.Args[i]
		switch {
		case xadd && len(a) == 1 && a[0] == '*':
			goto done
		case (equalFold(a, "maxlen") || equalFold(a, "minid")) && more > 0:
			if o.strategy {
				c.Error(errXTrimBoth)
				return o, -1
			}
			byID := a[1] == 'i' || a[1] == 'I'
			o.Approx = false
			next := c.Args[i+1]
			if more >= 2 && len(next) == 1 && (next[0] == '~' || next[0] == '=') {
				o.Approx = next[0] == '~'
				i++
			}
			o.trimIdx = i + 1
			if byID {
				id, _, ok := c.parseStreamID(c.Args[i+1], 0, true, false)
				if !ok {
					return o, -1
				}
				o.MinID = id
			} else {
				n, ok := wire.ParseInt(c.Args[i+1])
				if !ok {
					c.Error(ErrNotInt)
					return o, -1
				}
				if n < 0 {
					c.Error(errXMaxLenNeg)
					return o, -1
				}
				o.MaxLen = n
			}
			o.ByID, o.strategy = byID, true
			i++
		case equalFold(a, "limit") && more > 0:
			n, ok := wire.ParseInt(c.Args[i+1])
			if !ok {
				c.Error(ErrNotInt)
				return o, -1
			}
			if n < 0 {
				c.Error(errXLimitNeg)
				return o, -1
			}
			o.Limit, limitGiven = n, true
			i++
		case xadd && equalFold(a, "nomkstream"):
			o.noMkStream = true
		case xadd:
			id, seqGiven, ok := c.parseStreamID(a, 0, true, true)
			if !ok {
				return o, -1
			}
			o.id, o.idGiven, o.seqGiven = id, true, seqGiven
			goto done
		default:
			c.Error(ErrSyntax)
			return o, -1
		}
	}
done:
	if o.Limit != 0 && !o.strategy {
		c.Error(errXLimitNoTrim)
		return o, -1
	}
	if !xadd && !o.strategy {
		c.Error(errXTrimNoStrategy)
		return o, -1
	}
	if limitGiven {
		if !o.Approx && !c.applyingStream() {
			// The journal's exact form of an approximate trim keeps its
			// LIMIT: the AOF and a master's stream may use it, as Redis
			// lets its AOF and master clients.
			c.Error(errXLimitNoApprox)
			return o, -1
		}
	} else if o.Approx {
		l := c.db(c.Args[1]).streamLimits()
		o.Limit = 100 * l.MaxEntries
		if o.Limit <= 0 {
			o.Limit = 10000
		}
		if o.Limit > 1000000 {
			o.Limit = 1000000
		}
	} else {
		o.Limit = 0
	}
	return o, i
}

func cmdXAdd(c *Ctx) {
	o, idPos := c.parseAddOrTrim(true)
	if idPos < 0 {
		return
	}
	fields := len(c.Args) - idPos - 1
	if fields < 2 || fields%2 == 1 {
		c.ArityError()
		return
	}
	if o.idGiven && o.seqGiven && o.id.IsZero() {
		c.Error(ErrXAddZero)
		return
	}
	key := c.Args[1]
	s, found, ok := c.streamAt(key)
	if !ok {
		return
	}
	if !found {
		if o.noMkStream {
			c.Null()
			return
		}
		s = &Stream{born: c.stamp}
		c.store(key, s, false)
	}
	if s.lastID == maxStreamID {
		c.Error(ErrXAddExhausted)
		return
	}
	var id StreamID
	switch {
	case !o.idGiven:
		id, _ = s.NextAutoID(uint64(c.Now))
	case o.seqGiven:
		id = o.id
	case s.lastID.Ms == o.id.Ms:
		if s.lastID.Seq == ^uint64(0) {
			// Redis fails here without saying why, and replies its
			// other error.
			c.Error(ErrXAddTooLarge)
			return
		}
		id = StreamID{o.id.Ms, s.lastID.Seq + 1}
	default:
		id = StreamID{o.id.Ms, 0}
	}
	if id.Cmp(s.lastID) <= 0 {
		c.Error(ErrXAddSmaller)
		return
	}
	fv := c.Args[idPos+1:]
	total := 0
	for _, x := range fv {
		total += len(x)
	}
	if total > lpMaxSize {
		c.Error(ErrXAddTooLarge)
		return
	}
	s.Add(id, fv, c.db(key).streamLimits())
	c.streamID(id)
	c.signal(key) // blocked XREAD and XREADGROUP clients
	if o.strategy && s.Trim(o.TrimArgs) > 0 {
		c.changed = true // notify.go: XADD also says "xtrim"
	}
	c.propagateXAdd(s, &o, idPos, id)
}

func cmdXRange(c *Ctx, rev bool) {
	startArg, endArg := c.Args[2], c.Args[3]
	if rev {
		startArg, endArg = endArg, startArg
	}
	start, ok := c.rangeID(startArg, 0)
	if !ok {
		return
	}
	if startArg[0] == '(' && len(startArg) > 1 {
		if start, ok = start.Next(); !ok {
			c.Error(errXRangeStart)
			return
		}
	}
	end, ok := c.rangeID(endArg, ^uint64(0))
	if !ok {
		return
	}
	if endArg[0] == '(' && len(endArg) > 1 {
		if end, ok = end.Prev(); !ok {
			c.Error(errXRangeEnd)
			return
		}
	}
	count := int64(-1)
	for j := 4; j < len(c.Args); j++ {
		if equalFold(c.Args[j], "count") && j+1 < len(c.Args) {
			n, ok := wire.ParseInt(c.Args[j+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			count = max(n, 0)
			j++
			continue
		}
		c.Error(ErrSyntax)
		return
	}
	s, found, ok := c.streamAt(c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Array(0)
		return
	}
	if count == 0 {
		c.NullArray()
		return
	}
	c.streamRange(s, start, end, rev, count)
}

// streamRange replies the entries of s in [start, end], at most count
// (count < 0: all).
func (c *Ctx) streamRange(s *Stream, start, end StreamID, rev bool, count int64) {
	n := int64(0)
	if count < 0 || count > s.length {
		count = s.length
	}
	// Count first, so the header is exact without moving the reply.
	n = int64(s.Range(start, end, rev, int(min(count, 1<<62)), func(*streamEntry) bool { return true }))
	if count == 0 {
		n = 0
	}
	c.Array(int(n))
	if n > 0 {
		s.Range(start, end, rev, int(n), func(e *streamEntry) bool {
			c.streamEntry(e)
			return true
		})
	}
}

// rangeID parses an XRANGE bound: "(" makes it exclusive (and strict).
func (c *Ctx) rangeID(arg []byte, missingSeq uint64) (StreamID, bool) {
	if len(arg) > 1 && arg[0] == '(' {
		id, _, ok := c.parseStreamID(arg[1:], missingSeq, true, false)
		return id, ok
	}
	id, _, ok := c.parseStreamID(arg, missingSeq, false, false)
	return id, ok
}

// streamOrZero returns the stream at key for a command that answers 0
// when there is none; ok is false when it has replied (0 or WRONGTYPE).
func (c *Ctx) streamOrZero(key []byte) (*Stream, bool) {
	s, found, ok := c.streamAt(key)
	if ok && !found {
		c.Int(0)
		return nil, false
	}
	return s, ok
}

func cmdXLen(c *Ctx) {
	s, ok := c.streamOrZero(c.Args[1])
	if !ok {
		return
	}
	c.Int(s.length)
}

// parseStreamIDs parses the exact IDs of XDEL and XACK, all of them
// before the command changes anything, appending to ids; on a bad one it
// has replied and reports false.
func (c *Ctx) parseStreamIDs(args [][]byte, ids []StreamID) ([]StreamID, bool) {
	for _, a := range args {
		id, _, ok := c.parseStreamID(a, 0, true, false)
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

func cmdXDel(c *Ctx) {
	s, ok := c.streamOrZero(c.Args[1])
	if !ok {
		return
	}
	var small [16]StreamID
	ids, ok := c.parseStreamIDs(c.Args[2:], small[:0])
	if !ok {
		return
	}
	deleted, first := int64(0), false
	for _, id := range ids {
		if s.Delete(id) {
			if id == s.firstID {
				first = true
			}
			if s.maxDeleted.Less(id) {
				s.maxDeleted = id
			}
			deleted++
		}
	}
	if deleted > 0 {
		if s.length == 0 {
			s.firstID = StreamID{}
		} else if first {
			s.firstID, _ = s.First()
		}
	}
	c.Int(deleted)
}

func cmdXTrim(c *Ctx) {
	o, i := c.parseAddOrTrim(false)
	if i < 0 {
		return
	}
	s, ok := c.streamOrZero(c.Args[1])
	if !ok {
		return
	}
	n := s.Trim(o.TrimArgs)
	c.Int(n)
	if n > 0 {
		c.propagateXTrim(s, &o)
	}
}

func cmdXSetID(c *Ctx) {
	id, _, ok := c.parseStreamID(c.Args[2], 0, true, false)
	if !ok {
		return
	}
	var maxDel StreamID
	added := int64(-1)
	for i := 3; i < len(c.Args); i += 2 {
		a := c.Args[i]
		more := i+1 < len(c.Args)
		switch {
		case equalFold(a, "entriesadded") && more:
			n, ok := wire.ParseInt(c.Args[i+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			if n < 0 {
				c.Error(errXSetIDAdded)
				return
			}
			added = n
		case equalFold(a, "maxdeletedid") && more:
			m, _, ok := c.parseStreamID(c.Args[i+1], 0, true, false)
			if !ok {
				return
			}
			if id.Less(m) {
				c.Error(errXSetIDMaxDel)
				return
			}
			maxDel = m
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	s, found, ok := c.streamAt(c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Error(ErrNoSuchKey)
		return
	}
	if s.length > 0 {
		last, _ := s.Last()
		if id.Less(last) {
			c.Error(errXSetIDSmaller)
			return
		}
		if added != -1 && s.length > added {
			c.Error(errXSetIDLength)
			return
		}
	}
	s.lastID = id
	if added != -1 {
		s.entriesAdded = added
	}
	if !maxDel.IsZero() {
		s.maxDeleted = maxDel
	}
	c.OK()
}

// xreadStreams finds the STREAMS keyword of XREAD or XREADGROUP and
// returns where the keys start and how many there are; n < 0 when there
// is no STREAMS or the list is unbalanced.
func xreadStreams(args [][]byte) (at, n int) {
	for i := 1; i < len(args); i++ {
		more := len(args) - i - 1
		a := args[i]
		switch {
		case (equalFold(a, "block") || equalFold(a, "count")) && more > 0:
			i++
		case equalFold(a, "group") && more >= 2:
			i += 2
		case equalFold(a, "noack"):
		case equalFold(a, "streams") && more > 0:
			if more%2 != 0 {
				return 0, -1
			}
			return i + 1, more / 2
		default:
			return 0, -1
		}
	}
	return 0, -1
}

// xreadKeys finds XREAD's keys: the first half of what follows STREAMS.
func xreadKeys(args [][]byte, dst []int) []int {
	at, n := xreadStreams(args)
	if n < 0 {
		// What Redis's key spec finds: half of what follows the first
		// STREAMS (COMMAND GETKEYS; the command itself will fail).
		for i := 1; i < len(args); i++ {
			if equalFold(args[i], "streams") {
				at, n = i+1, (len(args)-i-1)/2
				break
			}
		}
	}
	for i := 0; i < n; i++ {
		dst = append(dst, at+i)
	}
	return dst
}

// XINFO.

func xinfoSpecs() []*Spec {
	keyed := func(name string, arity int, summary, syntax string) *Spec {
		return &Spec{Name: "xinfo|" + name, Arity: arity, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1,
			Group: "stream", Since: "5.0.0", Summary: summary, Complexity: "O(1)", Syntax: syntax}
	}
	return []*Spec{
		keyed("consumers", 4, "List the consumers in a consumer group", "key groupname"),
		keyed("groups", 3, "List the consumer groups of a stream", "key"),
		{Name: "xinfo|help", Arity: 2, Flags: Loading | Stale, Group: "stream", Since: "5.0.0",
			Summary: "Show helpful text about the different subcommands", Complexity: "O(1)"},
		keyed("stream", -3, "Get information about a stream", "key [FULL [COUNT count]]"),
	}
}

func xinfoKeys(args [][]byte, dst []int) []int {
	if len(args) >= 3 && !equalFold(args[1], "help") {
		dst = append(dst, 2)
	}
	return dst
}

var xinfoHelp = []string{
	"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"CONSUMERS <key> <groupname>",
	"    Show consumers of <groupname>.",
	"GROUPS <key>",
	"    Show the stream consumer groups.",
	"STREAM <key> [FULL [COUNT <count>]",
	"    Show information about the stream.",
	"HELP",
	"    Prints this help.",
}

func cmdXInfo(c *Ctx) {
	sub := c.Args[1]
	var name string
	for _, n := range [...]string{"consumers", "groups", "stream", "help"} {
		if equalFold(sub, n) {
			name = n
		}
	}
	if name == "" {
		c.Error("ERR unknown subcommand '" + truncate(argText(sub), 128) + "'. Try XINFO HELP.")
		return
	}
	arity := map[string]int{"consumers": 4, "groups": 3, "stream": -3, "help": 2}[name]
	if arity > 0 && len(c.Args) != arity || arity < 0 && len(c.Args) < -arity {
		c.Error(ErrArity("xinfo|" + name))
		return
	}
	if name == "help" {
		c.Array(len(xinfoHelp))
		for _, l := range xinfoHelp {
			c.Simple(l)
		}
		return
	}
	key := c.Args[2]
	s, found, ok := c.streamAt(key)
	if !ok {
		return
	}
	if !found {
		c.Error(ErrNoSuchKey)
		return
	}
	switch name {
	case "consumers":
		c.xinfoConsumers(s, key, c.Args[3])
	case "groups":
		c.xinfoGroups(s)
	case "stream":
		c.xinfoStream(s)
	}
}

func (c *Ctx) xinfoStream(s *Stream) {
	full, count := false, int64(10)
	opts := c.Args[3:]
	if len(opts) > 0 {
		if len(opts) != 1 && len(opts) != 3 || !equalFold(opts[0], "full") ||
			len(opts) == 3 && !equalFold(opts[1], "count") {
			c.Error("ERR unknown subcommand or wrong number of arguments for '" + truncate(argText(c.Args[1]), 128) + "'. Try XINFO HELP.")
			return
		}
		full = true
		if len(opts) == 3 {
			n, ok := wire.ParseInt(opts[2])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			if n < 0 {
				n = 10
			}
			count = n
		}
	}
	if full {
		c.Map(9)
	} else {
		c.Map(10)
	}
	c.BulkString("length")
	c.Int(s.length)
	c.BulkString("radix-tree-keys")
	c.Int(int64(len(s.blocks)))
	c.BulkString("radix-tree-nodes")
	c.Int(s.raxNodes())
	c.BulkString("last-generated-id")
	c.streamID(s.lastID)
	c.BulkString("max-deleted-entry-id")
	c.streamID(s.maxDeleted)
	c.BulkString("entries-added")
	c.Int(s.entriesAdded)
	c.BulkString("recorded-first-entry-id")
	c.streamID(s.firstID)
	if !full {
		c.BulkString("groups")
		c.Int(int64(len(s.groups)))
		for _, rev := range []bool{false, true} {
			if rev {
				c.BulkString("last-entry")
			} else {
				c.BulkString("first-entry")
			}
			if s.Range(StreamID{}, maxStreamID, rev, 1, func(e *streamEntry) bool {
				c.streamEntry(e)
				return false
			}) == 0 {
				c.Null()
			}
		}
		return
	}
	c.BulkString("entries")
	cnt := int64(-1)
	if count > 0 {
		cnt = count
	}
	c.streamRange(s, StreamID{}, maxStreamID, false, cnt)
	c.BulkString("groups")
	c.xinfoFullGroups(s, count)
}

// raxNodes is the node count of the radix tree Redis would hold for this
// stream's blocks: keyed by each block's first ID as 16 big-endian bytes,
// with runs of single-child bytes compressed into one node and one node
// per key at the end. An empty tree is its root.
func (s *Stream) raxNodes() int64 {
	if len(s.blocks) == 0 {
		return 1
	}
	keys := make([][16]byte, len(s.blocks))
	for i, b := range s.blocks {
		binary.BigEndian.PutUint64(keys[i][:8], b.first.Ms)
		binary.BigEndian.PutUint64(keys[i][8:], b.first.Seq)
	}
	return raxCount(keys, 0)
}

// raxCount counts the nodes below depth d of sorted, distinct keys that
// share their first d bytes.
func raxCount(keys [][16]byte, d int) int64 {
	if d == 16 {
		return 1
	}
	first, last := &keys[0], &keys[len(keys)-1]
	lcp := 0
	for d+lcp < 16 && first[d+lcp] == last[d+lcp] {
		lcp++
	}
	if lcp > 0 {
		return 1 + raxCount(keys, d+lcp)
	}
	n := int64(1)
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j][d] == keys[i][d] {
			j++
		}
		n += raxCount(keys[i:j], d+1)
		i = j
	}
	return n
}

package shard

import "strconv"

// The deterministic forms of writes whose call would not repeat the same
// change (journal.go): what a replica or the AOF must run instead. Each is
// built only while the journal records.

var (
	setName       = []byte("SET")
	pxatName      = []byte("PXAT")
	keepTTLName   = []byte("KEEPTTL")
	pexpireatName = []byte("PEXPIREAT")
	persistName   = []byte("PERSIST")
	hsetName      = []byte("HSET")
	sremName      = []byte("SREM")
	absTTLName    = []byte("ABSTTL")
)

func msArg(ms int64) []byte { return strconv.AppendInt(nil, ms, 10) }

// propagateDel records DEL key: a write that removed the key outright.
func (c *Ctx) propagateDel(key []byte) { c.propagate(delName, key) }

var unlinkName = []byte("UNLINK")

// propagateUserDel records a deletion a user asked for (GETDEL): UNLINK
// while lazyfree-lazy-user-del is on, DEL otherwise, as Redis.
func (c *Ctx) propagateUserDel(key []byte) {
	if !c.journaling() {
		return
	}
	if db := c.db(key); db.sh != nil && db.sh.lazy != nil && db.sh.lazy.UserDel.Load() {
		c.propagate(unlinkName, key)
		return
	}
	c.propagateDel(key)
}

// propagateExpireAt records the TTL a command set, or DEL if it was in
// the past and the key went.
func (c *Ctx) propagateExpireAt(key []byte, at int64) {
	if !c.journaling() {
		return
	}
	if c.pastExpiry(at) {
		c.propagateDel(key)
		return
	}
	c.propagate(pexpireatName, key, msArg(at))
}

// propagateExpire records what EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT
// did: PEXPIREAT key ms with the call's NX/XX/GT/LT kept, as Redis
// rewrites only the name and the time; DEL if the time has passed.
func (c *Ctx) propagateExpire(key []byte, at int64) {
	if !c.journaling() {
		return
	}
	if at <= c.Now {
		c.propagateDel(key)
		return
	}
	args := make([][]byte, 0, len(c.Args))
	args = append(args, pexpireatName, key, msArg(at))
	c.propagate(append(args, c.Args[3:]...)...)
}

// propagateSet records SET key value, with its absolute expiry (PXAT) when
// it has one: SET with EX or PX, SETEX and PSETEX. GET is left out.
func (c *Ctx) propagateSet(key, value []byte, at int64) {
	if !c.journaling() {
		return
	}
	if at != 0 {
		if c.pastExpiry(at) {
			c.propagateDel(key)
			return
		}
		c.propagate(setName, key, value, pxatName, msArg(at))
		return
	}
	args := [][]byte{setName}
	for _, a := range c.Args[1:] {
		if !equalFold(a, "get") || len(args) < 3 {
			args = append(args, a)
		}
	}
	c.propagate(args...)
}

// pastExpiry reports whether an expiry time at has passed, so that the
// command deletes the key: never while the shard keeps expired keys (an
// AOF load, a replica applying its master's stream).
func (c *Ctx) pastExpiry(at int64) bool {
	return at <= c.Now && !c.applyingStream()
}

var (
	lpopName      = []byte("LPOP")
	rpopName      = []byte("RPOP")
	lmoveName     = []byte("LMOVE")
	rpoplpushName = []byte("RPOPLPUSH")
	leftName      = []byte("left") // as Redis's shared.left spells it
	rightName     = []byte("right")
	zpopminName   = []byte("ZPOPMIN")
	zpopmaxName   = []byte("ZPOPMAX")
)

// propagateListPop records what a pop that chose its key (BLPOP, BRPOP,
// LMPOP, BLMPOP) did: LPOP or RPOP key, with the number of elements it
// took when the command was an *MPOP form (n >= 0).
func (c *Ctx) propagateListPop(key []byte, left bool, n int) {
	if left {
		c.propagatePop(lpopName, key, n)
	} else {
		c.propagatePop(rpopName, key, n)
	}
}

// propagateZPop records ZPOPMIN or ZPOPMAX key, with the number of
// members taken for the *MPOP forms (n >= 0).
func (c *Ctx) propagateZPop(key []byte, max bool, n int) {
	if max {
		c.propagatePop(zpopmaxName, key, n)
	} else {
		c.propagatePop(zpopminName, key, n)
	}
}

// propagatePop records name key, and the count when n >= 0.
func (c *Ctx) propagatePop(name, key []byte, n int) {
	switch {
	case !c.journaling():
	case n < 0:
		c.propagate(name, key)
	default:
		c.propagate(name, key, msArg(int64(n)))
	}
}

func sideName(left bool) []byte {
	if left {
		return leftName
	}
	return rightName
}

// propagateMove records a blocking move as LMOVE or, for BRPOPLPUSH,
// RPOPLPUSH. asGiven keeps the directions as the client wrote them (a
// move done at once, as Redis rewrites its call); a waiter served later
// gets them spelled left or right.
func (c *Ctx) propagateMove(src, dst []byte, srcLeft, dstLeft, rpoplpush, asGiven bool) {
	if !c.journaling() {
		return
	}
	if rpoplpush {
		c.propagate(rpoplpushName, src, dst)
		return
	}
	from, to := sideName(srcLeft), sideName(dstLeft)
	if asGiven && len(c.Args) == 6 {
		from, to = c.Args[3], c.Args[4]
	}
	c.propagate(lmoveName, src, dst, from, to)
}

var (
	exactName          = []byte("=")
	xclaimName         = []byte("XCLAIM")
	xgroupName         = []byte("XGROUP")
	setidName          = []byte("SETID")
	createconsumerName = []byte("CREATECONSUMER")
	entriesreadName    = []byte("ENTRIESREAD")
	timeName           = []byte("TIME")
	retrycountName     = []byte("RETRYCOUNT")
	forceName          = []byte("FORCE")
	justidName         = []byte("JUSTID")
	lastidName         = []byte("LASTID")
	zeroArg            = []byte("0")
)

// propagateXAdd records XADD with the ID it generated in place of "*" or
// "ms-*", and an approximate trim ("~") made exact: "=" and the length
// the stream was left with (MAXLEN) or its first ID (MINID), so the
// replica trims what this trim removed.
func (c *Ctx) propagateXAdd(s *Stream, o *trimOpts, idPos int, id StreamID) {
	if !c.journaling() || (o.idGiven && o.seqGiven && !(o.strategy && o.Approx)) {
		return // as called
	}
	args := append([][]byte(nil), c.Args...)
	if !o.idGiven || !o.seqGiven {
		args[idPos] = id.Append(nil)
	}
	if o.strategy && o.Approx {
		c.exactTrim(args, s, o)
	}
	c.propagate(args...)
}

// propagateXTrim records XTRIM with an approximate trim made exact (see
// propagateXAdd); an exact one is recorded as called.
func (c *Ctx) propagateXTrim(s *Stream, o *trimOpts) {
	if !c.journaling() || !o.Approx {
		return
	}
	args := append([][]byte(nil), c.Args...)
	c.exactTrim(args, s, o)
	c.propagate(args...)
}

func (c *Ctx) exactTrim(args [][]byte, s *Stream, o *trimOpts) {
	args[o.trimIdx-1] = exactName
	if o.ByID {
		first, ok := s.First()
		if !ok {
			first = maxStreamID
		}
		args[o.trimIdx] = first.Append(nil)
	} else {
		args[o.trimIdx] = msArg(s.length)
	}
}

// propagateXClaim records the state of a pending entry, as Redis records
// what XREADGROUP, XCLAIM and XAUTOCLAIM did to a group's pending list:
// XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID
// last, which sets it whatever the replica's list holds. id is the ID as
// the command gave it, nil to spell it from idv.
func (c *Ctx) propagateXClaim(key, group []byte, g *streamGroup, nack *streamNACK, id []byte, idv StreamID) {
	if !c.journaling() || nack.consumer == nil {
		return
	}
	if id == nil {
		id = idv.Append(nil)
	}
	c.propagate(xclaimName, key, group, []byte(nack.consumer.name), zeroArg, id,
		timeName, msArg(nack.deliveryTime), retrycountName, msArg(nack.deliveryCount),
		forceName, justidName, lastidName, g.lastID.Append(nil))
}

// propagateGroupID records XGROUP SETID key group last ENTRIESREAD n: a
// group's last delivered ID that no XCLAIM carried.
func (c *Ctx) propagateGroupID(key, group []byte, g *streamGroup) {
	if !c.journaling() {
		return
	}
	c.propagate(xgroupName, setidName, key, group, g.lastID.Append(nil), entriesreadName, msArg(g.entriesRead))
}

// propagateConsumer records XGROUP CREATECONSUMER key group consumer: a
// consumer that XREADGROUP NOACK made, which no XCLAIM makes.
func (c *Ctx) propagateConsumer(key, group, consumer []byte) {
	if !c.journaling() {
		return
	}
	c.propagate(xgroupName, createconsumerName, key, group, consumer)
}

// applyingStream reports whether the command comes from the AOF being
// loaded or from a master's stream (Across.KeepExpired).
func (c *Ctx) applyingStream() bool {
	s := c.anyShard()
	return s != nil && s.keepExpired
}

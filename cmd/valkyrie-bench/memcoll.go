package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"
)

// collBatch is how many members one HSET/SADD/ZADD adds.
const collBatch = 100

// collType is one type of the collection memory mode: all members go into
// one key, collBatch per command.
type collType struct {
	name      string // as given to -mem-collections
	key       string
	add, card string // the commands that add members and count them
	perMember int    // arguments per member
	// appendMember appends member i's arguments as bulk strings.
	appendMember func(b []byte, i int) []byte
	pattern      string // what one command looks like, for the report
}

// collTypes lists the types -mem-collections accepts.
var collTypes = []collType{
	{"hash", "h", "HSET", "HLEN", 2, appendHashMember, "HSET h field:%09d value:%09d ..."},
	{"set", "s", "SADD", "SCARD", 1, appendSetMember, "SADD s member:%012d ..."},
	{"zset", "z", "ZADD", "ZCARD", 2, appendZsetMember, "ZADD z <i> member:%012d ..."},
}

// lookupColl returns the type called name.
func lookupColl(name string) (collType, bool) {
	for _, t := range collTypes {
		if t.name == name {
			return t, true
		}
	}
	return collType{}, false
}

// appendHashMember appends field:%09d value:%09d; the 15-byte values are
// about the size of the string test's default 16.
func appendHashMember(b []byte, i int) []byte {
	b = appendPaddedBulk(b, "field:", i, 9)
	return appendPaddedBulk(b, "value:", i, 9)
}

// appendSetMember appends member:%012d (not an integer, so Redis can't use
// an intset).
func appendSetMember(b []byte, i int) []byte { return appendPaddedBulk(b, "member:", i, 12) }

// appendZsetMember appends score i and member:%012d.
func appendZsetMember(b []byte, i int) []byte {
	b = appendPaddedBulk(b, "", i, 0)
	return appendPaddedBulk(b, "member:", i, 12)
}

// appendAdd appends the command adding members [lo, hi) to t's key.
func (t collType) appendAdd(b []byte, lo, hi int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(2+t.perMember*(hi-lo)), 10)
	b = append(b, '\r', '\n')
	b = appendBulk(b, t.add)
	b = appendBulk(b, t.key)
	for i := lo; i < hi; i++ {
		b = t.appendMember(b, i)
	}
	return b
}

// collCommands returns how many commands add n members.
func collCommands(n int) int { return (n + collBatch - 1) / collBatch }

// collRange returns the members command c of n adds.
func collRange(c, n int) (lo, hi int) {
	lo = c * collBatch
	return lo, min(lo+collBatch, n)
}

// checkAdded checks that line is the integer reply want.
func checkAdded(line []byte, want int) error {
	n, ok := parseIntReply(line)
	if !ok {
		return fmt.Errorf("want an integer reply, got %q", line)
	}
	if n != int64(want) {
		return fmt.Errorf("added %d members, want %d", n, want)
	}
	return nil
}

// parseIntReply parses a RESP integer line such as ":100\r\n".
func parseIntReply(line []byte) (int64, bool) {
	if len(line) < 4 || line[0] != ':' || string(line[len(line)-2:]) != "\r\n" {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line[1:len(line)-2]), 10, 64)
	return n, err == nil
}

// loadCollection adds members [0, n) to t's key, collBatch per command,
// and checks every reply counts the members it added.
func loadCollection(ctx context.Context, s *server, t collType, n int) error {
	appendCmd := func(b []byte, c int) []byte {
		lo, hi := collRange(c, n)
		return t.appendAdd(b, lo, hi)
	}
	check := func(line []byte, c int) error {
		lo, hi := collRange(c, n)
		return checkAdded(line, hi-lo)
	}
	return pipeline(ctx, s, t.add, collCommands(n), appendCmd, check)
}

// memCollLoad measures loading n members of t into s, then asks s for
// their count.
func memCollLoad(ctx context.Context, s *server, t collType, n int, settle time.Duration) (memResult, error) {
	res, err := measure(ctx, s, settle, func() error { return loadCollection(ctx, s, t, n) })
	if err != nil {
		return res, err
	}
	if res.count, err = s.integer(ctx, t.card, t.key); err != nil {
		return res, fmt.Errorf("%s on %s: %w", t.card, s.name, err)
	}
	return res, nil
}

// collMemory loads each listed collection type into its own fresh pair of
// servers and prints memory per member.
func (b *bench) collMemory(ctx context.Context) error {
	c := b.cfg
	res := make([][2]memResult, len(c.memCollections)) // [0] valkyrie, [1] redis
	for k, name := range c.memCollections {
		t, _ := lookupColl(name) // checked by parseFlags
		v, r, err := b.startPair(ctx, "mem-"+t.name)
		if err != nil {
			return err
		}
		for i, s := range []*server{v, r} {
			fmt.Fprintf(os.Stderr, "loading %d %s members into %s ...\n", c.memMembers, t.name, s.name)
			if res[k][i], err = memCollLoad(ctx, s, t, c.memMembers, c.settle); err != nil {
				return err
			}
		}
		v.kill()
		r.kill()
	}
	return b.printCollMemory(res)
}

// printCollMemory prints the collection memory table.
func (b *bench) printCollMemory(res [][2]memResult) error {
	c := b.cfg
	n := c.memMembers
	fmt.Fprintf(b.out, "\ncollection memory: one key of %d members per type, %d members per command, "+
		"fresh servers per type, VmRSS growth\n", n, collBatch)
	for _, name := range c.memCollections {
		t, _ := lookupColl(name)
		fmt.Fprintf(b.out, "  %-5s %s\n", t.name+":", t.pattern)
	}
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "type\tserver\tRSS before MiB\tRSS after MiB\tRSS bytes/member\t"+
		"INFO used_memory after MiB\tINFO used_memory bytes/member\tcardinality\t")
	for k, name := range c.memCollections {
		t, _ := lookupColl(name)
		for i, who := range []string{"valkyrie", "redis"} {
			m := res[k][i]
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s %d\t\n", t.name, who,
				float64(m.before)/(1<<20), float64(m.after)/(1<<20), m.perKey(n),
				float64(m.usedAfter)/(1<<20), m.usedPerKey(n), t.card, m.count)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(b.out, "bytes/member ratio (valkyrie/redis):")
	for k, name := range c.memCollections {
		v, r := res[k][0], res[k][1]
		fmt.Fprintf(b.out, "  %-5s RSS %s, INFO used_memory %s\n", name+":",
			ratio(v.perKey(n), r.perKey(n)), ratio(v.usedPerKey(n), r.usedPerKey(n)))
	}
	fmt.Fprintln(b.out, "INFO used_memory is what each server reports: redis, the bytes its allocator "+
		"has handed out; valkyrie, the Go heap in use (HeapAlloc, which counts garbage not yet collected).")
	for k, name := range c.memCollections {
		t, _ := lookupColl(name)
		for i, who := range []string{"valkyrie", "redis"} {
			if got := res[k][i].count; got != int64(n) {
				fmt.Fprintf(b.out, "WARNING: %s %s %s = %d, want %d\n", who, t.card, t.key, got, n)
			}
		}
	}
	return nil
}

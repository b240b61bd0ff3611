package conn

import (
	"strings"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// subcommand is one row of a container command's table (CONFIG GET, CLIENT
// ID, ...). Its Spec name is "parent|sub" and its arity counts the parent.
type subcommand struct {
	shard.Spec
	run func(c *client, args [][]byte)
}

// subcommands is a container command's table, keyed by lower-case name.
type subcommands map[string]*subcommand

// newSubcommands builds the table and the Spec list COMMAND reports.
func newSubcommands(parent string, subs ...*subcommand) (subcommands, []*shard.Spec) {
	t := subcommands{}
	specs := make([]*shard.Spec, 0, len(subs))
	for _, s := range subs {
		s.Name = parent + "|" + strings.ToLower(s.Name)
		short := s.Name[len(parent)+1:]
		if _, dup := t[short]; dup {
			panic("conn: subcommand registered twice: " + s.Name)
		}
		t[short] = s
		specs = append(specs, &s.Spec)
	}
	return t, specs
}

// dispatch runs the subcommand named by args[1], replying with Redis's
// errors for an unknown subcommand or a wrong argument count.
func (t subcommands) dispatch(c *client, args [][]byte) {
	var buf [32]byte
	name := args[1]
	var sub *subcommand
	if len(name) <= len(buf) {
		for i, ch := range name {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			buf[i] = ch
		}
		sub = t[string(buf[:len(name)])]
	}
	if sub == nil {
		parent := strings.ToUpper(string(args[0]))
		c.replyError("ERR unknown subcommand '" + string(cString(name, 128)) + "'. Try " + parent + " HELP.")
		return
	}
	c.last = &sub.Spec
	if a := sub.Arity; !(a == len(args) || (a < 0 && len(args) >= -a)) {
		c.replyError(shard.ErrArity(sub.Name))
		return
	}
	sub.run(c, args)
}

// replyHelp sends a HELP reply: a header line, the lines, and the footer
// Redis appends to every HELP.
func (c *client) replyHelp(parent string, lines ...string) {
	c.replyArray(len(lines) + 3)
	c.replySimple(parent + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		c.replySimple(l)
	}
	c.replySimple("HELP")
	c.replySimple("    Prints this help.")
}

// subSpec returns the Spec of the container spec's subcommand named sub
// (any letter case), or nil.
func subSpec(spec *shard.Spec, sub []byte) *shard.Spec {
	for _, s := range spec.Subcommands {
		if equalFold(sub, s.Name[len(spec.Name)+1:]) {
			return s
		}
	}
	return nil
}

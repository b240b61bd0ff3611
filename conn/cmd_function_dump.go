package conn

import (
	"strings"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// FUNCTION DUMP and FUNCTION RESTORE; the payload is the script
// engine's (package conn/script).

var (
	functionDumpSpec = &subcommand{Spec: shard.Spec{Name: "dump", Arity: 2, Flags: shard.NoScript, Group: "scripting", Since: "7.0.0",
		Summary: "Dump all functions into a serialized binary payload", Complexity: "O(N) where N is the number of functions"},
		run: cmdFunctionDump}
	functionRestoreSpec = &subcommand{Spec: shard.Spec{Name: "restore", Arity: -3, Flags: shard.NoScript | shard.Write | shard.DenyOOM, Group: "scripting", Since: "7.0.0",
		Summary: "Restore all the functions on the given payload", Complexity: "O(N) where N is the number of functions on the payload",
		Syntax: "serialized-value [FLUSH|APPEND|REPLACE]"},
		run: cmdFunctionRestore}
)

func cmdFunctionDump(c *client, args [][]byte) {
	c.replyBulk(c.srv.scripts.DumpFunctions())
}

// functionSyntaxError is Redis's reply to a FUNCTION subcommand given
// more arguments than it takes but within its arity.
func functionSyntaxError(c *client, args [][]byte) {
	c.replyError("ERR unknown subcommand or wrong number of arguments for '" +
		string(cString(args[1], 128)) + "'. Try FUNCTION HELP.")
}

func cmdFunctionRestore(c *client, args [][]byte) {
	if len(args) > 4 {
		functionSyntaxError(c, args)
		return
	}
	policy := script.RestoreAppend
	if len(args) == 4 {
		switch p := string(args[3]); {
		case strings.EqualFold(p, "append"):
		case strings.EqualFold(p, "replace"):
			policy = script.RestoreReplace
		case strings.EqualFold(p, "flush"):
			policy = script.RestoreFlush
		default:
			c.replyError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
			return
		}
	}
	if msg := c.srv.scripts.RestoreFunctions(args[2], policy); msg != "" {
		c.replyError(msg)
		return
	}
	c.srv.journal.Record(c.db, args...)
	c.replyOK()
}

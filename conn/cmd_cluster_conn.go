package conn

import "github.com/valkyrie-kv/valkyrie/shard"

// READONLY, READWRITE and ASKING set a cluster connection's mode; without
// cluster support Redis refuses them, and so does Valkyrie. They exist so
// that the ACL and COMMAND know them (ACL SETUSER +readonly).
func init() {
	const flags = shard.Fast | shard.Loading | shard.Stale
	registerLocal(
		&localCommand{Spec: shard.Spec{Name: "readonly", Arity: 1, Flags: flags, Group: "cluster", Since: "3.0.0",
			Summary: "Enables read-only queries on a connection to a cluster replica.", Complexity: "O(1)",
			ACL: []string{"connection"}}, run: cmdClusterDisabled},
		&localCommand{Spec: shard.Spec{Name: "readwrite", Arity: 1, Flags: flags, Group: "cluster", Since: "3.0.0",
			Summary: "Ends a connection's read-only mode on a cluster replica.", Complexity: "O(1)",
			ACL: []string{"connection"}}, run: cmdClusterDisabled},
		&localCommand{Spec: shard.Spec{Name: "asking", Arity: 1, Flags: shard.Fast, Group: "cluster", Since: "3.0.0",
			Summary: "Marks the connection for a slot being imported after an -ASK redirect.", Complexity: "O(1)",
			ACL: []string{"connection"}}, run: cmdClusterDisabled},
	)
}

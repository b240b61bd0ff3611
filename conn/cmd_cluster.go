package conn

import "github.com/valkyrie-kv/valkyrie/shard"

// CLUSTER: Valkyrie runs as a standalone server, like redis-server with
// cluster-enabled no. Redis still knows every CLUSTER subcommand (so a
// wrong argument count or an unknown subcommand gets its usual error, and
// scripts see each subcommand's own flags) but answers all of them, HELP
// included, with errClusterDisabled.

const errClusterDisabled = "ERR This instance has cluster support disabled"

// Flags of the CLUSTER subcommands that change the cluster's state.
const (
	clusterAdmin  = shard.Admin | shard.Stale | shard.NoAsyncLoading
	clusterReader = shard.Stale
)

func clusterSub(name string, arity int, flags shard.Flag, since, summary, complexity, syntax string) *subcommand {
	return &subcommand{Spec: shard.Spec{Name: name, Arity: arity, Flags: flags, Group: "cluster", Since: since,
		Summary: summary, Complexity: complexity, Syntax: syntax}, run: cmdClusterDisabled}
}

var clusterSubs, clusterSpecs = newSubcommands("cluster",
	clusterSub("addslots", -3, clusterAdmin, "3.0.0", "Assign new hash slots to receiving node",
		"O(N) where N is the total number of hash slot arguments", "slot [slot ...]"),
	clusterSub("addslotsrange", -4, clusterAdmin, "7.0.0", "Assign new hash slots to receiving node",
		"O(N) where N is the total number of the slots between the start slot and end slot arguments.",
		"start-slot end-slot [start-slot end-slot ...]"),
	clusterSub("bumpepoch", 2, clusterAdmin, "3.0.0", "Advance the cluster config epoch", "O(1)", ""),
	clusterSub("count-failure-reports", 3, shard.Admin|shard.Stale, "3.0.0",
		"Return the number of failure reports active for a given node",
		"O(N) where N is the number of failure reports", "node-id"),
	clusterSub("countkeysinslot", 3, clusterReader, "3.0.0", "Return the number of local keys in the specified hash slot",
		"O(1)", "slot"),
	clusterSub("delslots", -3, clusterAdmin, "3.0.0", "Set hash slots as unbound in receiving node",
		"O(N) where N is the total number of hash slot arguments", "slot [slot ...]"),
	clusterSub("delslotsrange", -4, clusterAdmin, "7.0.0", "Set hash slots as unbound in receiving node",
		"O(N) where N is the total number of the slots between the start slot and end slot arguments.",
		"start-slot end-slot [start-slot end-slot ...]"),
	clusterSub("failover", -2, clusterAdmin, "3.0.0", "Forces a replica to perform a manual failover of its master.",
		"O(1)", "[FORCE|TAKEOVER]"),
	clusterSub("flushslots", 2, clusterAdmin, "3.0.0", "Delete a node's own slots information", "O(1)", ""),
	clusterSub("forget", 3, clusterAdmin, "3.0.0", "Remove a node from the nodes table", "O(1)", "node-id"),
	clusterSub("getkeysinslot", 4, clusterReader, "3.0.0", "Return local key names in the specified hash slot",
		"O(log(N)) where N is the number of requested keys", "slot count"),
	clusterSub("help", 2, shard.Loading|shard.Stale, "5.0.0", "Show helpful text about the different subcommands",
		"O(1)", ""),
	clusterSub("info", 2, clusterReader, "3.0.0", "Provides info about Redis Cluster node state", "O(1)", ""),
	// Redis documents the argument as a string, not a key: it is hashed,
	// never looked up.
	clusterSub("keyslot", 3, clusterReader, "3.0.0", "Returns the hash slot of the specified key",
		"O(N) where N is the number of bytes in the key", "key"),
	clusterSub("links", 2, clusterReader, "7.0.0", "Returns a list of all TCP links to and from peer nodes in cluster",
		"O(N) where N is the total number of Cluster nodes", ""),
	clusterSub("meet", -4, clusterAdmin, "3.0.0", "Force a node cluster to handshake with another node", "O(1)",
		"ip port [cluster_bus_port]"),
	clusterSub("myid", 2, clusterReader, "3.0.0", "Return the node id", "O(1)", ""),
	clusterSub("nodes", 2, clusterReader, "3.0.0", "Get Cluster config for the node",
		"O(N) where N is the total number of Cluster nodes", ""),
	clusterSub("replicas", 3, shard.Admin|shard.Stale, "5.0.0", "List replica nodes of the specified master node",
		"O(1)", "node-id"),
	clusterSub("replicate", 3, clusterAdmin, "3.0.0", "Reconfigure a node as a replica of the specified master node",
		"O(1)", "node-id"),
	clusterSub("reset", -2, shard.Admin|shard.NoScript|shard.Stale, "3.0.0", "Reset a Redis Cluster node",
		"O(N) where N is the number of known nodes. The command may execute a FLUSHALL as a side effect.",
		"[HARD|SOFT]"),
	clusterSub("saveconfig", 2, clusterAdmin, "3.0.0", "Forces the node to save cluster state on disk", "O(1)", ""),
	clusterSub("set-config-epoch", 3, clusterAdmin, "3.0.0", "Set the configuration epoch in a new node", "O(1)",
		"config-epoch"),
	clusterSub("setslot", -4, clusterAdmin, "3.0.0", "Bind a hash slot to a specific node", "O(1)",
		"slot <IMPORTING node-id|MIGRATING node-id|NODE node-id|STABLE>"),
	clusterSub("shards", 2, clusterReader, "7.0.0", "Get array of cluster slots to node mappings",
		"O(N) where N is the total number of cluster nodes", ""),
	clusterSub("slaves", 3, shard.Admin|shard.Stale, "3.0.0", "List replica nodes of the specified master node",
		"O(1)", "node-id"),
	clusterSub("slots", 2, clusterReader, "3.0.0", "Get array of Cluster slot to node mappings",
		"O(N) where N is the total number of Cluster nodes", ""),
)

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "cluster", Arity: -2, Group: "cluster", Since: "3.0.0",
		Summary: "A container for cluster commands", Complexity: "Depends on subcommand.",
		Subcommands: clusterSpecs}, run: func(c *client, args [][]byte) { clusterSubs.dispatch(c, args) }})
}

func cmdClusterDisabled(c *client, args [][]byte) { c.replyError(errClusterDisabled) }

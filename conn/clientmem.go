package conn

// clientMemory is the memory the clients hold in buffers (query buffers,
// pending replies, pub/sub queues), which counts in used_memory and
// toward maxmemory as in Redis.
func (s *Server) clientMemory() int64 { return 0 }

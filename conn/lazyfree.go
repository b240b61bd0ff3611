package conn

import "github.com/valkyrie-kv/valkyrie/shard"

// startLazyFree gives the shards the server's lazy freeing (see
// shard/lazyfree.go), follows lazyfree-lazy-user-del and -flush, and
// starts the worker, which Shutdown stops.
func (s *Server) startLazyFree() {
	s.lazy = shard.NewLazyFree()
	for _, sh := range s.shards {
		sh.SetLazyFree(s.lazy)
	}
	update := func(string) {
		s.lazy.UserDel.Store(s.cfg.Bool("lazyfree-lazy-user-del"))
		s.lazy.UserFlush.Store(s.cfg.Bool("lazyfree-lazy-user-flush"))
	}
	update("")
	s.cfg.OnChange("lazyfree-lazy-user-del", update)
	s.cfg.OnChange("lazyfree-lazy-user-flush", update)
	s.lazyStop, s.lazyDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.lazyDone)
		s.lazy.Run(s.lazyStop)
	}()
}

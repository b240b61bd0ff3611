package conn

// The replica's diskless load (repl-diskless-load), as Redis 7.0's
// readSyncBulkPayload: the RDB of a full resync is parsed as it arrives
// from the master's socket, one record at a time, and no temp file is
// written (nor dbfilename replaced).
//
//   - on-empty-db, when the dataset holds no key: the keys go straight to
//     the shards, through their workers, while clients get -LOADING. A
//     load that fails leaves the dataset empty again.
//   - swapdb: the keys go to shards of the link's own (shard.New, never
//     started), and the live ones keep the old dataset meanwhile. If the
//     master's replication ID is not the one this server follows (a new
//     history), clients get -LOADING during the transfer (INFO loading:1);
//     if it is (async loading: the same data set at another point in
//     time), they go on reading the old data (INFO async_loading:1) and
//     only the commands Redis flags no-async-loading are refused. At the
//     end the loaded databases take the place of the live ones, with every
//     shard held (shard.Across.Adopt), and the function libraries the
//     payload holds replace the server's. A transfer that fails (the link
//     lost, a payload that does not parse) leaves the old dataset, its
//     functions and the history it follows as they were.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// heldKeys counts the keys of the held shards, expired or not.
func heldKeys(held []*shard.Shard) int {
	n := 0
	for _, sh := range held {
		for i := 0; i < shard.NumDBs; i++ {
			n += sh.DB(i).Len()
		}
	}
	return n
}

// loadEmpty is the on-empty-db load: held is every shard, found without a
// key, which release gives back.
func (l *replLink) loadEmpty(held []*shard.Shard, release func(), br *bufio.Reader, rid string, off int64, size int64, mark []byte) error {
	s := l.s
	p := &s.persist
	// As the disk load does once the file is in: no BGSAVE may write the
	// old dataset, replicas of this one sync again, and the history goes
	// with the dataset (a failed load is followed by PSYNC ? -1).
	s.cancelBgsave()
	s.discardDataset(held)     // keys whose TTL passed are keys too: none is left
	s.scripts.FlushFunctions() // as Redis clears them before it loads
	p.loading.Store(true)
	defer p.loading.Store(false)
	// The shards go back to their workers, which store the keys as they
	// come: clients get -LOADING, but INFO and the others Redis lets
	// through while loading are answered.
	release()
	s.log.Info("MASTER <-> REPLICA sync: Loading DB in memory")
	libs, err := l.readPayload(br, size, mark, func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
		return s.workers[id].Load(es, now)
	})
	if err == nil {
		if msg := s.scripts.RestoreFunctions(libs, script.RestoreFlush); msg != "" {
			err = errors.New("loading the function libraries: " + msg)
			s.log.Warn("Failed trying to load the MASTER synchronization DB from socket: " + err.Error())
		}
	}
	held, release, ok := l.holdAll()
	if !ok {
		return errors.New("stopped")
	}
	defer release()
	if err != nil {
		// What was loaded goes: the dataset is empty, as it was.
		for _, sh := range held {
			sh.AbortSnapshot()
			sh.FlushAll()
		}
		s.scripts.FlushFunctions()
		return err
	}
	s.dirtied(1) // as Redis: the new dataset is in no file
	l.syncDone(held, rid, off)
	return nil
}

// loadSwapdb is the swapdb load.
func (l *replLink) loadSwapdb(br *bufio.Reader, rid string, off int64, size int64, mark []byte) error {
	s := l.s
	p := &s.persist
	// The same history: the old dataset is an earlier state of the one
	// coming, which clients may go on reading until it is in.
	async := rid == s.masterReplID()
	loaded := s.newLoadShards()
	if async {
		p.asyncLoading.Store(true)
	}
	p.loading.Store(true)
	defer func() {
		p.loading.Store(false)
		p.asyncLoading.Store(false)
	}()
	s.log.Info("MASTER <-> REPLICA sync: Loading DB in memory")
	libs, err := l.readPayload(br, size, mark, func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
		return loaded[id].Load(es, now, false)
	})
	if err == nil {
		held, release, ok := l.holdAll()
		if !ok {
			err = errors.New("stopped")
		} else {
			err = l.swapIn(held, loaded, libs, rid, off)
			release()
		}
	}
	if err != nil {
		s.log.Info("MASTER <-> REPLICA sync: Discarding temporary DB in background")
		return err
	}
	return nil
}

// swapIn puts the loaded shards' databases and the payload's libraries in
// place of the held (live) shards' and the server's, and ends the sync.
func (l *replLink) swapIn(held, loaded []*shard.Shard, libs []byte, rid string, off int64) error {
	s := l.s
	// The libraries first: they may not compile, and the sync fails then
	// with nothing changed.
	if msg := s.scripts.RestoreFunctions(libs, script.RestoreFlush); msg != "" {
		err := errors.New("loading the function libraries: " + msg)
		s.log.Warn("Failed trying to load the MASTER synchronization DB from socket: " + err.Error())
		return err
	}
	s.cancelBgsave()
	s.dropReplicas()
	s.cancelAOFRewrite()
	s.log.Info("MASTER <-> REPLICA sync: Swapping active DB with loaded DB")
	var a shard.Across
	a.KeepExpired, a.NoJournal = true, true
	a.Begin(held, time.Now().UnixMilli())
	a.Adopt(loaded)
	a.End()
	clear(loaded) // the old databases: the collector frees them
	s.log.Info("MASTER <-> REPLICA sync: Discarding old DB in background")
	s.persist.loading.Store(false)
	s.persist.asyncLoading.Store(false)
	s.dirtied(1) // as Redis: the new dataset is in no file
	l.syncDone(held, rid, off)
	return nil
}

// newLoadShards returns empty shards, one per live shard, set up as the
// live ones are for what a load decides (hash encodings, stream nodes,
// access metadata, shared integers), for a swapdb load to fill.
func (s *Server) newLoadShards() []*shard.Shard {
	n := len(s.workers)
	b := shard.NewBudget(n, nil) // a copy of the limit and policy: nothing accounts to it
	b.Set(s.mem.Limit(), s.mem.Policy(), 5, 10)
	lfu := strings.HasSuffix(s.cfg.Value("maxmemory-policy"), "-lfu")
	out := make([]*shard.Shard, n)
	for i := range out {
		sh := shard.New(i)
		sh.SetBudget(b)
		sh.SetAccessPolicy(lfu, s.cfg.Int("lfu-log-factor"), s.cfg.Int("lfu-decay-time"))
		sh.SetStreamLimits(s.cfg.Int("stream-node-max-bytes"), s.cfg.Int("stream-node-max-entries"))
		sh.SetHashLimits(s.cfg.Int("hash-max-listpack-entries"), s.cfg.Int("hash-max-listpack-value"))
		out[i] = sh
	}
	return out
}

// readPayload parses the transfer's RDB from br into store: size bytes,
// or up to the 40-byte mark, which must follow it. It returns the
// payload's function libraries.
func (l *replLink) readPayload(br *bufio.Reader, size int64, mark []byte, store storeFunc) ([]byte, error) {
	s := l.s
	p := &s.persist
	began := time.Now()
	p.loadStart.Store(began.Unix())
	p.loadUsedMem.Store(0)
	p.loadTotal.Store(max(size, 0))
	// What the buffer holds already came before the count began.
	ahead := int64(br.Buffered())
	if size >= 0 {
		ahead = min(ahead, size)
	}
	p.loadBytes.Store(ahead)
	l.syncRead.Add(ahead)
	l.direct.Store(true)
	defer l.direct.Store(false)
	src := br
	var lim *io.LimitedReader
	if size >= 0 {
		// The RDB may not read past its announced size: what follows is
		// the stream.
		lim = &io.LimitedReader{R: br, N: size}
		src = bufio.NewReaderSize(lim, 64<<10)
	}
	libs, err := s.parseRDB(src, store, l.stopped)
	if err == nil && lim != nil {
		// Bytes the RDB did not use (there should be none) are not the
		// stream's.
		if _, err = io.Copy(io.Discard, src); err == nil && lim.N > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			err = &rdb.LoadError{Offset: size - lim.N, Msg: "unexpected EOF", Err: io.ErrUnexpectedEOF}
		}
	}
	if err != nil {
		l.reportPayloadError(err)
		return nil, err
	}
	if mark != nil {
		tail := make([]byte, len(mark))
		if _, err := io.ReadFull(br, tail); err != nil || !bytes.Equal(tail, mark) {
			s.log.Warn("Replication stream EOF marker is broken")
			return nil, errors.New("the EOF mark of the payload is broken")
		}
	}
	s.log.Info("MASTER <-> REPLICA sync: RDB parsed from socket", "keys", p.loadLoaded.Load(), "expired", p.loadExpired.Load(),
		"seconds", time.Since(began).Seconds())
	return libs, nil
}

// reportPayloadError logs a load from the socket that failed, in Redis's
// words, which its tests grep: a short read (the link lost) is taken for a
// connection error, anything else for a corrupt payload.
func (l *replLink) reportPayloadError(err error) {
	s := l.s
	var lerr *rdb.LoadError
	if errors.As(err, &lerr) {
		at := "Internal error in RDB reading offset " + strconv.FormatInt(lerr.Offset, 10) + ", function at rdb.c:0 -> "
		if errors.Is(err, rdb.ErrFormat) || errors.Is(err, rdb.ErrChecksum) || rdb.Reason(err) != "" {
			reason := rdb.Reason(err)
			if reason == "" {
				reason = lerr.Msg
			}
			s.log.Warn(at + reason + ". Failure loading rdb format")
		} else {
			s.log.Warn("Short read or OOM loading DB. Unrecoverable error, aborting now.")
			s.log.Warn(at + "Unexpected EOF reading RDB file. Failure loading rdb format from socket, assuming connection error, resuming operation.")
		}
	}
	s.log.Warn("Failed trying to load the MASTER synchronization DB from socket: " + err.Error())
}

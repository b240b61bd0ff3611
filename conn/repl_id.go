package conn

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// replIDs names the replication history the server's stream belongs to,
// as Redis's PSYNC2 does: master_replid, and master_replid2 with the
// offset up to which the stream also continues that older history (a
// replica promoted to master keeps its old master's ID there, so the
// other replicas of that master can continue from it).
type replIDs struct {
	mu   sync.Mutex
	id   string
	id2  string // "" for none
	off2 int64  // second_repl_offset; meaningful only with id2
}

var noReplID = strings.Repeat("0", 40)

func randomReplID() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// masterReplID is master_replid: the server's own history, or on a
// replica its master's.
func (s *Server) masterReplID() string {
	id, _, _ := s.replIDs()
	return id
}

// replIDs returns master_replid, master_replid2 (forty zeros for none)
// and second_repl_offset (-1 for none).
func (s *Server) replIDs() (id, id2 string, off2 int64) {
	x := &s.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	id, id2, off2 = x.id, x.id2, x.off2
	if id2 == "" {
		id2, off2 = noReplID, -1
	}
	return id, id2, off2
}

// changeReplID starts a new history with no second ID: DEBUG
// CHANGE-REPL-ID, a backlog freed, a dataset replaced whole.
func (s *Server) changeReplID() { s.adoptReplID(randomReplID()) }

// adoptReplID makes id (a master's, after a full sync) the history, with
// no second ID.
func (s *Server) adoptReplID(id string) {
	x := &s.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	x.id, x.id2, x.off2 = id, "", 0
}

// shiftReplID starts history id (a random one if "") and keeps the
// current one as the second ID, valid up to offset: a replica promoted
// (REPLICAOF NO ONE) or told by its master of a new ID (+CONTINUE).
func (s *Server) shiftReplID(id string, offset int64) {
	if id == "" {
		id = randomReplID()
	}
	old := s.masterReplID()
	x := &s.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	x.id2, x.off2, x.id = old, offset+1, id
}

// psyncAccepts reports whether a PSYNC for history id from offset (the
// first byte wanted) continues this server's stream: id is its history,
// or the one before it up to where they parted.
// maxReplOffset bounds a replication offset taken from outside (a
// master's +FULLRESYNC, a file's repl-offset): far beyond any stream's
// length, and far enough from the int64 limit that counting the stream's
// bytes never overflows it.
const maxReplOffset = 1 << 62

func (s *Server) psyncAccepts(id string, offset int64) bool {
	cur, id2, off2 := s.replIDs()
	return id == cur || id2 != noReplID && id == id2 && offset <= off2
}

// saveReplInfo is the replication history an RDB file records, so that a
// server restarted on it continues where it was (Redis's
// rdbPopulateSaveInfo): a master's own, while it keeps a backlog, or a
// replica's master's. nil when there is none. Call it with every shard
// held, so the offset is the snapshot's instant.
func (s *Server) saveReplInfo() *rdb.ReplInfo {
	if _, off, ok := s.replicaOffset(); ok {
		r := &s.replica
		r.hist.Lock()
		rid, db := r.rid, r.db
		r.hist.Unlock()
		if rid == "" {
			return nil
		}
		return &rdb.ReplInfo{StreamDB: db, ID: s.masterReplID(), Offset: off}
	}
	if !s.replActive() {
		return nil
	}
	return &rdb.ReplInfo{StreamDB: s.journal.StreamDB(), ID: s.masterReplID(), Offset: s.journal.ReplOffset()}
}

// restoreReplInfo takes up the history the file loaded at start-up
// records, as Redis's loadDataFromDisk: a replica continues it with its
// master (PSYNC with its ID and offset); a master keeps it as its second
// ID, so its replicas continue with it, and counts its offset from there.
func (s *Server) restoreReplInfo(ri rdb.ReplInfo) {
	if ri.ID == "" || ri.Offset < 0 || ri.Offset > maxReplOffset || ri.StreamDB < 0 {
		return
	}
	if s.cfg.Value("replicaof") != "" && s.cfg.Value("replicaof") != "no one" {
		r := &s.replica
		r.hist.Lock()
		r.rid, r.off, r.db = ri.ID, ri.Offset, ri.StreamDB
		r.hist.Unlock()
		s.adoptReplID(ri.ID)
		s.journal.SetProxy(true, ri.Offset)
		return
	}
	s.keepBacklog()
	s.journal.SetProxy(false, ri.Offset)
	x := &s.ids
	x.mu.Lock()
	x.id2, x.off2 = ri.ID, ri.Offset+1
	x.mu.Unlock()
	// The keys the load left out as expired are still on the replicas,
	// which never expire a master's keys: they get a DEL for each, after
	// the file's offset, as Redis feeds its backlog while it loads.
	if p := &s.persist; p.expiredOverflow {
		// More than the backlog holds: Redis's would have dropped the
		// file's offset, so a replica of the old ID syncs in full. The
		// stream moves on by their size, with an empty backlog.
		s.journal.SetProxy(false, ri.Offset+p.expiredBytes)
		return
	}
	for _, k := range s.persist.expiredOnLoad {
		s.journal.RecordDB(k.db, []byte("DEL"), []byte(k.key))
	}
}

// delSize is the size of a DEL of key in the replicas' stream.
func delSize(key string) int64 {
	return int64(len("*2\r\n$3\r\nDEL\r\n$\r\n\r\n") + len(strconv.Itoa(len(key))) + len(key))
}

// dbKey is a key of one database.
type dbKey struct {
	db  int
	key string
}

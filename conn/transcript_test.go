package conn

// Transcript tests.
//
// The files testdata/transcripts/*.txt (at the repository root) are raw
// RESP exchanges recorded from a real redis-server. TestTranscripts replays
// every file against an in-process Valkyrie with 8 shards and requires the
// recorded bytes back; it needs no redis-server. TestTranscriptsDifferential
// replays every file against a fresh redis-server and a fresh Valkyrie side
// by side, when redis-server is on PATH.
//
// File format, one directive per line:
//
//	# comment                 comments and blank lines are ignored
//	=== name                  starts a case; each case gets a new connection
//	> SET k "a b" ""          send the words as a RESP array of bulk strings;
//	                          words are split on spaces and tabs, and a
//	                          double-quoted word may hold spaces and escapes
//	>> PING\r\n               send exactly these bytes (escaped)
//	< +OK\r\n                 read one complete reply; it must be these bytes
//	<~ :~\r\n                 the same, but each bare ~ matches any run of
//	                          bytes other than CR and LF; a literal tilde is
//	                          \~ (use only for values that legitimately vary)
//	!closed                   the server must now close the connection;
//	                          nothing may follow it in the case
//
// Escapes in ">>", "<", "<~" lines and quoted words: \r \n \t \\ \" \~ \xHH.
// Every other byte stands for itself, so "<" lines hold the reply exactly.
//
// Each file runs on a fresh server (FLUSHALL first). Its cases run in order
// and share the data but not the connection state (database, protocol).
// When a file is done, every connection still open must be silent: a reply
// nobody expected fails the test. To check that a request gets no reply,
// follow it with a PING on the same connection.
//
// The expected replies come from Redis. To regenerate them, with
// redis-server on PATH:
//
//	go test ./conn -run TestTranscripts -update
//
// This runs each case against a fresh redis-server and rewrites every "<",
// "<~" and "!closed" line from what it sent: after each send, replies are
// read until the server stays silent for 100 ms, so a new case only needs
// its send lines. A "<~" line is kept when the new reply still matches it.
// To record a single file: -run 'TestTranscripts$/update/strings.txt'.

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var trUpdate = flag.Bool("update", false, "rewrite the expected replies in testdata/transcripts from a fresh redis-server")

const trDir = "../testdata/transcripts"

// trFiles lists the transcripts in name order.
func trFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(trDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no transcripts in %s", trDir)
	}
	sort.Strings(files)
	return files
}

func trLoad(t *testing.T, path string) *trFile {
	t.Helper()
	f, err := trLoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTranscripts(t *testing.T) {
	files := trFiles(t)
	if *trUpdate {
		bin := trRedisBinary()
		if bin == "" {
			t.Fatal("-update needs redis-server on PATH")
		}
		t.Logf("recording from %s", trRedisVersion(bin))
		for _, path := range files {
			t.Run("update/"+filepath.Base(path), func(t *testing.T) { trRecordFile(t, bin, path) })
		}
		if t.Failed() {
			return
		}
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f := trLoad(t, path)
			_, addr := startServer(t, 8)
			trFlushAll(t, addr)
			var open []trOpen
			for _, tc := range f.cases {
				t.Run(tc.name, func(t *testing.T) {
					if c := trPlay(t, f, tc, addr); c != nil {
						open = append(open, trOpen{label: trWhere(f, tc.line) + " " + tc.name, c: c})
					}
				})
			}
			trCheckSilent(t, open)
		})
	}
}

// trWhere formats a file position.
func trWhere(f *trFile, line int) string {
	return filepath.Base(f.path) + ":" + strconv.Itoa(line)
}

// trPlay runs one case against addr and checks every expectation. It
// returns the connection when it is still open at the end of the case.
func trPlay(t *testing.T, f *trFile, tc *trCase, addr string) *trConn {
	t.Helper()
	c, err := trDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range tc.steps {
		if st.kind == trSend {
			if err := c.send(st.data); err != nil {
				t.Errorf("%s: send: %v", trWhere(f, st.line), err)
				c.close()
				return nil
			}
			continue
		}
		ev := c.next()
		if !st.accepts(ev) {
			t.Errorf("%s: case %q:\n got: %s\nwant: %s", trWhere(f, st.line), tc.name, ev, st.want())
			c.close()
			return nil
		}
		if ev.closed {
			c.close()
			return nil
		}
	}
	return c
}

func TestTranscriptsDifferential(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server is not on PATH: install Redis 7 to compare Valkyrie with it byte for byte")
	}
	t.Logf("comparing with %s", trRedisVersion(bin))
	for _, path := range trFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f := trLoad(t, path)
			raddr := trStartRedis(t, bin)
			_, vaddr := startServer(t, 8)
			trFlushAll(t, raddr)
			trFlushAll(t, vaddr)
			var open []trOpen
			for _, tc := range f.cases {
				t.Run(tc.name, func(t *testing.T) {
					rc, vc := trCompare(t, f, tc, raddr, vaddr)
					label := trWhere(f, tc.line) + " " + tc.name
					if rc != nil {
						open = append(open, trOpen{label: "redis-server: " + label, c: rc})
					}
					if vc != nil {
						open = append(open, trOpen{label: "valkyrie: " + label, c: vc})
					}
				})
			}
			trCheckSilent(t, open)
		})
	}
}

// trCompare runs one case against Redis and Valkyrie at once and reports
// the first reply where they differ. Where the transcript has a wildcard,
// both replies must match it instead of each other. It also reports a
// transcript that Redis itself no longer follows. It returns the
// connections still open.
func trCompare(t *testing.T, f *trFile, tc *trCase, raddr, vaddr string) (*trConn, *trConn) {
	t.Helper()
	rc, err := trDial(raddr)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := trDial(vaddr)
	if err != nil {
		rc.close()
		t.Fatal(err)
	}
	stop := func() (*trConn, *trConn) {
		rc.close()
		vc.close()
		return nil, nil
	}
	for _, st := range tc.steps {
		where := trWhere(f, st.line)
		if st.kind == trSend {
			if err := rc.send(st.data); err != nil {
				t.Errorf("%s: send to redis-server: %v", where, err)
				return stop()
			}
			if err := vc.send(st.data); err != nil {
				t.Errorf("%s: send to valkyrie: %v", where, err)
				return stop()
			}
			continue
		}
		re, ve := rc.next(), vc.next()
		switch {
		case st.segs != nil && !(st.accepts(re) && st.accepts(ve)):
			t.Errorf("%s: case %q: reply does not match the transcript's pattern %q\n   redis-server: %s\n       valkyrie: %s",
				where, tc.name, st.src, re, ve)
			return stop()
		case st.segs == nil && !trSame(re, ve):
			t.Errorf("%s: case %q: first difference\n   redis-server: %s\n       valkyrie: %s",
				where, tc.name, re, ve)
			return stop()
		case !st.accepts(re):
			t.Errorf("%s: case %q: redis-server no longer follows the transcript (regenerate with go test ./conn -run TestTranscripts -update)\n   redis-server: %s\n     transcript: %s",
				where, tc.name, re, st.want())
			return stop()
		}
		if re.closed {
			return stop()
		}
	}
	return rc, vc
}

// trRecordFile runs every case of a transcript against a fresh
// redis-server and rewrites the file's expectations from its replies.
func trRecordFile(t *testing.T, bin, path string) {
	f := trLoad(t, path)
	addr := trStartRedis(t, bin)
	trFlushAll(t, addr)
	recorded := map[int][]string{} // 0-based index of a send line -> new expectation lines
	var open []*trConn
	defer func() {
		for _, c := range open {
			c.close()
		}
	}()
	for _, tc := range f.cases {
		c, err := trDial(addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		closed := false
		for i, st := range tc.steps {
			if st.kind != trSend {
				continue
			}
			if closed {
				t.Fatalf("%s: case %q sends after redis-server closed the connection", trWhere(f, st.line), tc.name)
			}
			if err := c.send(st.data); err != nil {
				t.Fatalf("%s: send: %v", trWhere(f, st.line), err)
			}
			var old []*trStep // the expectations written after this send
			for _, o := range tc.steps[i+1:] {
				if o.kind == trSend {
					break
				}
				old = append(old, o)
			}
			var lines []string
			for k := 0; k < 1000; k++ {
				ev, ok := c.poll(trQuiet)
				if !ok {
					break
				}
				if ev.err != nil {
					t.Fatalf("%s: reading from redis-server: %v", trWhere(f, st.line), ev)
				}
				if ev.closed {
					lines = append(lines, "!closed")
					closed = true
					break
				}
				line := "< " + trEscape(ev.reply)
				if k < len(old) && old[k].segs != nil && old[k].accepts(ev) {
					line = "<~ " + old[k].src
				} else if k < len(old) && old[k].segs != nil {
					t.Logf("%s: the reply %q no longer matches the pattern; recording it exactly", trWhere(f, old[k].line), ev.reply)
				}
				lines = append(lines, line)
			}
			recorded[st.line-1] = lines
		}
	}
	var sb strings.Builder
	for i, raw := range f.lines {
		if trIsExpectation(raw) {
			continue
		}
		sb.WriteString(raw)
		sb.WriteByte('\n')
		for _, l := range recorded[i] {
			sb.WriteString(l)
			sb.WriteByte('\n')
		}
	}
	text := sb.String()
	if _, err := trParse(path, text); err != nil {
		t.Fatalf("the rewritten transcript does not parse: %v", err)
	}
	if text == strings.Join(f.lines, "\n")+"\n" {
		return
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote %s", path)
}

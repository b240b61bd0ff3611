package aof

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func cmd(args ...string) string { return string(AppendCommandString(nil, args...)) }

type loadOut struct {
	cmds [][]string
	res  Result
	err  error
}

func load(t *testing.T, text string, start int64) loadOut {
	t.Helper()
	var out loadOut
	l := Loader{Start: start, Apply: func(args [][]byte) error {
		var s []string
		for _, a := range args {
			s = append(s, string(a))
		}
		out.cmds = append(out.cmds, s)
		return nil
	}}
	out.res, out.err = l.Load(strings.NewReader(text))
	return out
}

func TestLoadCases(t *testing.T) {
	set := cmd("SET", "k", "v")
	multi, exec := cmd("MULTI"), cmd("EXEC")
	incr := cmd("INCR", "n")
	n := func(s ...string) int64 { return int64(len(strings.Join(s, ""))) }
	cases := []struct {
		name      string
		text      string
		cmds      int
		err       error
		truncated bool
		reverted  bool
		validUpTo int64
	}{
		{"empty", "", 0, nil, false, false, 0},
		{"one", set, 1, nil, false, false, n(set)},
		{"annotations", "#TS:1700000000\r\n" + set + "#anything\n" + set, 2, nil, false, false, n("#TS:1700000000\r\n", set, "#anything\n", set)},
		{"trailing annotation without newline", set + "#TS:1", 1, nil, false, false, n(set)},
		{"cut in argc line", set + "*", 1, nil, true, false, n(set)},
		{"cut after argc line", set + "*3\r\n", 1, nil, true, false, n(set)},
		{"cut in bulk length", set + "*3\r\n$3", 1, nil, true, false, n(set)},
		{"cut in bulk", set + "*3\r\n$3\r\nSE", 1, nil, true, false, n(set)},
		{"cut before crlf", set + "*1\r\n$4\r\nPING", 1, nil, true, false, n(set)},
		{"cut in crlf", set + "*1\r\n$4\r\nPING\r", 1, nil, true, false, n(set)},
		{"huge length in a short file", set + "*1\r\n$9223372036854775807\r\nabc", 1, nil, true, false, n(set)},
		{"huge argc in a short file", set + "*2147483647\r\n$1\r\na\r\n", 1, nil, true, false, n(set)},
		{"crlf not checked", "*1\r\n$4\r\nPINGxx", 1, nil, false, false, 14},
		{"zero length arg", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", 1, nil, false, false, 20},
		{"length parsed like strtol", "*1\r\n$ 4junk\r\nPING\r\n", 1, nil, false, false, 19},
		{"argc like atoi", "*1abc\r\n$4\r\nPING\r\n", 1, nil, false, false, 17},
		{"argc wraps like atoi", "*4294967297\r\n$4\r\nPING\r\n", 1, nil, false, false, 23},
		{"blank line", set + "\r\n", 1, ErrBadFormat, false, false, n(set)},
		{"not a star", set + "SET k v\r\n", 1, ErrBadFormat, false, false, n(set)},
		{"argc zero", "*0\r\n", 0, ErrBadFormat, false, false, 0},
		{"argc negative", "*-1\r\n", 0, ErrBadFormat, false, false, 0},
		{"argc text", "*x\r\n", 0, ErrBadFormat, false, false, 0},
		{"star newline", "*\r\n", 0, ErrBadFormat, false, false, 0},
		{"arg not dollar", "*1\r\n+PING\r\n", 0, ErrBadFormat, false, false, 0},
		{"negative length", "*1\r\n$-1\r\n", 0, ErrBadLength, false, false, 0},
		{"nul after star", "*\x00\r\n" + set, 0, ErrNulAfterStar, false, false, 0},
		{"nul after star at eof", "*\x00", 0, nil, true, false, 0},
		{"long annotation tail is parsed", "#" + strings.Repeat("x", 1100) + "\n" + set, 0, ErrBadFormat, false, false, 0},
		{"multi exec", set + multi + set + incr + exec + set, 6, nil, false, false, n(set, multi, set, incr, exec, set)},
		{"lower case multi", cmd("multi") + set + cmd("exec"), 3, nil, false, false, n(cmd("multi"), set, cmd("exec"))},
		{"open multi reverted", set + multi + set + incr, 1, nil, true, true, n(set)},
		{"open multi at start", multi + set, 0, nil, true, true, 0},
		{"cut inside multi keeps last queued", set + multi + set + "*2\r\n", 1, nil, true, false, n(set, multi, set)},
		{"nested multi moves the revert point", set + multi + incr + multi + set, 1, nil, true, true, n(set, multi, incr)},
		{"exec without multi is passed on", exec + set, 2, nil, false, false, n(exec, set)},
		{"discard is queued like any command", multi + cmd("DISCARD") + set + exec, 4, nil, false, false, n(multi, cmd("DISCARD"), set, exec)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := load(t, c.text, 0)
			if !errors.Is(out.err, c.err) {
				t.Fatalf("err %v, want %v", out.err, c.err)
			}
			if len(out.cmds) != c.cmds || out.res.Commands != int64(c.cmds) {
				t.Fatalf("commands %q (%d), want %d", out.cmds, out.res.Commands, c.cmds)
			}
			if out.res.Truncated != c.truncated || out.res.RevertedMulti != c.reverted {
				t.Fatalf("truncated %v reverted %v", out.res.Truncated, out.res.RevertedMulti)
			}
			if out.res.ValidUpTo != c.validUpTo {
				t.Fatalf("validUpTo %d, want %d", out.res.ValidUpTo, c.validUpTo)
			}
			if c.err == nil && !c.truncated && out.res.End != int64(len(c.text)) {
				t.Fatalf("end %d of %d", out.res.End, len(c.text))
			}
		})
	}
}

func TestLoadDeliversTransactionAtExec(t *testing.T) {
	text := cmd("SET", "a", "1") + cmd("MULTI") + cmd("SET", "b", "2") + cmd("EXEC")
	var seen []string
	var checked []string
	l := Loader{
		Check: func(args [][]byte) error { checked = append(checked, string(args[0])); return nil },
		Apply: func(args [][]byte) error { seen = append(seen, string(args[0])); return nil },
	}
	if _, err := l.Load(strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	want := []string{"SET", "MULTI", "SET", "EXEC"}
	if !reflect.DeepEqual(seen, want) || !reflect.DeepEqual(checked, want) {
		t.Fatal(seen, checked)
	}
	// Check sees queued commands at once: an unknown command inside an
	// unfinished MULTI stops the load, as in Redis.
	bad := errors.New("Unknown command")
	seen = nil
	l.Check = func(args [][]byte) error {
		if string(args[0]) == "BLA" {
			return bad
		}
		return nil
	}
	_, err := l.Load(strings.NewReader(cmd("MULTI") + cmd("BLA")))
	if err != bad || len(seen) != 0 {
		t.Fatal(err, seen)
	}
	// An Apply error is returned.
	l.Check = nil
	l.Apply = func([][]byte) error { return bad }
	if _, err := l.Load(strings.NewReader(text)); err != bad {
		t.Fatal(err)
	}
}

func TestLoadStartOffset(t *testing.T) {
	set := cmd("SET", "k", "v")
	out := load(t, set+"*1\r\n", 100)
	if !out.res.Truncated || out.res.ValidUpTo != 100+int64(len(set)) || out.res.End != 100+int64(len(set))+4 {
		t.Fatalf("%+v", out.res)
	}
	// As in Redis, valid_up_to starts at 0, not at the end of the preamble.
	out = load(t, "*1\r\n", 100)
	if !out.res.Truncated || out.res.ValidUpTo != 0 {
		t.Fatalf("%+v", out.res)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader(cmd("PING")+"*1\r\n$4\r\nPI"), iotest.ErrReader(boom)), 0)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != boom {
		t.Fatal(err)
	}
	l := Loader{}
	if _, err := l.Load(iotest.ErrReader(boom)); err != boom {
		t.Fatal(err)
	}
}

func TestReaderArgsStayValid(t *testing.T) {
	big := strings.Repeat("z", 200000)
	text := cmd("SET", "k", big) + cmd("SET", "k2", "v2")
	r := NewReader(iotest.HalfReader(strings.NewReader(text)), 0)
	a, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(a[2]) != big || string(a[1]) != "k" || string(b[1]) != "k2" || string(b[2]) != "v2" {
		t.Fatal("args changed")
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
	// Appending to one argument must not overwrite the next.
	a[0] = append(a[0], 'X')
	if string(a[1]) != "k" {
		t.Fatal("args share capacity")
	}
}

// A declared length far beyond the input must not be allocated up front.
func TestReaderHugeLengthAllocatesLittle(t *testing.T) {
	text := "*1\r\n$1099511627776\r\n" + strings.Repeat("a", 10000)
	before := totalAlloc()
	r := NewReader(strings.NewReader(text), 0)
	if _, err := r.Next(); err != ErrTruncated {
		t.Fatal(err)
	}
	after := totalAlloc()
	if after-before > 1<<20 {
		t.Fatalf("allocated %d bytes for a 10 kB input", after-before)
	}
}

func TestIsRDB(t *testing.T) {
	if !IsRDB([]byte("REDIS0010\xfa")) || IsRDB([]byte("REDI")) || IsRDB([]byte("*1\r\n$4\r\n")) {
		t.Fatal()
	}
}

func TestAppendCommand(t *testing.T) {
	got := AppendCommand([]byte("x"), []byte("SET"), []byte(""), []byte("a\r\nb"))
	if string(got) != "x*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\na\r\nb\r\n" {
		t.Fatalf("%q", got)
	}
	if s := AppendCommandString(nil, "SET", "", "a\r\nb"); !bytes.Equal(s, got[1:]) {
		t.Fatalf("%q", s)
	}
	if s := string(AppendCommand(nil)); s != "*0\r\n" {
		t.Fatal(s)
	}
	if s := string(AppendSelect(nil, 12)); s != cmd("SELECT", "12") {
		t.Fatalf("%q", s)
	}
	if s := string(AppendTimestamp(nil, 1700000000)); s != "#TS:1700000000\r\n" {
		t.Fatal(s)
	}
}

func TestMessages(t *testing.T) {
	before, after := TruncatedLog("appendonly.aof.1.incr.aof", 42)
	want := []string{
		"!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!",
		"!!! Truncating the AOF appendonly.aof.1.incr.aof at offset 42 !!!",
	}
	if !reflect.DeepEqual(before, want) || after != "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled" {
		t.Fatal(before, after)
	}
	if s := MsgLoaded(false, "f", 0.0004); s != "DB loaded from incr file f: 0.000 seconds" {
		t.Fatal(s)
	}
	for _, s := range []string{MsgBadFormat("f"), MsgUnexpectedEOF("f"), MsgUnknownCommand("bla", "f")} {
		if !strings.Contains(s, "reading the append only file f") {
			t.Fatal(s)
		}
	}
}

func BenchmarkAppendCommand(b *testing.B) {
	args := [][]byte{[]byte("SET"), []byte("key:000001"), bytes.Repeat([]byte("v"), 64)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendCommand(buf[:0], args...)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendCommandString(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendCommandString(buf[:0], "SET", "key:000001", "value")
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkReader(b *testing.B) {
	var text []byte
	for i := 0; i < 1000; i++ {
		text = AppendCommandString(text, "SET", "key:000001", "some value of moderate size")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(text), 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

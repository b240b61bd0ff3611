package aof

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func FuzzManifest(f *testing.F) {
	for _, c := range manifestErrorCases {
		f.Add([]byte(c.text))
	}
	f.Add([]byte("file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.4.incr.aof seq 4 type i\n"))
	f.Add([]byte("# c\nTYPE i seq 3 File \"a b\\x00\" k v\r\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		m, err := ParseManifest(bytes.NewReader(text))
		if err != nil {
			if _, ok := err.(*ManifestError); !ok {
				t.Fatalf("error type %T", err)
			}
			return
		}
		var prev int64
		for _, f := range m.Incr {
			if f.Seq <= prev || f.Type != TypeIncr {
				t.Fatalf("incr order %+v", m.Incr)
			}
			prev = f.Seq
		}
		for _, f := range m.Files() {
			if strings.ContainsAny(f.Name, "/\\\x00") || f.Seq == 0 {
				t.Fatalf("bad file %+v", f)
			}
		}
		checkRoundTrip(t, m)
	})
}

func FuzzReader(f *testing.F) {
	set := cmd("SET", "k", "v")
	for _, s := range []string{
		"", set, set + "*3\r\n$3", cmd("MULTI") + set + cmd("EXEC"), cmd("MULTI") + set,
		"#TS:1\r\n" + set, "*1\r\n$-1\r\n", "*\x00", "*2147483647\r\n$9999999999\r\nab",
		cmd("multi") + cmd("MULTI") + set, "*1\r\n$4\r\nPINGxx",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var got [][][]byte
		l := Loader{Apply: func(args [][]byte) error {
			got = append(got, args)
			return nil
		}}
		res, err := l.Load(bytes.NewReader(in))
		if res.ValidUpTo > res.End || res.End > int64(len(in)) || res.Commands != int64(len(got)) {
			t.Fatalf("%+v for %d bytes", res, len(in))
		}
		if err != nil {
			return
		}
		if res.Truncated {
			// Redis truncates to ValidUpTo; the rest must load cleanly and
			// give the same commands.
			var again int
			l2 := Loader{Apply: func([][]byte) error { again++; return nil }}
			res2, err := l2.Load(bytes.NewReader(in[:res.ValidUpTo]))
			if err != nil || again != len(got) || res2.End != res.ValidUpTo {
				t.Fatalf("prefix %q: %+v %v, %d commands, first pass %d", in[:res.ValidUpTo], res2, err, again, len(got))
			}
			return
		}
		if res.End != int64(len(in)) {
			t.Fatalf("clean load stopped at %d of %d", res.End, len(in))
		}
		// The commands encode to a file that loads back to them.
		var enc []byte
		for _, a := range got {
			enc = AppendCommand(enc, a...)
		}
		var back [][][]byte
		l3 := Loader{Apply: func(args [][]byte) error {
			back = append(back, args)
			return nil
		}}
		res3, err := l3.Load(bytes.NewReader(enc))
		if err != nil || res3.Truncated || !reflect.DeepEqual(norm(back), norm(got)) {
			t.Fatalf("re-encoded %q: %+v %v", enc, res3, err)
		}
	})
}

func norm(cmds [][][]byte) []string {
	var out []string
	for _, c := range cmds {
		var b []byte
		for _, a := range c {
			b = append(b, a...)
			b = append(b, 0)
		}
		out = append(out, string(b))
	}
	return out
}

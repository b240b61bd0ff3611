package shard

import (
	"reflect"
	"strings"
	"testing"
)

// Every entry parses, and every data command (or subcommand) with keys
// has key specs.
func TestKeySpecTable(t *testing.T) {
	keySpecsOnce.Do(parseKeySpecs)
	for name, text := range keySpecTable {
		for _, part := range strings.Split(text, "|") {
			if _, err := parseKeySpec(part); err != nil {
				t.Errorf("%s: %q: %v", name, part, err)
			}
		}
	}
	for _, c := range Commands() {
		if len(c.Subcommands) > 0 {
			for _, s := range c.Subcommands {
				if s.FirstKey > 0 && keySpecsBySpec[s] == nil {
					t.Errorf("%s has keys but no key specs", s.Name)
				}
			}
			continue
		}
		if (c.FirstKey > 0 || c.Keys != nil) && KeySpecsFor(c.Name) == nil {
			t.Errorf("%s has keys but no key specs", c.Name)
		}
	}
	for name := range keyFlagsByCode {
		if keySpecTable[name] == "" {
			t.Errorf("keyFlagsByCode names %s, which has no key specs", name)
		}
	}
}

func TestParseKeySpec(t *testing.T) {
	cases := []struct {
		in   string
		want KeySpec
	}{
		{"RO access @1", KeySpec{Flags: KeyRO | KeyAccess, Index: 1, Step: 1}},
		{"OW update @1 =-1,2,0", KeySpec{Flags: KeyOW | KeyUpdate, Index: 1, LastKey: -1, Step: 2}},
		{"RW access delete @2 #0,1,1", KeySpec{Flags: KeyRW | KeyAccess | KeyDelete, Index: 2, Find: FindKeyNum, FirstKey: 1, Step: 1}},
		{"RO access STREAMS@4 =-1,1,2", KeySpec{Flags: KeyRO | KeyAccess, Keyword: "STREAMS", keyword: "streams", StartFrom: 4, LastKey: -1, Step: 1, Limit: 2}},
		{"RW access delete incomplete KEYS@-2 =-1,1,0", KeySpec{Flags: KeyRW | KeyAccess | KeyDelete | KeyIncomplete,
			Keyword: "KEYS", keyword: "keys", StartFrom: -2, LastKey: -1, Step: 1}},
		{"OW update @? =?", KeySpec{Flags: KeyOW | KeyUpdate, Find: FindUnknown}},
	}
	for _, tc := range cases {
		got, err := parseKeySpec(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "RO access", "XX @1", "RO @x", "RO @1 =1,2", "RO @1 access"} {
		if _, err := parseKeySpec(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestKeyFlagNames(t *testing.T) {
	f := KeyVariableFlags | KeyAccess | KeyRW | KeyUpdate
	if got := strings.Join(f.Names(), " "); got != "RW access update variable_flags" {
		t.Errorf("Names = %q", got)
	}
	if (KeyRO | KeyAccess).Writes() || !(KeyRM | KeyDelete).Writes() || !KeyOW.Writes() || !KeyInsert.Writes() {
		t.Error("Writes is wrong")
	}
}

func keySpecArgs(line string) [][]byte {
	var out [][]byte
	for _, w := range strings.Fields(line) {
		out = append(out, []byte(w))
	}
	return out
}

// Find follows the specs as Redis does, and falls back to code where
// Redis does: for incomplete specs and variable flags.
func TestKeySpecsFind(t *testing.T) {
	cases := []struct {
		line string
		want []KeyRef
	}{
		{"lmove k1 k2 left right", []KeyRef{{1, KeyRW | KeyAccess | KeyDelete}, {2, KeyRW | KeyInsert}}},
		{"mset a 1 b 2", []KeyRef{{1, KeyOW | KeyUpdate}, {3, KeyOW | KeyUpdate}}},
		{"zunionstore d 2 a b", []KeyRef{{1, KeyOW | KeyUpdate}, {3, KeyRO | KeyAccess}, {4, KeyRO | KeyAccess}}},
		{"zunionstore d 3 a b", nil},  // more keys than arguments: by code
		{"zunionstore d -1 a b", nil}, // a bad count: by code
		{"xread COUNT 2 Streams a b 0 0", []KeyRef{{4, KeyRO | KeyAccess}, {5, KeyRO | KeyAccess}}},
		{"georadius k 0 0 1 km StoreDist d", []KeyRef{{1, KeyRO | KeyAccess}, {7, KeyOW | KeyUpdate}}},
		{"set k v", []KeyRef{{1, KeyOW | KeyUpdate}}},
		{"set k v nx GeT", []KeyRef{{1, KeyRW | KeyAccess | KeyUpdate}}},
		{"bitfield k get u8 0 overflow sat", []KeyRef{{1, KeyRO | KeyAccess}}},
		{"bitfield k get u8 0 incrby u8 0 1", []KeyRef{{1, KeyRW | KeyAccess | KeyUpdate}}},
		{"sort k by w get x store d", []KeyRef{{1, KeyRO | KeyAccess}, {7, KeyOW | KeyUpdate}}},
		{"sort_ro k by w", []KeyRef{{1, KeyRO | KeyAccess}}},
	}
	for _, tc := range cases {
		args := keySpecArgs(tc.line)
		c := Lookup(string(args[0]))
		ks := KeySpecsFor(c.Name)
		var fallback func() []int
		if c.Keys != nil || ks.KeysByCode() {
			fallback = func() []int { return c.KeyIndexes(args, nil) }
		}
		got := ks.Find(args, c.Arity, fallback, nil)
		if tc.want == nil {
			// Valkyrie's Keys function decides; no flags then.
			for _, r := range got {
				if r.Flags != 0 {
					t.Errorf("%s: got %v, want keys without flags", tc.line, got)
				}
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestWrittenKeys(t *testing.T) {
	cases := []struct {
		line string
		want []int
	}{
		{"get k", nil},
		{"mget a b c", nil},
		{"set k v", []int{1}},
		{"set k v get", []int{1}},
		{"mset a 1 b 2", []int{1, 3}},
		{"del a b", []int{1, 2}},
		{"lmove a b left right", []int{1, 2}},
		{"rpoplpush a b", []int{1, 2}},
		{"copy a b", []int{2}},
		{"sunionstore d a b", []int{1}},
		{"sinterstore d a b", []int{1}},
		{"zunionstore d 2 a b", []int{1}},
		{"zrangestore d a 0 -1", []int{1}},
		{"bitop and d a b", []int{2}},
		{"pfmerge d a b", []int{1}},
		{"pfcount a b", []int{1, 2}}, // RW: may convert the encoding
		{"sort a", nil},
		{"sort a by w store d", []int{5}},
		{"sort_ro a", nil},
		{"georadius a 0 0 1 km", nil},
		{"georadius a 0 0 1 km store d", []int{7}},
		{"geosearchstore d a frommember m byradius 1 km", []int{1}},
		{"bitfield a get u8 0", nil},
		{"bitfield a set u8 0 1", []int{1}},
		{"bitfield_ro a get u8 0", nil},
		{"xgroup create s g $", []int{2}},
		{"xinfo stream s", nil},
		{"object encoding k", nil},
		{"blmpop 0 2 a b left", []int{3, 4}},
		{"xread streams a 0", nil},
	}
	for _, tc := range cases {
		args := keySpecArgs(tc.line)
		c := Lookup(string(args[0]))
		if c == nil {
			t.Fatalf("no command %s", args[0])
		}
		got := c.WrittenKeys(args, nil)
		if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s: WrittenKeys = %v, want %v", tc.line, got, tc.want)
		}
		// dst is appended to.
		want := append([]int{-7}, tc.want...)
		if got := c.WrittenKeys(args, []int{-7}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: WrittenKeys with dst = %v, want %v", tc.line, got, want)
		}
	}
}

func BenchmarkWrittenKeys(b *testing.B) {
	for _, line := range []string{"set k v", "zunionstore d 2 a b"} {
		args := keySpecArgs(line)
		c := Lookup(string(args[0]))
		b.Run(string(args[0]), func(b *testing.B) {
			dst := make([]int, 0, 8)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				dst = c.WrittenKeys(args, dst[:0])
			}
		})
	}
}

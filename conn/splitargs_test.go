package conn

import (
	"reflect"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"   ", nil, true},
		{"#!lua name=foo", []string{"#!lua", "name=foo"}, true},
		{"#!lua  name=\"foo\"", []string{"#!lua", "name=foo"}, true},
		{`a "b c" 'd e'`, []string{"a", "b c", "d e"}, true},
		{`"\x41\n\\\"" 'it\'s'`, []string{"A\n\\\"", "it's"}, true},
		{`x"y z"`, []string{"xy z"}, true},
		{`"unterminated`, nil, false},
		{`'unterminated`, nil, false},
		{`"a"b`, nil, false},
		{`'a'b`, nil, false},
		{`"\xZZ"`, []string{"xZZ"}, true},
	} {
		got, ok := splitArgs(tc.in)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

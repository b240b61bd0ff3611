package shard

import "testing"

// Redis shares an integer object only where it encodes a value set whole
// (SET family, INCR family, RESTORE); APPEND, SETRANGE, SETBIT, BITFIELD,
// BITOP, INCRBYFLOAT and COPY make a private object (refcount 1), which
// RENAME and MOVE carry along. Checked against redis-server 7.0.15.
func TestSharedIntsOnlyWhereRedisShares(t *testing.T) {
	s := New(0)
	const shared = ":2147483647\r\n"
	ref := func(k string) []string { return []string{"OBJECT", "REFCOUNT", k} }
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "k", "123"}, kvOK},
		{ref("k"), shared},
		{[]string{"APPEND", "k", "4"}, ":4\r\n"},
		{ref("k"), kvOne},
		{[]string{"SET", "k", "123"}, kvOK},
		{[]string{"APPEND", "k", ""}, ":3\r\n"},
		{ref("k"), kvOne},
		{[]string{"RENAME", "k", "k2"}, kvOK},
		{ref("k2"), kvOne},
		{[]string{"SET", "k", "100"}, kvOK},
		{[]string{"SETRANGE", "k", "1", "5"}, ":3\r\n"},
		{ref("k"), kvOne},
		{[]string{"SET", "k", "7"}, kvOK},
		{[]string{"INCRBYFLOAT", "k", "1"}, kvBulk("8")},
		{ref("k"), kvOne},
		{[]string{"SET", "k", "77"}, kvOK},
		{[]string{"COPY", "k", "c"}, kvOne},
		{ref("c"), kvOne},
		{ref("k"), shared},
		{[]string{"SET", "b", "1"}, kvOK},
		{[]string{"SETBIT", "b", "7", "0"}, kvOne},
		{ref("b"), kvOne},
		{[]string{"SET", "b", "1"}, kvOK},
		{[]string{"BITFIELD", "b", "SET", "u8", "0", "48"}, "*1\r\n:49\r\n"},
		{ref("b"), kvOne},
		{[]string{"SET", "c", "5"}, kvOK},
		{[]string{"BITOP", "AND", "d", "c", "c"}, kvOne},
		{ref("d"), kvOne},
		// Still shared where Redis shares.
		{[]string{"SETNX", "n", "5"}, kvOne},
		{ref("n"), shared},
		{[]string{"GETSET", "n", "6"}, kvBulk("5")},
		{ref("n"), shared},
		{[]string{"SETEX", "e", "100", "42"}, kvOK},
		{ref("e"), shared},
		{[]string{"MSETNX", "m1", "1", "m2", "2"}, kvOne},
		{ref("m2"), shared},
		{[]string{"MSET", "m3", "3"}, kvOK},
		{ref("m3"), shared},
		{[]string{"SET", "i", "41"}, kvOK},
		{[]string{"INCR", "i"}, ":42\r\n"},
		{ref("i"), shared},
		{[]string{"RENAME", "i", "i2"}, kvOK},
		{ref("i2"), shared},
	})
}

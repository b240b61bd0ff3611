package conn

import (
	"context"
	"testing"
)

// DEBUG POPULATE of a count or value size that cannot fit in the machine's
// memory is refused as Redis refuses a table it cannot allocate, instead
// of holding every shard while memory fills (a count) or panicking in the
// allocation and dropping the connection (a size); sane sizes still run.
func TestDebugPopulateRefusesWhatCannotFit(t *testing.T) {
	if infoTotalMemory() <= 0 {
		t.Skip("no /proc/meminfo")
	}
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	rdb := newClient2(t, addr, 2)
	for _, args := range [][]any{
		{"DEBUG", "POPULATE", "9223372036854775807"},
		{"DEBUG", "POPULATE", "1000000000000"},
		{"DEBUG", "POPULATE", "1", "big", "1000000000000000"},
		{"DEBUG", "POPULATE", "2", "big", "9223372036854775807"},
	} {
		if err := rdb.Do(ctx, args...).Err(); err == nil || err.Error() != "ERR OOM in dictTryExpand" {
			t.Fatalf("%v: %v, want ERR OOM in dictTryExpand", args, err)
		}
	}
	if err := rdb.Do(ctx, "DEBUG", "POPULATE", "1000", "k", "100").Err(); err != nil {
		t.Fatal(err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 1000 {
		t.Fatalf("DBSIZE = %d", n)
	}
}

func TestPopulateTooBig(t *testing.T) {
	const gb = 1 << 30
	for _, c := range []struct {
		count, prefix, size, total int64
		want                       bool
	}{
		{1000, 3, 0, 16 * gb, false},
		{100_000_000, 3, 0, 16 * gb, false},
		{1_000_000_000, 3, 0, 16 * gb, true},
		{1, 3, 17 * gb, 16 * gb, true},
		{1 << 62, 3, 1 << 62, 16 * gb, true},
		{1 << 62, 3, 0, 0, false}, // unknown memory: as before
		{0, 3, 1 << 62, 16 * gb, false},
	} {
		if got := populateTooBig(c.count, c.prefix, c.size, c.total); got != c.want {
			t.Errorf("populateTooBig(%d, %d, %d, %d) = %v", c.count, c.prefix, c.size, c.total, got)
		}
	}
}

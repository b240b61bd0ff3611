package conn

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// hashWant fails the test unless got (with err nil) is want.
func hashWant(t *testing.T, what string, got []string, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// hashEncoding is OBJECT ENCODING key.
func hashEncoding(t *testing.T, rdb *redis.Client, key string) string {
	t.Helper()
	enc, err := rdb.ObjectEncoding(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("OBJECT ENCODING %s: %v", key, err)
	}
	return enc
}

// A small hash answers in insertion order, as Redis's listpack does: HSET
// of an existing field updates it in place, HDEL closes the gap, and
// HGETALL, HKEYS, HVALS, HSCAN and HRANDFIELD (count at least the size)
// follow that order. Keys on every shard.
func TestHashSmallKeepsInsertionOrder(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()

	for k := 0; k < 16; k++ {
		key := "order:" + strconv.Itoa(k)
		var fields, values []string
		for i := 0; i < 20; i++ {
			// Field names in no sorted order, so no map or sort gives it.
			f := strconv.Itoa((i*7919+k)%1000) + "f"
			fields = append(fields, f)
			values = append(values, "v"+strconv.Itoa(i))
		}
		args := []any{}
		for i := range fields {
			args = append(args, fields[i], values[i])
		}
		if err := rdb.HSet(ctx, key, args...).Err(); err != nil {
			t.Fatal(err)
		}
		// Update two in place, delete two, add one back at the end.
		values[3], values[11] = "updated3", "updated11"
		if err := rdb.HSet(ctx, key, fields[11], values[11], fields[3], values[3]).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := rdb.HDel(ctx, key, fields[0], fields[7], "nosuch").Result(); err != nil || n != 2 {
			t.Fatalf("HDEL = %d, %v", n, err)
		}
		gone0, gone0v := fields[0], "back"
		fields = slices.Delete(fields, 7, 8)
		values = slices.Delete(values, 7, 8)
		fields, values = append(fields[1:], gone0), append(values[1:], gone0v)
		if err := rdb.HSet(ctx, key, gone0, gone0v).Err(); err != nil {
			t.Fatal(err)
		}

		var flat []string
		for i := range fields {
			flat = append(flat, fields[i], values[i])
		}
		got, err := rdb.Do(ctx, "HGETALL", key).StringSlice()
		hashWant(t, "HGETALL "+key, got, err, flat...)
		got, err = rdb.HKeys(ctx, key).Result()
		hashWant(t, "HKEYS "+key, got, err, fields...)
		got, err = rdb.HVals(ctx, key).Result()
		hashWant(t, "HVALS "+key, got, err, values...)
		for _, count := range []int64{1, 5, 100} {
			got, cur, err := rdb.HScan(ctx, key, 0, "", count).Result()
			if cur != 0 {
				t.Fatalf("HSCAN %s 0 COUNT %d: cursor %d, want the whole hash at once", key, count, cur)
			}
			hashWant(t, "HSCAN "+key, got, err, flat...)
		}
		got, err = rdb.HRandField(ctx, key, 100).Result()
		hashWant(t, "HRANDFIELD "+key+" 100", got, err, fields...)
		got, err = rdb.Do(ctx, "HRANDFIELD", key, len(fields), "WITHVALUES").StringSlice()
		hashWant(t, "HRANDFIELD "+key+" WITHVALUES", got, err, flat...)

		// A share of at most a third is picked in one pass over the
		// listpack: distinct fields, in hash order.
		pos := map[string]int{}
		for i, f := range fields {
			pos[f] = i
		}
		for try := 0; try < 5; try++ {
			got, err = rdb.HRandField(ctx, key, 6).Result()
			if err != nil || len(got) != 6 {
				t.Fatalf("HRANDFIELD %s 6 = %q, %v", key, got, err)
			}
			for i := 1; i < len(got); i++ {
				if pos[got[i-1]] >= pos[got[i]] {
					t.Fatalf("HRANDFIELD %s 6 = %q: not in hash order %q", key, got, fields)
				}
			}
		}

		// COPY and DUMP/RESTORE keep the order (and the encoding).
		dst := "copy:" + strconv.Itoa(k)
		if err := rdb.Copy(ctx, key, dst, 0, false).Err(); err != nil {
			t.Fatal(err)
		}
		got, err = rdb.Do(ctx, "HGETALL", dst).StringSlice()
		hashWant(t, "HGETALL "+dst, got, err, flat...)
		payload, err := rdb.Dump(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		dst = "restored:" + strconv.Itoa(k)
		if err := rdb.Restore(ctx, dst, 0, payload).Err(); err != nil {
			t.Fatal(err)
		}
		got, err = rdb.Do(ctx, "HGETALL", dst).StringSlice()
		hashWant(t, "HGETALL "+dst, got, err, flat...)
		if enc := hashEncoding(t, rdb, dst); enc != "listpack" {
			t.Fatalf("OBJECT ENCODING %s = %s", dst, enc)
		}
	}
}

// A hash converts to a hashtable, for good, once it has more fields than
// hash-max-listpack-entries or a field or value longer than
// hash-max-listpack-value; both are settable under their ziplist names too.
func TestHashListpackConversion(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	config := func(name, value string) {
		t.Helper()
		if err := rdb.ConfigSet(ctx, name, value).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s: %v", name, value, err)
		}
	}
	fill := func(key string, n, valueLen int) {
		t.Helper()
		args := []any{}
		for i := 0; i < n; i++ {
			args = append(args, "f"+strconv.Itoa(i), strings.Repeat("v", valueLen))
		}
		if err := rdb.HSet(ctx, key, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(key, want string) {
		t.Helper()
		if enc := hashEncoding(t, rdb, key); enc != want {
			t.Fatalf("OBJECT ENCODING %s = %s, want %s", key, enc, want)
		}
	}

	// Redis 7.0's defaults: 512 entries, 64 bytes.
	fill("d:entries", 512, 1)
	expect("d:entries", "listpack")
	fill("d:entries", 513, 1)
	expect("d:entries", "hashtable")
	fill("d:value", 3, 64)
	expect("d:value", "listpack")
	fill("d:value", 1, 65)
	expect("d:value", "hashtable")
	if err := rdb.HSet(ctx, "d:field", strings.Repeat("f", 65), "v").Err(); err != nil {
		t.Fatal(err)
	}
	expect("d:field", "hashtable")
	// Never back, even once it is small again.
	if err := rdb.HDel(ctx, "d:value", "f0", "f1").Err(); err != nil {
		t.Fatal(err)
	}
	expect("d:value", "hashtable")

	for _, names := range [][2]string{
		{"hash-max-listpack-entries", "hash-max-listpack-value"},
		{"hash-max-ziplist-entries", "hash-max-ziplist-value"},
	} {
		p := names[0] + ":"
		config(names[0], "4")
		config(names[1], "8")
		fill(p+"e", 4, 8)
		expect(p+"e", "listpack")
		fill(p+"e", 5, 8)
		expect(p+"e", "hashtable")
		fill(p+"v", 2, 9)
		expect(p+"v", "hashtable")
		// HINCRBYFLOAT converts when its result is too long.
		if err := rdb.HSet(ctx, p+"i", "n", "1").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.HIncrByFloat(ctx, p+"i", "n", 0.125).Err(); err != nil {
			t.Fatal(err)
		}
		expect(p+"i", "listpack")
		if err := rdb.HIncrByFloat(ctx, p+"i", "n", 1e-9).Err(); err != nil {
			t.Fatal(err)
		}
		expect(p+"i", "hashtable")
		// A hashtable's HSCAN pages with a cursor; order aside, every
		// field comes back once.
		config(names[0], "512")
		config(names[1], "64")
		fill(p+"big", 600, 3)
		expect(p+"big", "hashtable")
		seen := map[string]bool{}
		var cur uint64
		for calls := 0; ; calls++ {
			kv, next, err := rdb.HScan(ctx, p+"big", cur, "", 50).Result()
			if err != nil || calls > 100 {
				t.Fatalf("HSCAN: %v after %d calls", err, calls)
			}
			for i := 0; i < len(kv); i += 2 {
				seen[kv[i]] = true
			}
			if cur = next; cur == 0 {
				if calls == 0 {
					t.Fatal("HSCAN of a hashtable returned everything in one call")
				}
				break
			}
		}
		if len(seen) != 600 {
			t.Fatalf("HSCAN saw %d fields, want 600", len(seen))
		}
	}
	if v, err := rdb.ConfigGet(ctx, "hash-max-listpack-*").Result(); err != nil ||
		v["hash-max-listpack-entries"] != "512" || v["hash-max-listpack-value"] != "64" {
		t.Fatalf("CONFIG GET = %v, %v", v, err)
	}
}

// Values a compact hash hands out to be kept (SORT ... GET h->f STORE) are
// copies: changing the hash in place afterwards leaves the stored list
// alone.
func TestHashSortStoreDoesNotAlias(t *testing.T) {
	_, addr := startServer(t, 1)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	if err := rdb.RPush(ctx, "ids", "1", "2").Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2"} {
		if err := rdb.HSet(ctx, "h_"+id, "name", "name-"+id, "w", id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	n, err := rdb.SortStore(ctx, "ids", "dst", &redis.Sort{By: "h_*->w", Get: []string{"h_*->name"}}).Result()
	if err != nil || n != 2 {
		t.Fatalf("SORT STORE = %d, %v", n, err)
	}
	// Same length: rewritten in place in the compact hash.
	if err := rdb.HSet(ctx, "h_1", "name", "NAME-1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HDel(ctx, "h_2", "name").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := rdb.LRange(ctx, "dst", 0, -1).Result()
	hashWant(t, "LRANGE dst", got, err, "name-1", "name-2")
}

// HRANDFIELD on a listpack: negative counts draw with repeats, every draw a
// real pair; a positive count above a third of the hash gives distinct
// fields.
func TestHashRandFieldCompact(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	want := map[string]string{}
	args := []any{}
	for i := 0; i < 5; i++ {
		f, v := "f"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		want[f] = v
		args = append(args, f, v)
	}
	if err := rdb.HSet(ctx, "r", args...).Err(); err != nil {
		t.Fatal(err)
	}
	kv, err := rdb.Do(ctx, "HRANDFIELD", "r", -1000, "WITHVALUES").StringSlice()
	if err != nil || len(kv) != 2000 {
		t.Fatalf("HRANDFIELD r -1000 WITHVALUES: %d elements, %v", len(kv), err)
	}
	seen := map[string]bool{}
	for i := 0; i < len(kv); i += 2 {
		if want[kv[i]] != kv[i+1] {
			t.Fatalf("HRANDFIELD drew %q = %q", kv[i], kv[i+1])
		}
		seen[kv[i]] = true
	}
	if len(seen) != 5 {
		t.Fatalf("1000 draws saw %d of 5 fields", len(seen))
	}
	for try := 0; try < 20; try++ {
		got, err := rdb.HRandField(ctx, "r", 4).Result()
		if err != nil || len(got) != 4 {
			t.Fatalf("HRANDFIELD r 4 = %q, %v", got, err)
		}
		distinct := map[string]bool{}
		for _, f := range got {
			if _, ok := want[f]; !ok || distinct[f] {
				t.Fatalf("HRANDFIELD r 4 = %q", got)
			}
			distinct[f] = true
		}
	}
}

// The largest value CONFIG SET accepts for hash-max-listpack-entries and
// -value (2^63-1) means no limit, as in redis-server 7.0.15, not Redis's
// default: the shard stored limit+1 and read the overflow as "not set".
func TestHashListpackLimitsAtMax(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	for _, name := range []string{"hash-max-listpack-entries", "hash-max-listpack-value"} {
		if err := rdb.ConfigSet(ctx, name, "9223372036854775807").Err(); err != nil {
			t.Fatal(err)
		}
	}
	args := []any{}
	for i := 0; i < 600; i++ {
		args = append(args, "f"+strconv.Itoa(i), "v")
	}
	args = append(args, "long", strings.Repeat("x", 100))
	rdb.HSet(ctx, "h", args...)
	if got := rdb.ObjectEncoding(ctx, "h").Val(); got != "listpack" {
		t.Fatalf("600 fields and a 100-byte value under the largest limits: %s", got)
	}
}

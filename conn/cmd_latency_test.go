package conn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// latencyLine returns INFO latencystats' line for a command, "" if none.
func latencyLine(t *testing.T, rdb *redis.Client, cmd string) string {
	t.Helper()
	for _, l := range strings.Split(rdb.Info(context.Background(), "latencystats").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "latency_percentiles_usec_"+cmd+":"); ok {
			return v
		}
	}
	return ""
}

// INFO latencystats follows latency-tracking and its percentiles, covers
// data commands on every shard, connection commands and subcommands, and
// CONFIG RESETSTAT clears it (as Redis's unit/info checks); LATENCY
// HISTOGRAM gives each command's calls and a cumulative distribution.
func TestLatencyStats(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rdb.Close()
	pct := regexp.MustCompile(`^p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}$`)

	rdb.ConfigSet(ctx, "latency-tracking", "no")
	rdb.ConfigResetStat(ctx)
	rdb.Set(ctx, "a", "b", 0)
	if l := latencyLine(t, rdb, "set"); l != "" {
		t.Fatalf("tracking off, yet %q", l)
	}
	rdb.ConfigSet(ctx, "latency-tracking", "yes")
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		rdb.Set(ctx, k, "v", 0)
	}
	rdb.Do(ctx, "client", "id")
	rdb.BLPop(ctx, 10_000_000, "nolist") // times out after 10 ms
	for _, cmd := range []string{"set", `client|id`, "config|set", "blpop"} {
		if l := latencyLine(t, rdb, cmd); !pct.MatchString(l) {
			t.Fatalf("%s: %q", cmd, l)
		}
	}
	rdb.ConfigSet(ctx, "latency-tracking-info-percentiles", "0 50 100")
	if l := latencyLine(t, rdb, "set"); !regexp.MustCompile(`^p0=[\d.]+,p50=[\d.]+,p100=[\d.]+$`).MatchString(l) {
		t.Fatalf("custom percentiles: %q", l)
	}

	hist, err := rdb.Do(ctx, "latency", "histogram", "set", "nosuchcommand").Slice()
	if err != nil || len(hist) != 2 || hist[0] != "set" {
		t.Fatalf("LATENCY HISTOGRAM set: %v %v", hist, err)
	}
	body := hist[1].([]any)
	if body[0] != "calls" || body[1] != int64(8) || body[2] != "histogram_usec" {
		t.Fatalf("LATENCY HISTOGRAM set: %v", body)
	}
	points := body[3].([]any)
	if len(points) == 0 || len(points)%2 != 0 || points[len(points)-1] != int64(8) {
		t.Fatalf("histogram_usec %v must end at the 8 calls", points)
	}

	rdb.ConfigResetStat(ctx)
	if l := latencyLine(t, rdb, "set"); l != "" {
		t.Fatalf("after RESETSTAT: %q", l)
	}
}

// busyScript keeps a script (a "command" event) busy for a few
// milliseconds at least.
const busyScript = "local i = 0 while i < 1000000 do i = i + 1 end return i"

// The latency monitor, as Redis's unit/latency-monitor checks it: nothing
// is sampled while latency-monitor-threshold is 0; above it, slow
// commands run on connections ("command") and on shards ("fast-command"
// for those flagged fast) are sampled; LATEST, HISTORY, GRAPH, DOCTOR and
// RESET show and drop them with Redis's replies and errors; HISTOGRAM is
// not affected.
func TestLatencyMonitor(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rdb.Close()
	do := func(args ...any) *redis.Cmd {
		t.Helper()
		return rdb.Do(ctx, args...)
	}

	if v := rdb.ConfigGet(ctx, "latency-monitor-threshold").Val(); v["latency-monitor-threshold"] != "0" {
		t.Fatalf("default threshold %v", v)
	}
	if s := do("latency", "doctor").Val(); s != doctorDisabled {
		t.Fatalf("DOCTOR with the monitor off: %q", s)
	}
	do("eval", busyScript, 0)
	if l := do("latency", "latest").Val().([]any); len(l) != 0 {
		t.Fatalf("threshold 0 sampled %v", l)
	}

	// 5 ms: the busy script and the big LPUSH take longer, while the
	// test's other commands stay under it even with -race on a busy
	// machine (at 1 ms, a slow LATENCY LATEST added samples).
	if err := rdb.ConfigSet(ctx, "latency-monitor-threshold", "5").Err(); err != nil {
		t.Fatal(err)
	}
	if v := rdb.ConfigGet(ctx, "latency-monitor-threshold").Val(); v["latency-monitor-threshold"] != "5" {
		t.Fatalf("threshold %v", v)
	}
	quiet := doctorQuiet
	if anonHugePages() > 0 {
		quiet = "\nI have a few advices for you:\n\n" + adviceTHP
	}
	if s := do("latency", "doctor").Val(); s != quiet {
		t.Fatalf("DOCTOR with no events: %q", s)
	}

	before := time.Now().Unix()
	do("eval", busyScript, 0)
	after := time.Now().Unix()
	latest, err := do("latency", "latest").Slice()
	if err != nil || len(latest) != 1 {
		t.Fatalf("LATEST %v %v", latest, err)
	}
	ev := latest[0].([]any)
	if len(ev) != 4 || ev[0] != "command" || ev[1].(int64) < before || ev[1].(int64) > after ||
		ev[2].(int64) < 1 || ev[3] != ev[2] {
		t.Fatalf("LATEST %v", ev)
	}
	// Under -race another command of the test may pass the threshold
	// too: the script's sample is the latest, and the worst.
	hist, err := do("latency", "history", "command").Slice()
	if err != nil || len(hist) == 0 || fmt.Sprint(hist[len(hist)-1]) != fmt.Sprint(ev[1:3]) {
		t.Fatalf("HISTORY %v %v, want it to end with %v", hist, err, ev[1:3])
	}
	single := len(hist) == 1
	for _, name := range []string{"Command", "blabla"} { // exact names only
		if h := do("latency", "history", name).Val().([]any); len(h) != 0 {
			t.Fatalf("HISTORY %s: %v", name, h)
		}
		if err := do("latency", "graph", name).Err(); err == nil ||
			err.Error() != "ERR No samples available for event '"+name+"'" {
			t.Fatalf("GRAPH %s: %v", name, err)
		}
	}
	graph := do("latency", "graph", "command").Val().(string)
	head := fmt.Sprintf("command - high %d ms, low %d ms (all time high %d ms)\n%s\n", ev[2], ev[2], ev[3], strings.Repeat("-", 80))
	if rest, ok := strings.CutPrefix(graph, head); single && (!ok || !regexp.MustCompile(`^ \n \n \n_\n \n\d\ns\n$`).MatchString(rest)) {
		t.Fatalf("GRAPH %q", graph)
	}
	doc := do("latency", "doctor").Val().(string)
	want := regexp.MustCompile(`^Dave, I have observed latency spikes in this Redis instance\. You don't mind talking about it, do you Dave\?\n\n` +
		`1\. command: (\d+) latency spikes \(average (\d+)ms, mean deviation \d+ms, period [\d.]+ sec\)\. Worst all time event (\d+)ms\.\n` +
		`\nI have a few advices for you:\n\n` +
		`- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold\. Please use 'CONFIG SET slowlog-log-slower-than 5000'\.\n`)
	if m := want.FindStringSubmatch(doc); m == nil || m[1] != fmt.Sprint(len(hist)) || (single && m[2] != fmt.Sprint(ev[2])) || m[3] != fmt.Sprint(ev[3]) ||
		!strings.Contains(doc, adviceSlowInspect+adviceLargeObjects) {
		t.Fatalf("DOCTOR %q", doc)
	}

	// A fast command on a shard: one LPUSH of many elements.
	push := []any{"lpush", "biglist"}
	for i := range 500000 {
		push = append(push, i)
	}
	do(push...)
	names := map[string]bool{}
	for _, e := range do("latency", "latest").Val().([]any) {
		names[e.([]any)[0].(string)] = true
	}
	// A tick of active expiry preempted by the race detector on a loaded
	// machine may pass 5 ms too: it is the server's own, not the test's.
	delete(names, "expire-cycle")
	if !names["command"] || !names["fast-command"] || len(names) != 2 {
		t.Fatalf("LATEST events %v", names)
	}
	if doc := do("latency", "doctor").Val().(string); !strings.Contains(doc, ". fast-command: 1 latency spikes") ||
		!strings.Contains(doc, adviceScheduler) {
		t.Fatalf("DOCTOR %q", doc)
	}

	// HISTOGRAM is not the monitor's: it still counts.
	if h, err := do("latency", "histogram", "eval").Slice(); err != nil || len(h) != 2 ||
		h[1].([]any)[1] != int64(2) {
		t.Fatalf("HISTOGRAM eval %v %v", h, err)
	}

	if n := do("latency", "reset", "blabla").Val(); n != int64(0) {
		t.Fatalf("RESET blabla %v", n)
	}
	if n := do("latency", "reset", "COMMAND", "command").Val(); n != int64(1) {
		t.Fatalf("RESET COMMAND command %v", n)
	}
	// fast-command is left, and maybe an expire-cycle event (see above),
	// which may also come between LATEST and RESET.
	left := map[string]bool{}
	for _, e := range do("latency", "latest").Val().([]any) {
		left[e.([]any)[0].(string)] = true
	}
	if !left["fast-command"] || len(left) > 2 || len(left) == 2 && !left["expire-cycle"] {
		t.Fatalf("LATEST before RESET: %v", left)
	}
	if n := do("latency", "reset").Val(); n != int64(len(left)) && !(n == int64(len(left)+1) && !left["expire-cycle"]) {
		t.Fatalf("RESET %v, with %v left", n, left)
	}
	if l := do("latency", "latest").Val().([]any); len(l) != 0 {
		t.Fatalf("LATEST after RESET: %v", l)
	}
	if n := do("latency", "reset").Val(); n != int64(0) {
		t.Fatalf("RESET again %v", n)
	}

	rdb.ConfigSet(ctx, "latency-monitor-threshold", "0")
	do("eval", busyScript, 0)
	if l := do("latency", "latest").Val().([]any); len(l) != 0 {
		t.Fatalf("threshold 0 again sampled %v", l)
	}
	if s := do("latency", "doctor").Val(); s != doctorDisabled {
		t.Fatalf("DOCTOR off again: %q", s)
	}

	for _, c := range [][]any{{"latency", "history"}, {"latency", "latest", "x"}, {"latency", "graph"},
		{"latency", "doctor", "x"}, {"latency", "help", "xxx"}} {
		want := "ERR wrong number of arguments for 'latency|" + c[1].(string) + "' command"
		if err := do(c...).Err(); err == nil || err.Error() != want {
			t.Fatalf("%v: %v", c, err)
		}
	}
}

// RESP3 gets DOCTOR's and GRAPH's text as verbatim strings, RESP2 as bulk
// strings.
func TestLatencyMonitorRESP3(t *testing.T) {
	_, addr := startServer(t, 8)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	line := func() string {
		t.Helper()
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	nc.Write([]byte("LATENCY DOCTOR\r\n"))
	if l := line(); l != "$"+strconv.Itoa(len(doctorDisabled))+"\r\n" {
		t.Fatalf("RESP2 DOCTOR header %q", l)
	}
	line() // the text, whose one newline ends it
	line() // and the bulk's CRLF
	nc.Write([]byte("HELLO 3\r\nCONFIG SET latency-monitor-threshold 1\r\nEVAL \"" + busyScript + "\" 0\r\nPING\r\n"))
	for line() != "+PONG\r\n" { // skip HELLO's map and the rest
	}
	nc.Write([]byte("LATENCY DOCTOR\r\nLATENCY GRAPH command\r\n"))
	for _, what := range []string{"DOCTOR", "GRAPH"} {
		l := line()
		n, err := strconv.Atoi(strings.TrimSuffix(l[1:], "\r\n"))
		if l[0] != '=' || err != nil {
			t.Fatalf("RESP3 %s header %q", what, l)
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(body), "txt:") || !strings.HasSuffix(string(body), "\n\r\n") {
			t.Fatalf("RESP3 %s %q", what, body)
		}
	}
}

// GRAPH draws Redis's sparkline: these samples and this reply are Redis
// 7.0.15's (LATENCY HISTORY and LATENCY GRAPH command, a second after the
// last sample).
func TestLatencyGraphDrawing(t *testing.T) {
	ls := &latencySeries{event: shard.EventCommand, max: 6}
	for i, ms := range []int64{1, 3, 2, 6, 3, 4, 3, 1, 4, 5} {
		ls.samples = append(ls.samples, shard.LatencySample{Time: 1796432352 + int64(i), Ms: ms})
	}
	want := "command - high 6 ms, low 1 ms (all time high 6 ms)\n" +
		strings.Repeat("-", 80) + "\n" +
		"   #     _\n" +
		"   | o  o|\n" +
		" o |o|o ||\n" +
		"_|#||||_||\n" +
		"          \n" +
		"1987654321\n" +
		"0sssssssss\n" +
		"s         \n"
	if got := string(latencyGraph(ls, 1796432362)); got != want {
		t.Fatalf("graph\n%s\nwant\n%s", got, want)
	}
	// Older samples are labelled in minutes, hours and days; more than 80
	// columns wrap into blocks, a blank line between them.
	ls.samples = ls.samples[:0]
	for i := range 85 {
		ls.samples = append(ls.samples, shard.LatencySample{Time: 1000 + int64(i)*1000, Ms: 7})
	}
	got := string(latencyGraph(ls, 176000))
	blank80, blank5 := strings.Repeat(" ", 80), strings.Repeat(" ", 5)
	want = strings.Join([]string{"command - high 7 ms, low 7 ms (all time high 6 ms)", strings.Repeat("-", 80),
		blank80, blank80, blank80, strings.Repeat("_", 80), blank80,
		"222" + strings.Repeat("1", 77), strings.Repeat("d", 80), "",
		blank5, blank5, blank5, "_____", blank5, "11111", "ddddd", ""}, "\n")
	if got != want {
		t.Fatalf("wrapped graph:\n%s\nwant\n%s", got, want)
	}
	for secs, want := range map[int64]string{0: "0s", 59: "59s", 60: "1m", 3599: "59m", 3600: "1h", 86399: "23h", 86400: "1d", 200000: "2d"} {
		if got := agoLabel(secs); got != want {
			t.Fatalf("agoLabel(%d) = %q, want %q", secs, got, want)
		}
	}
}

// Merging keeps each second's worst and the newest 160 seconds.
func TestLatencyMergeSeconds(t *testing.T) {
	var in []shard.LatencySample
	for sec := int64(1); sec <= 200; sec++ {
		in = append(in, shard.LatencySample{Time: 1000 + sec, Ms: sec}, shard.LatencySample{Time: 1000 + sec, Ms: 500 - sec})
	}
	got := mergeSeconds(in)
	if len(got) != shard.LatencySamples || got[0].Time != 1041 || got[159].Time != 1200 ||
		got[0].Ms != 459 || got[159].Ms != 300 {
		t.Fatalf("merged %d: first %v last %v", len(got), got[0], got[len(got)-1])
	}
}

// Keys of one shard that all expire at once make that shard's expiry tick
// an "expire-cycle" event (Redis's "LATENCY of expire events are
// correctly collected").
func TestLatencyExpireCycleEvent(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rdb.Close()
	rdb.ConfigSet(ctx, "latency-monitor-threshold", "1")
	at := time.Now().Add(1500 * time.Millisecond).UnixMilli()
	pipe := rdb.Pipeline()
	for i, n := 0, 0; n < 60000; i++ {
		k := "e:" + strconv.Itoa(i)
		if shard.Owner([]byte(k), 8) != 3 {
			continue
		}
		pipe.Do(ctx, "set", k, "v", "pxat", at)
		n++
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Now().UnixMilli() >= at {
		t.Skip("the keys took too long to set")
	}
	deadline := time.Now().Add(10 * time.Second)
	for rdb.DBSize(ctx).Val() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var names []string
	for _, e := range rdb.Do(ctx, "latency", "latest").Val().([]any) {
		names = append(names, e.([]any)[0].(string))
	}
	if !slices.Contains(names, "expire-cycle") {
		t.Fatalf("LATEST events %v, want expire-cycle", names)
	}
}

// LATENCY HISTOGRAM of a container command gives each of its subcommands
// that ran (Redis's "LATENCY HISTOGRAM sub commands").
func TestLatencyHistogramSubcommands(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rdb.Close()
	rdb.ConfigResetStat(ctx)
	rdb.Do(ctx, "client", "id")
	rdb.Do(ctx, "client", "list")
	names := func(args ...any) []string {
		t.Helper()
		h, err := rdb.Do(ctx, append([]any{"latency", "histogram"}, args...)...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := 0; i < len(h); i += 2 {
			out = append(out, h[i].(string))
			if body := h[i+1].([]any); body[1] != int64(1) {
				t.Fatalf("%s: %v", h[i], body)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := names("client"); !slices.Equal(got, []string{"client|id", "client|list"}) {
		t.Fatalf("LATENCY HISTOGRAM client: %v", got)
	}
	if got := names("CLIENT|ID", "nosuch"); !slices.Equal(got, []string{"client|id"}) {
		t.Fatalf("LATENCY HISTOGRAM client|id: %v", got)
	}
}

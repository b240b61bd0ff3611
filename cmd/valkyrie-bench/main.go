package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// config holds the command-line flags.
type config struct {
	valkyrie, valkyrieArgs, redis, benchmark string
	build, noClamp                           bool
	tests                                    []string
	pipelines                                []int
	dataSizes                                []int // redis-benchmark -d
	clients, requests, rounds                int
	shards, tcpHandlers                      int
	memKeys, valueSize                       int
	memCollections                           []string // collTypes names
	memMembers                               int
	features                                 []string // featureNames
	featureRequests                          int
	portLo, portHi                           int
	serverCPUs, benchCPUs                    string // taskset CPU lists; empty: not pinned
	timeout, settle                          time.Duration
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "valkyrie-bench:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "valkyrie-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	var (
		c                                      config
		tests, pipelines, portRng, collections string
		dataSizes, pin                         string
	)
	fs := flag.NewFlagSet("valkyrie-bench", flag.ContinueOnError)
	fs.StringVar(&c.valkyrie, "valkyrie", "./valkyrie", "Valkyrie server `binary`")
	fs.BoolVar(&c.build, "build", false, "build ./cmd/valkyrie into a temp dir and use it instead of -valkyrie")
	fs.StringVar(&c.valkyrieArgs, "valkyrie-args", "", "override the `args` passed to the valkyrie binary; {port} is replaced by its port (for testing the tool with another server)")
	fs.StringVar(&c.redis, "redis", "redis-server", "redis-server `binary`")
	fs.StringVar(&c.benchmark, "benchmark", "redis-benchmark", "redis-benchmark `binary`")
	fs.StringVar(&tests, "tests", "set,get", "comma-separated redis-benchmark `tests`; \"default\" stands for every test redis-benchmark runs without -t")
	fs.StringVar(&dataSizes, "data-sizes", "3", "comma-separated value `sizes` in bytes (redis-benchmark -d; 3 is its default)")
	fs.IntVar(&c.clients, "clients", 50, "redis-benchmark parallel connections (-c)")
	fs.StringVar(&pipelines, "pipelines", "1,16,64", "comma-separated pipeline `depths` (-P)")
	fs.IntVar(&c.requests, "requests", 200000, "requests per redis-benchmark run (-n); 0 skips the throughput runs")
	fs.IntVar(&c.rounds, "rounds", 1, "repeat the throughput runs and report medians")
	fs.IntVar(&c.shards, "shards", 0, "pass --shards=N to valkyrie (0: its default)")
	fs.IntVar(&c.tcpHandlers, "tcp-handlers", 0, "pass --tcp-handlers=N to valkyrie (0: its default)")
	fs.BoolVar(&c.noClamp, "no-clamp", false, "pass --no-clamp to valkyrie")
	fs.IntVar(&c.memKeys, "mem-keys", 1000000, "keys to load for the memory comparison (0 disables)")
	fs.IntVar(&c.valueSize, "value-size", 16, "value size in bytes for the memory comparison")
	fs.StringVar(&collections, "mem-collections", "", "comma-separated collection `types` (hash, set, zset) to load for the collection memory comparison (empty disables)")
	fs.IntVar(&c.memMembers, "mem-members", 1000000, "members in the one key of each -mem-collections type")
	var features string
	fs.StringVar(&features, "features", "", "comma-separated feature benchmarks (tx1, txn, eval, pub1, pub100; empty disables)")
	fs.IntVar(&c.featureRequests, "feature-requests", 100000, "operations per feature benchmark")
	fs.StringVar(&portRng, "ports", "17000-17999", "loopback port `range` to pick server ports from")
	fs.StringVar(&pin, "pin", "", "`servers/benchmark` CPU lists, as taskset -c takes them: \"0/1\" runs both servers on CPU 0 and redis-benchmark on CPU 1 (empty: not pinned)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "overall time limit")
	fs.DurationVar(&c.settle, "settle", time.Second, "wait after loading keys before reading VmRSS")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if pin != "" {
		var ok bool
		if c.serverCPUs, c.benchCPUs, ok = strings.Cut(pin, "/"); !ok || c.serverCPUs == "" || c.benchCPUs == "" {
			return nil, fmt.Errorf("-pin: want SERVERS/BENCHMARK CPU lists, such as 0/1, not %q", pin)
		}
	}
	for _, f := range strings.Split(features, ",") {
		if f = strings.ToLower(strings.TrimSpace(f)); f == "" || slices.Contains(c.features, f) {
			continue
		}
		if !slices.Contains(featureNames, f) {
			return nil, fmt.Errorf("-features: unknown feature %q (want %s)", f, strings.Join(featureNames, ", "))
		}
		c.features = append(c.features, f)
	}

	for t := range strings.SplitSeq(tests, ",") {
		switch t = strings.ToLower(strings.TrimSpace(t)); t {
		case "":
		case "default":
			c.tests = append(c.tests, defaultTests...)
		default:
			c.tests = append(c.tests, t)
		}
	}
	for d := range strings.SplitSeq(dataSizes, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-data-sizes: bad size %q", d)
		}
		c.dataSizes = append(c.dataSizes, n)
	}
	for p := range strings.SplitSeq(pipelines, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-pipelines: bad depth %q", p)
		}
		c.pipelines = append(c.pipelines, n)
	}
	for t := range strings.SplitSeq(collections, ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t == "" || slices.Contains(c.memCollections, t) {
			continue
		}
		if _, ok := lookupColl(t); !ok {
			return nil, fmt.Errorf("-mem-collections: unknown type %q (want hash, set or zset)", t)
		}
		c.memCollections = append(c.memCollections, t)
	}
	lo, hi, ok := strings.Cut(portRng, "-")
	var err1, err2 error
	c.portLo, err1 = strconv.Atoi(lo)
	c.portHi, err2 = strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || c.portLo < 1 || c.portHi > 65535 || c.portLo > c.portHi {
		return nil, fmt.Errorf("-ports: want LO-HI, got %q", portRng)
	}
	switch {
	case c.requests < 0 || c.memKeys < 0:
		return nil, errors.New("-requests and -mem-keys must be >= 0")
	case c.requests > 0 && (len(c.tests) == 0 || len(c.pipelines) == 0 || len(c.dataSizes) == 0):
		return nil, errors.New("-tests, -pipelines and -data-sizes must not be empty")
	case c.clients < 1 || c.rounds < 1 || c.valueSize < 1:
		return nil, errors.New("-clients, -rounds and -value-size must be >= 1")
	case c.shards < 0 || c.tcpHandlers < 0:
		return nil, errors.New("-shards and -tcp-handlers must be >= 0")
	case len(c.memCollections) > 0 && c.memMembers < 1:
		return nil, errors.New("-mem-members must be >= 1 with -mem-collections")
	}
	return &c, nil
}

// defaultTests are the tests redis-benchmark runs when given no -t, in its
// order (LRANGE_* runs its own LPUSH to fill the list first).
var defaultTests = []string{"ping_inline", "ping_mbulk", "set", "get", "incr",
	"lpush", "rpush", "lpop", "rpop", "sadd", "hset", "spop", "zadd", "zpopmin",
	"lrange_100", "lrange_300", "lrange_500", "lrange_600", "mset"}

// bench holds the state of one invocation.
type bench struct {
	cfg     *config
	dir     string // temp dir: server working dirs, logs, built binary
	used    map[int]bool
	servers []*server
	out     io.Writer
}

// benchProgram is redis-benchmark, on its CPUs if -pin gave them.
func (b *bench) benchProgram() program {
	return program{bin: b.cfg.benchmark, cpus: b.cfg.benchCPUs}
}

func run(cfg *config) error {
	if runtime.GOOS != "linux" {
		return errors.New("needs Linux: CPU and memory are read from /proc")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	dir, err := os.MkdirTemp("", "valkyrie-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: cfg, dir: dir, used: map[int]bool{}, out: os.Stdout}
	defer b.killAll() // runs before RemoveAll

	if err := b.resolveBinaries(ctx); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "valkyrie: %s\nredis:    %s (%s)\nbenchmark: %s, %d CPUs\n",
		cfg.valkyrie, cfg.redis, version(ctx, cfg.redis), cfg.benchmark, runtime.NumCPU())
	if cfg.serverCPUs != "" {
		fmt.Fprintf(b.out, "pinned: servers on CPUs %s, redis-benchmark on CPUs %s\n", cfg.serverCPUs, cfg.benchCPUs)
	}

	if cfg.requests > 0 {
		if err := b.throughput(ctx); err != nil {
			return wrapCtx(ctx, err)
		}
	}
	if cfg.memKeys > 0 {
		if err := b.memory(ctx); err != nil {
			return wrapCtx(ctx, err)
		}
	}
	if len(cfg.memCollections) > 0 {
		if err := b.collMemory(ctx); err != nil {
			return wrapCtx(ctx, err)
		}
	}
	if len(cfg.features) > 0 {
		if err := b.features(ctx); err != nil {
			return wrapCtx(ctx, err)
		}
	}
	return nil
}

// wrapCtx explains errors caused by the timeout or a signal.
func wrapCtx(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("overall -timeout reached: %w", err)
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted: %w", err)
	}
	return err
}

// resolveBinaries builds Valkyrie if asked and checks every binary exists.
func (b *bench) resolveBinaries(ctx context.Context) error {
	c := b.cfg
	if c.build {
		c.valkyrie = filepath.Join(b.dir, "valkyrie")
		fmt.Fprintln(os.Stderr, "building ./cmd/valkyrie ...")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", c.valkyrie, "./cmd/valkyrie")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/valkyrie (run from the repository root): %w", err)
		}
	}
	for _, bin := range []struct {
		flag string
		path *string
		hint string
	}{
		{"-valkyrie", &c.valkyrie, "build it with `go build -o valkyrie ./cmd/valkyrie`, or pass -build"},
		{"-redis", &c.redis, "install redis-server (Debian package redis-server)"},
		{"-benchmark", &c.benchmark, "install redis-benchmark (Debian package redis-tools)"},
	} {
		p, err := exec.LookPath(*bin.path)
		if err != nil {
			return fmt.Errorf("%s binary %q not found: %v; %s, or pass %s PATH", bin.flag, *bin.path, err, bin.hint, bin.flag)
		}
		if p, err = filepath.Abs(p); err != nil {
			return err
		}
		*bin.path = p
	}
	return nil
}

// version returns the first line of `bin --version`, or "?".
func version(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// valkyrieArgs returns the arguments for the valkyrie binary.
func (b *bench) valkyrieArgs(port int) ([]string, error) {
	c := b.cfg
	p := strconv.Itoa(port)
	if c.valkyrieArgs != "" {
		args, err := splitArgs(c.valkyrieArgs)
		if err != nil {
			return nil, fmt.Errorf("-valkyrie-args: %w", err)
		}
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "{port}", p)
		}
		return args, nil
	}
	args := []string{"--address=127.0.0.1:" + p, "--log-level=warn"}
	if c.shards > 0 {
		args = append(args, "--shards="+strconv.Itoa(c.shards))
	}
	if c.tcpHandlers > 0 {
		args = append(args, "--tcp-handlers="+strconv.Itoa(c.tcpHandlers))
	}
	if c.noClamp {
		args = append(args, "--no-clamp")
	}
	return args, nil
}

// startPair starts fresh valkyrie and redis servers and waits for both.
func (b *bench) startPair(ctx context.Context, tag string) (v, r *server, err error) {
	c := b.cfg
	start := func(name, bin string, args func(int) ([]string, error)) (*server, error) {
		port, err := freePort(c.portLo, c.portHi, b.used)
		if err != nil {
			return nil, err
		}
		a, err := args(port)
		if err != nil {
			return nil, err
		}
		wd := filepath.Join(b.dir, name+"-"+tag)
		if err := os.Mkdir(wd, 0o755); err != nil {
			return nil, err
		}
		s, err := startServer(name, program{bin: bin, cpus: c.serverCPUs}, a, port, wd)
		if err != nil {
			return nil, err
		}
		b.servers = append(b.servers, s)
		return s, s.waitReady(ctx, 15*time.Second)
	}
	if v, err = start("valkyrie", c.valkyrie, b.valkyrieArgs); err != nil {
		return nil, nil, err
	}
	redisArgs := func(port int) ([]string, error) {
		return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no"}, nil
	}
	if r, err = start("redis", c.redis, redisArgs); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "[%s] valkyrie pid %d on %s, redis pid %d on %s\n",
		tag, v.pid(), v.addr(), r.pid(), r.addr())
	return v, r, nil
}

func (b *bench) killAll() {
	for _, s := range b.servers {
		s.kill()
	}
	b.servers = nil
}

// throughput runs every test at every pipeline depth against both servers,
// alternating between them, and prints the table.
func (b *bench) throughput(ctx context.Context) error {
	c := b.cfg
	v, r, err := b.startPair(ctx, "throughput")
	if err != nil {
		return err
	}
	type cell struct {
		test           string
		pipeline, size int
	}
	results := map[cell][2][]sample{} // [0] valkyrie, [1] redis
	for round := range c.rounds {
		for _, d := range c.dataSizes {
			for _, p := range c.pipelines {
				for _, t := range c.tests {
					// Swap who goes first each round so drift cancels out.
					order := []int{0, 1}
					if round%2 == 1 {
						order = []int{1, 0}
					}
					k := cell{t, p, d}
					res := results[k]
					for _, i := range order {
						s := [2]*server{v, r}[i]
						smp, err := benchOnce(ctx, b.benchProgram(), s, t, c.clients, p, d, c.requests)
						if err != nil {
							return err
						}
						fmt.Fprintf(os.Stderr, "round %d: %-4s P=%-3d d=%-5d %-8s %12.0f ops/s %7.3f µs CPU/req\n",
							round+1, t, p, d, s.name, smp.rps, smp.cpuUs)
						res[i] = append(res[i], smp)
					}
					results[k] = res
				}
			}
		}
	}
	v.kill()
	r.kill()

	fmt.Fprintf(b.out, "\nthroughput: redis-benchmark -c %d -n %d", c.clients, c.requests)
	if c.rounds > 1 {
		fmt.Fprintf(b.out, ", median of %d rounds", c.rounds)
	}
	// One clock tick spread over the run is the smallest CPU step we see.
	fmt.Fprintf(b.out, "; server CPU from /proc/PID/stat, resolution %.3f µs/req\n",
		1e6/clockTicks/float64(c.requests))
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "test\tsize\tpipeline\tvalkyrie ops/s\tredis ops/s\tratio\tvalkyrie µs CPU/req\tredis µs CPU/req\tCPU ratio\t")
	for _, d := range c.dataSizes {
		for _, t := range c.tests {
			for _, p := range c.pipelines {
				res := results[cell{t, p, d}]
				vr := median(res[0], func(s sample) float64 { return s.rps })
				rr := median(res[1], func(s sample) float64 { return s.rps })
				vc := median(res[0], func(s sample) float64 { return s.cpuUs })
				rc := median(res[1], func(s sample) float64 { return s.cpuUs })
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%s\t%.3f\t%.3f\t%s\t\n",
					strings.ToUpper(t), d, p, vr, rr, ratio(vr, rr), vc, rc, ratio(vc, rc))
			}
		}
	}
	return tw.Flush()
}

// memory loads the same keys into fresh servers and prints RSS per key.
func (b *bench) memory(ctx context.Context) error {
	c := b.cfg
	v, r, err := b.startPair(ctx, "memory")
	if err != nil {
		return err
	}
	var res [2]memResult
	for i, s := range []*server{v, r} {
		fmt.Fprintf(os.Stderr, "loading %d keys into %s ...\n", c.memKeys, s.name)
		if res[i], err = memLoad(ctx, s, c.memKeys, c.valueSize, c.settle); err != nil {
			return err
		}
	}
	v.kill()
	r.kill()

	fmt.Fprintf(b.out, "\nmemory: %d keys (key:%%012d), %d-byte values, VmRSS growth\n", c.memKeys, c.valueSize)
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tRSS before MiB\tRSS after MiB\tbytes/key\tDBSIZE\t")
	for i, name := range []string{"valkyrie", "redis"} {
		m := res[i]
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%d\t\n", name,
			float64(m.before)/(1<<20), float64(m.after)/(1<<20), m.perKey(c.memKeys), m.count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "bytes/key ratio (valkyrie/redis): %s\n",
		ratio(res[0].perKey(c.memKeys), res[1].perKey(c.memKeys)))
	for i, name := range []string{"valkyrie", "redis"} {
		if res[i].count != int64(c.memKeys) {
			fmt.Fprintf(b.out, "WARNING: %s DBSIZE %d, want %d\n", name, res[i].count, c.memKeys)
		}
	}
	return nil
}

// median returns the median of f over ss (mean of the middle two if even).
func median(ss []sample, f func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = f(s)
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 0 {
		return (xs[m-1] + xs[m]) / 2
	}
	return xs[m]
}

// ratio formats a/b, or "n/a" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

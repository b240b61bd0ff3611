package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string // nil: unbalanced
	}{
		{"save 900 1", []string{"save", "900", "1"}},
		{"  bind   127.0.0.1\t::1  ", []string{"bind", "127.0.0.1", "::1"}},
		{`save ""`, []string{"save", ""}},
		{`logfile ''`, []string{"logfile", ""}},
		{`requirepass "a b\"c\\d"`, []string{"requirepass", `a b"c\d`}},
		{`x "\x41\x4a\n\r\t\a\b\q"`, []string{"x", "AJ\n\r\t\a\bq"}},
		{`x "\x4g"`, []string{"x", "x4g"}},
		{`x 'it\'s' 'a\b'`, []string{"x", "it's", `a\b`}},
		{`x foo"bar baz"`, []string{"x", "foobar baz"}},
		{`x "open`, nil},
		{`x 'open`, nil},
		{`x "a"b`, nil},
		{`x 'a'b`, nil},
		{"", []string{}},
	} {
		got, ok := SplitArgs(tc.line)
		if tc.want == nil {
			if ok {
				t.Errorf("SplitArgs(%q) = %q, want unbalanced", tc.line, got)
			}
			continue
		}
		if !ok || !slices.Equal(got, tc.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tc.line, got, ok, tc.want)
		}
	}
}

func TestReprRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "nl\n\r\t\a\b", "\x00\x7f\xff é"} {
		r := Repr(s)
		got, ok := SplitArgs("x " + r)
		if !ok || len(got) != 2 || got[1] != s {
			t.Errorf("Repr(%q) = %s reads back as %q", s, r, got)
		}
	}
	if r := Repr("a\"b\n\x01"); r != `"a\"b\n\x01"` {
		t.Errorf("Repr = %s", r)
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "inc.conf", "maxmemory 2mb\nsave 60 5\n")
	p := writeFile(t, dir, "redis.conf", `# a comment
   # an indented comment

port 7000
save 900 1
save "300 10"
include `+filepath.Join(dir, "inc.conf")+`
client-output-buffer-limit normal 1mb 512kb 10 pubsub 64mb 16mb 30
requirepass "p a\"ss"
SLAVE-READ-ONLY no
list-max-ziplist-entries 512
bind 127.0.0.1 -::1
`)
	tb := New()
	if err := tb.LoadFile(FileOptions{Path: p}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"port":                       "7000",
		"save":                       "900 1 300 10 60 5",
		"maxmemory":                  "2097152",
		"client-output-buffer-limit": "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 67108864 16777216 30",
		"requirepass":                `p a"ss`,
		"replica-read-only":          "no",
		"bind":                       "127.0.0.1 -::1",
	} {
		if got := tb.Value(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !tb.Loaded("bind") || tb.Loaded("timeout") {
		t.Error("Loaded is wrong")
	}
}

func TestLoadFileSaveEmpty(t *testing.T) {
	for text, want := range map[string]string{
		"save \"\"\n":              "",
		"save 900 1\nsave ''\n":    "",
		"save ''\nsave 900 1\n":    "900 1",
		"port 1\n":                 "3600 1 300 100 60 10000",
		"save 1 2\nsave 3 4 5 6\n": "1 2 3 4 5 6",
	} {
		tb := New()
		if err := tb.LoadFile(FileOptions{Path: writeFile(t, t.TempDir(), "r.conf", text)}); err != nil {
			t.Fatal(err)
		}
		if got := tb.Value("save"); got != want {
			t.Errorf("%q: save = %q, want %q", text, got, want)
		}
	}
}

// TestLoadFileErrors: the text redis-server 7.0.15 prints, with the line
// number within the file (or past it, for command-line directives).
func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad-inc.conf", "\n\nhz abc\n")
	for _, tc := range []struct {
		text, options string
		line          int
		quote, reason string
	}{
		{"port 1\nsave \"\"\nbogus 1 2\n", "", 3, "bogus 1 2", "Bad directive or wrong number of arguments"},
		{"port 1\nmaxmemory  abc\n", "", 2, "maxmemory  abc", "argument must be a memory value"},
		{"port 1\nappendonly \"yes\n", "", 2, `appendonly "yes`, "Unbalanced quotes in configuration line"},
		{"port 1 2\n", "", 1, "port 1 2", "wrong number of arguments"},
		{"port\n", "", 1, "port", "wrong number of arguments"},
		{"save 900\n", "", 1, "save 900", "Invalid save parameters"},
		{"loglevel bogus\n", "", 1, "loglevel bogus", "argument(s) must be one of the following: debug, verbose, notice, warning"},
		{"client-output-buffer-limit normal 0 0\n", "", 1, "client-output-buffer-limit normal 0 0", "Wrong number of arguments in buffer limit configuration."},
		{"port 1\n", "port \"7720\" \nloglevel \"bogus\" ", 4, `loglevel "bogus"`, "argument(s) must be one of the following: debug, verbose, notice, warning"},
		{"port 1\ninclude " + filepath.Join(dir, "bad-inc.conf") + "\n", "", 3, "hz abc", "argument couldn't be parsed into an integer"},
	} {
		tb := New()
		err := tb.LoadFile(FileOptions{Path: writeFile(t, dir, "r.conf", tc.text), Options: tc.options})
		var le *LoadError
		if !errors.As(err, &le) {
			t.Errorf("%q: err = %v", tc.text, err)
			continue
		}
		want := "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line " +
			strconv.Itoa(tc.line) + "\n>>> '" + tc.quote + "'\n" + tc.reason + "\n"
		if le.Error() != want {
			t.Errorf("%q:\n got %q\nwant %q", tc.text, le.Error(), want)
		}
		if tb.Value("port") != "6379" {
			t.Errorf("%q: a failed load changed the table", tc.text)
		}
	}
	err := New().LoadFile(FileOptions{Path: filepath.Join(dir, "missing.conf")})
	if err == nil || !strings.HasPrefix(err.Error(), "Fatal error, can't open config file '"+dir) ||
		!strings.HasSuffix(err.Error(), "': No such file or directory") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadFileExtraDirectives(t *testing.T) {
	var got [][]string
	extra := map[string]Directive{"shards": func(args []string) string {
		got = append(got, args)
		if len(args) != 1 {
			return "wrong number of arguments"
		}
		return ""
	}}
	p := writeFile(t, t.TempDir(), "r.conf", "SHARDS 8\n")
	tb := New()
	if err := tb.LoadFile(FileOptions{Path: p, Options: "shards \"4\" ", Extra: extra}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0][0] != "8" || got[1][0] != "4" {
		t.Fatalf("extra directive got %q", got)
	}
	err := tb.LoadFile(FileOptions{Path: p, Options: "shards 1 2", Extra: extra})
	if err == nil || !strings.Contains(err.Error(), "at line 3\n>>> 'shards 1 2'\nwrong number of arguments") {
		t.Fatalf("err = %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		path, options string
	}{
		{[]string{"redis.conf"}, "redis.conf", ""},
		{[]string{"redis.conf", "--port", "7000"}, "redis.conf", `port "7000" `},
		{[]string{"--save", "900", "1", "--maxmemory", "1mb"}, "", "save \"900\" \"1\" \nmaxmemory \"1mb\" "},
		{[]string{"--save", "--port", "1"}, "", "save \"\"\nport \"1\" "},
		{[]string{"--port", "1", "--save"}, "", "port \"1\" \nsave \"\""},
		{[]string{"--requirepass", "--x", "--port", "1"}, "", "requirepass \"--x\" \nport \"1\" "},
		{[]string{"--port 7000", "--hz", "5"}, "", "port 7000 \nhz \"5\" "},
		{[]string{"--logfile", `a "b`}, "", `logfile "a \"b" `},
	} {
		path, options := CommandLine(tc.args)
		if path != tc.path || options != tc.options {
			t.Errorf("CommandLine(%q) = %q, %q; want %q, %q", tc.args, path, options, tc.path, tc.options)
		}
	}
	// And they load.
	_, options := CommandLine([]string{"--save", "900", "1", "--client-output-buffer-limit", "normal", "1mb", "1mb", "0", "--logfile", ""})
	tb := New()
	if err := tb.LoadFile(FileOptions{Options: options}); err != nil {
		t.Fatal(err)
	}
	if tb.Value("save") != "900 1" || !strings.HasPrefix(tb.Value("client-output-buffer-limit"), "normal 1048576 1048576 0 ") {
		t.Fatalf("save %q, obuf %q", tb.Value("save"), tb.Value("client-output-buffer-limit"))
	}
}

// TestHarnessDefaultConf: every directive of Redis's test-suite config is
// accepted.
func TestHarnessDefaultConf(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "default.conf", `always-show-logo yes
notify-keyspace-events KEA
daemonize no
pidfile /var/run/redis.pid
port 6379
timeout 0
bind 127.0.0.1
loglevel verbose
logfile ''
databases 16
latency-monitor-threshold 1
repl-diskless-sync-delay 0
save 900 1
rdbcompression yes
dbfilename dump.rdb
dir ./
slave-serve-stale-data yes
appendonly no
appendfsync everysec
no-appendfsync-on-rewrite no
activerehashing yes
enable-protected-configs yes
enable-debug-command yes
enable-module-command yes
propagation-error-behavior panic
unixsocket `+dir+`/socket
`)
	if err := New().LoadFile(FileOptions{Path: p}); err != nil {
		t.Fatal(err)
	}
}

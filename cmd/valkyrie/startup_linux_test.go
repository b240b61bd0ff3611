package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a valkyrie child started with redis-server style arguments; its
// stdout (the log) is collected line by line.
type proc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	exited chan struct{}
	mu     sync.Mutex
	out    []string
}

func startProc(t *testing.T, args string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainChildEnv+"="+args)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Dir = t.TempDir() // its RDB file, saved at shutdown, goes there; paths in args are absolute
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.mu.Unlock()
		}
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitLine waits for a log line containing s and returns it.
func (p *proc) waitLine(t *testing.T, s string) string {
	t.Helper()
	find := func() (string, bool, string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.out {
			if strings.Contains(l, s) {
				return l, true, ""
			}
		}
		return "", false, strings.Join(p.out, "\n")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if l, ok, _ := find(); ok {
			return l
		}
		select {
		case <-p.exited:
			// Every line is in once it has exited.
			l, ok, out := find()
			if !ok {
				t.Fatalf("exited (%v) before logging %q; log:\n%s\nstderr: %s", p.cmd.ProcessState, s, out, p.stderr.String())
			}
			return l
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no log line with %q", s)
	return ""
}

func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit")
	}
	return 0
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestStartFromConfigFile: started as `valkyrie redis.conf`, as Redis's
// test harness starts redis-server, it listens on the file's port and
// bind, writes the pidfile, logs the banner's " PID: <pid>" line and then
// "Ready to accept connections", and serves. The seed took no file at all.
func TestStartFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "redis.conf")
	os.WriteFile(conf, []byte("# harness-like\nalways-show-logo yes\nport "+strconv.Itoa(port)+
		"\nbind 127.0.0.1\nsave 900 1\nloglevel verbose\nlogfile ''\ndir "+dir+"\npidfile valkyrie.pid\n"+
		"unixsocket "+filepath.Join(dir, "socket")+"\nmaxmemory 1mb\nrename-command flushall \"\"\nrename-command flushdb badger\n"), 0o644)
	p := startProc(t, conf+" --maxmemory 2mb --hz 20")
	pid := strconv.Itoa(p.cmd.Process.Pid)
	p.waitLine(t, " PID: "+pid)
	p.waitLine(t, "Ready to accept connections")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if r := call(t, addr, "PING"); r != "+PONG" {
		t.Fatalf("PING = %q", r)
	}
	b, err := os.ReadFile(filepath.Join(dir, "valkyrie.pid"))
	if err != nil || string(b) != pid+"\n" {
		t.Fatalf("pidfile = %q, %v", b, err)
	}
	// The command line wins over the file; CONFIG GET shows both.
	for name, want := range map[string]string{"maxmemory": "2097152", "hz": "20", "save": "900 1", "port": strconv.Itoa(port)} {
		if got := configGet(t, addr, name); got != want {
			t.Errorf("CONFIG GET %s = %q, want %q", name, got, want)
		}
	}
	// rename-command.
	if r := call(t, addr, "FLUSHALL"); !strings.HasPrefix(r, "-ERR unknown command 'FLUSHALL'") {
		t.Errorf("FLUSHALL = %q", r)
	}
	if r := call(t, addr, "BADGER"); r != "+OK" {
		t.Errorf("BADGER = %q", r)
	}
	// The unix socket serves too.
	uc, err := net.Dial("unix", filepath.Join(dir, "socket"))
	if err != nil {
		t.Fatal(err)
	}
	uc.SetDeadline(time.Now().Add(5 * time.Second))
	uc.Write(resp("PING"))
	if l, _ := bufio.NewReader(uc).ReadString('\n'); l != "+PONG\r\n" {
		t.Fatalf("PING over the unix socket = %q", l)
	}
	uc.Close()
	// SIGTERM: a clean exit that removes the pidfile.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "valkyrie.pid")); !os.IsNotExist(err) {
		t.Fatalf("pidfile left behind: %v", err)
	}
}

// configGet returns a parameter's value.
func configGet(t *testing.T, addr, name string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(resp("CONFIG", "GET", name))
	rd := bufio.NewReader(nc)
	var lines []string
	for range 5 {
		l, _ := rd.ReadString('\n')
		lines = append(lines, strings.TrimSpace(l))
	}
	return lines[4]
}

// TestListenAddressInConfig: without a configuration file or a bind
// directive Valkyrie listens on 127.0.0.1 only, and CONFIG GET bind and
// port say where it listens, also under --address.
func TestListenAddressInConfig(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	p := startProc(t, "--port "+port)
	p.waitLine(t, "Ready to accept connections")
	if got := configGet(t, "127.0.0.1:"+port, "bind"); got != "127.0.0.1" {
		t.Errorf("bind = %q", got)
	}
	p = startProc(t, "--port 1 --address 127.0.0.1:0 --log-format json")
	line := p.waitLine(t, "valkyrie ready")
	p.waitLine(t, "Ready to accept connections") // loaded: no -LOADING
	addr := line[strings.Index(line, `"address":"`)+len(`"address":"`):]
	addr = addr[:strings.IndexByte(addr, '"')]
	_, aport, _ := net.SplitHostPort(addr)
	if got := configGet(t, addr, "port"); got != aport {
		t.Errorf("port = %q, listening on %s", got, addr)
	}
}

// TestPortInUse: a taken port stops start-up with status 1 and the line
// Redis's harness looks for to retry on another port.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	p := startProc(t, "--port "+port+" --bind 127.0.0.1")
	p.waitLine(t, "Warning: Could not create server TCP listening socket 127.0.0.1:"+port+": bind: Address already in use")
	p.waitLine(t, "Failed listening on port "+port+" (TCP), aborting.")
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

// TestBadConfigFile: an unknown directive stops start-up with Redis's
// text on stderr and status 1.
func TestBadConfigFile(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(conf, []byte("port 0\n\n  bogus   1 2\n"), 0o644)
	p := startProc(t, conf)
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	want := "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 3\n>>> 'bogus   1 2'\nBad directive or wrong number of arguments\n\n"
	if got := p.stderr.String(); got != want {
		t.Fatalf("stderr %q, want %q", got, want)
	}
	os.WriteFile(conf, []byte("rename-command nosuch x\n"), 0o644)
	p = startProc(t, conf)
	if code := p.exitCode(t); code != 1 || !strings.HasSuffix(p.stderr.String(), ">>> 'rename-command nosuch x'\nNo such command in rename-command\n\n") {
		t.Fatalf("bad rename-command: exit %d, stderr %q", code, p.stderr.String())
	}
	p = startProc(t, conf+"-missing")
	if code := p.exitCode(t); code != 1 || !strings.Contains(p.stderr.String(), "can't open config file") {
		t.Fatalf("missing file: exit %d, stderr %q", code, p.stderr.String())
	}
	p = startProc(t, "--daemonize yes")
	if code := p.exitCode(t); code != 1 || !strings.Contains(p.stderr.String(), "'daemonize yes' is not supported") {
		t.Fatalf("daemonize yes: exit %d, stderr %q", code, p.stderr.String())
	}
}

// TestShardsFromFileEnvAndFlag: shards comes from the file unless the
// environment variable or, above it, the flag says otherwise.
func TestShardsFromFileEnvAndFlag(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "r.conf")
	os.WriteFile(conf, []byte("shards 3\nno-clamp yes\nport 0\nbind 127.0.0.1\n"), 0o644)
	for _, tc := range []struct {
		args string
		env  []string
		want string
	}{
		{conf + " --address 127.0.0.1:0", nil, "shards=3"},
		{conf + " --address 127.0.0.1:0", []string{"VALKYRIE_SHARDS=5"}, "shards=5"},
		{conf + " --shards 4 --address 127.0.0.1:0", []string{"VALKYRIE_SHARDS=5"}, "shards=4"},
		{"--address=127.0.0.1:0 --shards=2 --no-clamp", nil, "shards=2"},
	} {
		p := startProc(t, tc.args, tc.env...)
		line := p.waitLine(t, "valkyrie ready")
		if !strings.Contains(line, " "+tc.want+" ") {
			t.Errorf("%q %q: %s", tc.args, tc.env, line)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.exitCode(t)
	}
}

func TestSplitArgs(t *testing.T) {
	redis, kong := splitArgs([]string{"redis.conf", "--port", "7000", "--shards", "8", "--no-clamp",
		"--save", "900", "1", "--address=127.0.0.1:1", "--log-level", "debug", "-h"})
	if !slices.Equal(redis, []string{"redis.conf", "--port", "7000", "--save", "900", "1"}) {
		t.Errorf("redis args %q", redis)
	}
	if !slices.Equal(kong, []string{"--shards", "8", "--no-clamp", "--address=127.0.0.1:1", "--log-level", "debug", "-h"}) {
		t.Errorf("kong args %q", kong)
	}
}

// TestUsersFromConfigFile: `user` lines define users at start-up, as in
// redis.conf; a bad one stops start-up with Redis's text; an aclfile is
// loaded too, but not together with user lines.
func TestUsersFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	conf := filepath.Join(dir, "redis.conf")
	os.WriteFile(conf, []byte("port "+port+"\nbind 127.0.0.1\nuser default on nopass ~* +@all -flushdb\nuser alice on >pw +get ~a*\n"), 0o644)
	p := startProc(t, conf)
	p.waitLine(t, "Ready to accept connections")
	addr := "127.0.0.1:" + port
	if r := call(t, addr, "FLUSHDB"); r != "-NOPERM this user has no permissions to run the 'flushdb' command" {
		t.Errorf("FLUSHDB = %q", r)
	}
	if r := call(t, addr, "ACL", "USERS"); r != "*2" {
		t.Errorf("ACL USERS = %q", r)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.exitCode(t)

	os.WriteFile(conf, []byte("port 0\nuser foo on ~* ~x\n"), 0o644)
	p = startProc(t, conf)
	want := "Error in user declaration 'on': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns\n\n"
	if code := p.exitCode(t); code != 1 || !strings.HasSuffix(p.stderr.String(), want) {
		t.Errorf("bad user line: exit %d, stderr %q", code, p.stderr.String())
	}

	acl := filepath.Join(dir, "users.acl")
	os.WriteFile(acl, []byte("user bob on nopass +ping\n"), 0o644)
	port = strconv.Itoa(freePort(t))
	os.WriteFile(conf, []byte("port "+port+"\nbind 127.0.0.1\naclfile "+acl+"\n"), 0o644)
	p = startProc(t, conf)
	p.waitLine(t, "Ready to accept connections")
	if r := call(t, "127.0.0.1:"+port, "ACL", "USERS"); r != "*2" {
		t.Errorf("ACL USERS with an aclfile = %q", r)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.exitCode(t)

	os.WriteFile(conf, []byte("port 0\naclfile "+acl+"\nuser x on\n"), 0o644)
	p = startProc(t, conf)
	if code := p.exitCode(t); code != 1 {
		t.Errorf("user lines and an aclfile together: exit %d", code)
	}
}

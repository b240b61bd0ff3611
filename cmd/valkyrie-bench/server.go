package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// server is one server process started by this tool.
type server struct {
	name    string
	port    int
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
	stop    sync.Once
}

// program is a binary to run, on the given CPUs (taskset's list, such as
// "0" or "0-1") when cpus is not empty.
type program struct {
	bin, cpus string
}

// command is exec.CommandContext for p with args.
func (p program) command(ctx context.Context, args ...string) *exec.Cmd {
	if p.cpus == "" {
		return exec.CommandContext(ctx, p.bin, args...)
	}
	return exec.CommandContext(ctx, "taskset", append([]string{"-c", p.cpus, p.bin}, args...)...)
}

// startServer runs bin with args in dir, logging to dir/name.log.
func startServer(name string, bin program, args []string, port int, dir string) (*server, error) {
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor

	cmd := bin.command(context.Background(), args...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin.bin, err)
	}
	s := &server{name: name, port: port, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

func (s *server) pid() int     { return s.cmd.Process.Pid }
func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// exited reports an error if the process is no longer running.
func (s *server) exited() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s exited (%v); its output:\n%s", s.name, s.waitErr, s.logTail())
	default:
		return nil
	}
}

// logTail returns the last lines of the server's output (the log file goes
// away with the temp dir, so errors quote it).
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(bytes.TrimSpace(b)) == 0 {
		return "  (no output)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}

// kill stops the process (if still running) and waits for it.
func (s *server) kill() {
	s.stop.Do(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// waitReady polls the server with PING until it answers +PONG.
func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if err := s.exited(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		reply, err := s.command(ctx, "PING")
		if err == nil && reply == "+PONG" {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("PING answered %q", reply)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s not answering PING after %v: %v; its output:\n%s",
				s.name, s.addr(), timeout, last, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// command sends one command on a fresh connection and returns the first
// line of the reply, without its CRLF.
func (s *server) command(ctx context.Context, args ...string) (string, error) {
	var line string
	err := s.exchange(ctx, args, func(r *bufio.Reader) error {
		l, err := r.ReadString('\n')
		line = strings.TrimRight(l, "\r\n")
		return err
	})
	return line, err
}

// bulk sends one command on a fresh connection and returns its bulk string
// reply.
func (s *server) bulk(ctx context.Context, args ...string) ([]byte, error) {
	var body []byte
	err := s.exchange(ctx, args, func(r *bufio.Reader) error {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		n, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "$")
		size, err := strconv.Atoi(n)
		if !ok || err != nil || size < 0 {
			return fmt.Errorf("%s answered %q", args[0], line)
		}
		body = make([]byte, size+2) // with the CRLF
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		body = body[:size]
		return nil
	})
	return body, err
}

// exchange writes args as one command on a fresh connection and lets read
// consume the reply.
func (s *server) exchange(ctx context.Context, args []string, read func(*bufio.Reader) error) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(appendCommand(nil, args...)); err != nil {
		return err
	}
	return read(bufio.NewReader(c))
}

// integer sends one command and returns its integer reply.
func (s *server) integer(ctx context.Context, args ...string) (int64, error) {
	reply, err := s.command(ctx, args...)
	if err != nil {
		return 0, err
	}
	n, ok := strings.CutPrefix(reply, ":")
	if !ok {
		return 0, fmt.Errorf("%s answered %q", args[0], reply)
	}
	return strconv.ParseInt(n, 10, 64)
}

// dbsize returns the server's DBSIZE.
func (s *server) dbsize(ctx context.Context) (int64, error) { return s.integer(ctx, "DBSIZE") }

// usedMemory returns used_memory from the server's INFO memory.
func (s *server) usedMemory(ctx context.Context) (int64, error) {
	info, err := s.bulk(ctx, "INFO", "memory")
	if err != nil {
		return 0, err
	}
	return infoField(info, "used_memory")
}

// infoField returns the integer field of an INFO reply body.
func infoField(info []byte, field string) (int64, error) {
	for line := range strings.SplitSeq(string(info), "\n") {
		v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), field+":")
		if !ok {
			continue
		}
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, fmt.Errorf("INFO has no %s field", field)
}

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

func appendBulk[T string | []byte](b []byte, s T) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// freePort returns a port in [lo, hi] on 127.0.0.1 that is free now and not
// in used.
func freePort(lo, hi int, used map[int]bool) (int, error) {
	for p := lo; p <= hi; p++ {
		if used[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		used[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d", lo, hi)
}

// splitArgs splits a command line on blanks, honouring '…' and "…" quotes
// (an empty pair of quotes yields an empty argument). There are no escapes.
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   []byte
		inArg bool
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur = append(cur, c)
			}
		case c == '\'' || c == '"':
			quote, inArg = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inArg {
				args = append(args, string(cur))
				cur, inArg = cur[:0], false
			}
		default:
			cur, inArg = append(cur, c), true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inArg {
		args = append(args, string(cur))
	}
	return args, nil
}

package main

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ack is one acknowledged write: the key, the value the server confirmed,
// and when the reply came.
type ack struct {
	key string
	val int64
	at  time.Time
}

// writeUntilKilled runs writers that INCR a counter of their own and SET a
// new key each turn, one command at a time, until the connection fails
// (the server was killed). It returns, per writer, the acknowledged
// writes in order.
func writeUntilKilled(t *testing.T, addr string, writers int, started chan<- struct{}) [][]ack {
	t.Helper()
	out := make([][]ack, writers)
	var wg sync.WaitGroup
	var once sync.Once
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer nc.Close()
			rd := bufio.NewReader(nc)
			counter := "counter:" + strconv.Itoa(w)
			for i := 0; ; i++ {
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				key := "k:" + strconv.Itoa(w) + ":" + strconv.Itoa(i)
				if _, err := nc.Write(append(resp("INCR", counter), resp("SET", key, strconv.Itoa(i))...)); err != nil {
					return
				}
				l1, err1 := rd.ReadString('\n')
				if err1 != nil || !strings.HasPrefix(l1, ":") {
					return
				}
				n, _ := strconv.ParseInt(strings.TrimSpace(l1[1:]), 10, 64)
				out[w] = append(out[w], ack{counter, n, time.Now()})
				l2, err2 := rd.ReadString('\n')
				if err2 != nil || l2 != "+OK\r\n" {
					return
				}
				out[w] = append(out[w], ack{key, int64(i), time.Now()})
				if i == 100 {
					once.Do(func() { close(started) })
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// killUnderWrites starts valkyrie with the AOF in dir, writes from several
// connections, kills it with SIGKILL mid-stream, restarts it on the same
// files and returns the acknowledged writes, when the kill came, and the
// restarted server.
func killUnderWrites(t *testing.T, dir string, fsync string) ([][]ack, time.Time, *child) {
	t.Helper()
	flags := []string{"--appendonly", "yes", "--appendfsync", fsync, "--dir", dir}
	c := startChild(t, false, flags...)
	started := make(chan struct{})
	var acks [][]ack
	done := make(chan struct{})
	go func() {
		acks = writeUntilKilled(t, c.addr, 8, started)
		close(done)
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the writers did not get going")
	}
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	c.cmd.Process.Kill()
	<-c.exited
	<-done
	return acks, killed, startChild(t, false, flags...)
}

// lostAcks returns the acknowledged writes the restarted server lacks.
func lostAcks(t *testing.T, addr string, acks [][]ack) []ack {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)
	var lost []ack
	for _, writes := range acks {
		for _, a := range writes {
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			nc.Write(resp("GET", a.key))
			head, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if head == "$-1\r\n" {
				lost = append(lost, a)
				continue
			}
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := strconv.ParseInt(strings.TrimSpace(line), 10, 64); v < a.val {
				lost = append(lost, a) // a counter went back
			}
		}
	}
	return lost
}

func countAcks(acks [][]ack) int {
	n := 0
	for _, a := range acks {
		n += len(a)
	}
	return n
}

// TestAOFAlwaysLosesNoAcknowledgedWrite: with appendfsync always, a
// SIGKILL under concurrent writes loses no write whose reply was sent.
func TestAOFAlwaysLosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	acks, _, c := killUnderWrites(t, dir, "always")
	if n := countAcks(acks); n < 1000 {
		t.Fatalf("only %d writes acknowledged before the kill", n)
	}
	if lost := lostAcks(t, c.addr, acks); len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged writes lost, e.g. %+v", len(lost), countAcks(acks), lost[0])
	}
	t.Logf("%d acknowledged writes, none lost", countAcks(acks))
}

// TestAOFEverysecLosesAtMostASecond: with appendfsync everysec, the writes
// lost to a SIGKILL are at most those of about the last second.
func TestAOFEverysecLosesAtMostASecond(t *testing.T) {
	dir := t.TempDir()
	acks, killed, c := killUnderWrites(t, dir, "everysec")
	if n := countAcks(acks); n < 1000 {
		t.Fatalf("only %d writes acknowledged before the kill", n)
	}
	lost := lostAcks(t, c.addr, acks)
	for _, a := range lost {
		if killed.Sub(a.at) > 1500*time.Millisecond {
			t.Fatalf("lost a write acknowledged %v before the kill: %+v", killed.Sub(a.at), a)
		}
	}
	t.Logf("%d acknowledged writes, %d lost", countAcks(acks), len(lost))
}

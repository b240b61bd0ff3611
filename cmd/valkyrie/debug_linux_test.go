package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestEnableDebugCommandFlag: DEBUG is refused by default, as in Redis,
// and --enable-debug-command yes allows it; CONFIG GET reports the value.
func TestEnableDebugCommandFlag(t *testing.T) {
	const refused = `-ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", ` +
		`you can run it from a local connection, otherwise you need to set this option in the configuration file, ` +
		`and then restart the server.`
	for _, c := range []struct {
		flags []string
		value string
		debug string
	}{
		{nil, "no", refused},
		{[]string{"--enable-debug-command", "yes"}, "yes", "+OK"},
		{[]string{"--enable-debug-command=local"}, "local", "+OK"}, // the test connects over loopback
		{[]string{"--enable-debug-command", "no"}, "no", refused},
	} {
		ch := startChild(t, false, c.flags...)
		if got := call(t, ch.addr, "DEBUG", "SLEEP", "0"); got != c.debug {
			t.Errorf("%v: DEBUG SLEEP 0 = %q, want %q", c.flags, got, c.debug)
		}
		if got := configValue(t, ch.addr, "enable-debug-command"); got != c.value {
			t.Errorf("%v: enable-debug-command = %q, want %q", c.flags, got, c.value)
		}
	}
}

// configValue is CONFIG GET name's value.
func configValue(t *testing.T, addr, name string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(resp("CONFIG", "GET", name))
	br := bufio.NewReader(nc)
	var lines []string
	for range 5 { // *2, then two bulk strings
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v after %q", name, err, lines)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
	return lines[4]
}

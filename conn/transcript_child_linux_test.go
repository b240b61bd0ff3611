package conn

import (
	"os/exec"
	"syscall"
)

// trChildAttr makes the kernel kill redis-server when the test process
// dies without running its cleanups (a panic, a timeout, SIGPIPE when its
// output is piped into head), so no server is left behind.
func trChildAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package main

import (
	"os/exec"
	"syscall"
)

// killWithParent asks the kernel to kill the server if this tool dies
// without running its cleanup (e.g. SIGKILL).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package conn

import "os/exec"

// trChildAttr does nothing here: only Linux can tie a child's life to ours.
func trChildAttr(cmd *exec.Cmd) {}

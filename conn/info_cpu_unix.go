//go:build unix

package conn

import "syscall"

// infoCPU reports the CPU time of the process and its children.
func infoCPU(b []byte, _ *infoCtx) []byte {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	b = infoSeconds(b, "used_cpu_sys", self.Stime.Nano())
	b = infoSeconds(b, "used_cpu_user", self.Utime.Nano())
	b = infoSeconds(b, "used_cpu_sys_children", children.Stime.Nano())
	return infoSeconds(b, "used_cpu_user_children", children.Utime.Nano())
}

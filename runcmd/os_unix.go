//go:build unix

package runcmd

import (
	"os/exec"
	"syscall"
)

// inOwnGroup runs cmd in a process group of its own, which its context
// kills whole: a script's children go with it.
func inOwnGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

//go:build unix

package hooks

import (
	"os"
	"os/exec"
	"syscall"
)

// inOwnGroup runs cmd in a process group of its own, which its timeout
// kills whole: a script's children go with it.
func inOwnGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// lockFile takes an exclusive lock on f without waiting; closing f (or
// the process's end) releases it.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

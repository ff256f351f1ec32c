//go:build unix

package testbed_test

import (
	"os/exec"
	"syscall"
)

// killGroup makes cmd run in a process group of its own and kills the whole
// group when its context ends: `git clone` runs git-remote-http as a child,
// which would otherwise keep the output pipe open past the kill.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

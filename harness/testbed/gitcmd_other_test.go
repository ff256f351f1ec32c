//go:build !unix

package testbed_test

import "os/exec"

// killGroup leaves cmd as it is: without process groups only git itself is
// killed (cmd.WaitDelay then bounds the wait for its children).
func killGroup(cmd *exec.Cmd) {}

package target

import "os"

// PIDer is a target whose root process is known on this machine: its
// process tree can be inspected (harness/forensics).
type PIDer interface {
	// PID is the root process id (0 when unknown or stopped). For an
	// in-process target it is the harness's own pid.
	PID() int
}

// PID implements PIDer: the harness's own process.
func (t *inProcess) PID() int { return os.Getpid() }

// PID implements PIDer: --target-pid (0 when not given).
func (t *urlTarget) PID() int { return t.f.PID }

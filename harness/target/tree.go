package target

import (
	"fmt"
	"os"
	"sync"

	"github.com/gitchaos/gitchaos/harness/proctree"
)

// ProcessLister is a target whose processes besides its root can be
// listed: workers, git children and helpers, zombies included. The
// timeout gate compares them before and after a hang.
type ProcessLister interface {
	// Processes lists the target's processes but its root (the harness
	// process itself, for an in-process target).
	Processes() ([]proctree.Proc, error)
	// ProcessScope says what Processes covers, for check explanations.
	ProcessScope() string
}

// DirWatcher is a target with dirs beyond its base dir whose disk use
// counts as its own (an exec target's TMPDIR, a URL target's
// --target-watch-dir).
type DirWatcher interface {
	WatchDirs() []string
}

var (
	inProcessOnce   sync.Once
	inProcessMarker string
)

// InProcessMarker is the proctree.Marker entry this process puts in its
// own environment the first time an in-process target starts, so every
// child it starts with the inherited environment (the git commands of a
// fetcher running in this process) can be found. The testbed's git
// http-backend CGI children get an environment built from scratch
// (net/http/cgi) and do not carry it. Exec targets get their own marker,
// which replaces this one in their environment.
func InProcessMarker() string {
	inProcessOnce.Do(func() {
		id := fmt.Sprintf("gitchaos-inprocess-%d", os.Getpid())
		if err := os.Setenv(proctree.MarkerVar, id); err == nil {
			inProcessMarker = proctree.Marker(id)
		}
	})
	return inProcessMarker
}

// without drops the process pid from procs.
func without(procs []proctree.Proc, pid int) []proctree.Proc {
	out := procs[:0:0]
	for _, p := range procs {
		if p.PID != pid {
			out = append(out, p)
		}
	}
	return out
}

// Processes implements ProcessLister: the process's descendants and every
// process carrying its marker.
func (t *execTarget) Processes() ([]proctree.Proc, error) {
	pid := t.PID()
	procs, err := proctree.Tree(pid, t.marker)
	if err != nil {
		return nil, err
	}
	return without(procs, pid), nil
}

// ProcessScope implements ProcessLister.
func (t *execTarget) ProcessScope() string {
	return "descendants of the target process and processes carrying " + t.marker
}

// WatchDirs implements DirWatcher.
func (t *execTarget) WatchDirs() []string { return []string{t.tmp} }

// Processes implements ProcessLister: the processes carrying this
// process's in-process marker (children of the fetcher; the testbed's are
// not marked).
func (t *inProcess) Processes() ([]proctree.Proc, error) {
	m := InProcessMarker()
	if m == "" {
		return nil, fmt.Errorf("in-process target: no process marker: %w", ErrUnsupported)
	}
	return proctree.Tree(0, m)
}

// ProcessScope implements ProcessLister.
func (t *inProcess) ProcessScope() string {
	return "children of this process carrying " + InProcessMarker() + " (the testbed's git http-backend children do not)"
}

// Processes implements ProcessLister: the server's descendants when its
// pid is known.
func (t *urlTarget) Processes() ([]proctree.Proc, error) {
	if t.f.PID <= 0 {
		return nil, fmt.Errorf("url target without --target-pid: its processes are unknown: %w", ErrUnsupported)
	}
	procs, err := proctree.Tree(t.f.PID, "")
	if err != nil {
		return nil, err
	}
	return without(procs, t.f.PID), nil
}

// ProcessScope implements ProcessLister.
func (t *urlTarget) ProcessScope() string {
	return fmt.Sprintf("descendants of pid %d", t.f.PID)
}

// WatchDirs implements DirWatcher.
func (t *urlTarget) WatchDirs() []string { return t.f.WatchDirs }

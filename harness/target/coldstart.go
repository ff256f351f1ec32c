package target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ColdStarter is a target the harness started and can start cold: the
// boot gate's deterministic cold start, with no race against syncs the
// target still runs in the background.
type ColdStarter interface {
	// ColdStart stops the target, removes its clone state (everything
	// under <base dir>/git_sources and in its temp dir; the scope store
	// stays), runs between while it is down (faults, counter resets; nil:
	// nothing), then starts it again without waiting for it to answer.
	// It returns when the process was spawned: the boot clock's zero. The
	// target may not listen until its boot sync ends.
	ColdStart(ctx context.Context, between func(context.Context) error) (time.Time, error)
}

// ExitReporter is a process target that can say it exited on its own.
type ExitReporter interface {
	// Exited describes how the process exited without the harness
	// stopping it, with the last lines of its logs ("" while it runs or
	// when the harness stopped it).
	Exited() string
}

// clearCloneState empties git_sources under base and every entry of the
// given dirs (not the dirs themselves: the target may hold them open).
func clearCloneState(base string, dirs ...string) error {
	errs := []error{os.RemoveAll(filepath.Join(base, "git_sources"))}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		ents, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, e := range ents {
			errs = append(errs, os.RemoveAll(filepath.Join(d, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clear clone state under %s: %w", base, err)
	}
	return nil
}

// ColdStart implements ColdStarter.
func (t *execTarget) ColdStart(ctx context.Context, between func(context.Context) error) (time.Time, error) {
	if err := t.stop(false); err != nil {
		return time.Time{}, fmt.Errorf("exec target: cold start: %w", err)
	}
	t.client.CloseIdleConnections()
	if err := clearCloneState(t.dir, t.tmp); err != nil {
		return time.Time{}, fmt.Errorf("exec target: cold start: %w", err)
	}
	if between != nil {
		if err := between(ctx); err != nil {
			return time.Time{}, err
		}
	}
	if err := t.start(ctx, false); err != nil {
		return time.Time{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spawned, nil
}

// noteExit records an exit the harness did not ask for (stop clears
// t.cmd before it signals).
func (t *execTarget) noteExit(cmd *exec.Cmd, logBase string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cmd != cmd {
		return
	}
	t.exited = fmt.Sprintf("%q exited on its own (%s)\nlast lines of %s:\n%s\nlast lines of %s:\n%s",
		strings.Join(t.args, " "), cmd.ProcessState,
		filepath.Base(logBase+".stderr.log"), lastLines(logBase+".stderr.log", 15),
		filepath.Base(logBase+".stdout.log"), lastLines(logBase+".stdout.log", 5))
}

// Exited implements ExitReporter.
func (t *execTarget) Exited() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exited
}

// lastLines returns the last n lines of a file, at most 4 KiB.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return "(empty)"
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ColdStart implements ColdStarter: the server is closed, its clones
// removed, and a new one starts on the same base dir; the clock starts
// when the new server is made.
func (t *inProcess) ColdStart(ctx context.Context, between func(context.Context) error) (time.Time, error) {
	if err := t.stop(); err != nil {
		return time.Time{}, fmt.Errorf("in-process target: cold start: %w", err)
	}
	if err := clearCloneState(t.dir); err != nil {
		return time.Time{}, fmt.Errorf("in-process target: cold start: %w", err)
	}
	if between != nil {
		if err := between(ctx); err != nil {
			return time.Time{}, err
		}
	}
	t0 := time.Now()
	return t0, t.start(ctx)
}

package target

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gitchaos/gitchaos/harness/proctree"
)

// stopGrace is how long a target's tree gets after SIGTERM.
const stopGrace = 10 * time.Second

// stop stops the target's whole process tree: the target, its descendants
// and every process carrying its marker (children in other sessions or
// process groups, re-parented orphans). The tree is walked before
// signalling, since the target's exit breaks its children's parent links.
// Without kill the tree gets SIGTERM and stopGrace; then (or at once with
// kill) whatever is left gets SIGKILL until nothing is left.
func (t *execTarget) stop(kill bool) error {
	t.mu.Lock()
	cmd, done := t.cmd, t.done
	t.cmd = nil
	t.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pid := cmd.Process.Pid
	exited := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	var errs []error
	if !kill {
		tree, err := proctree.Tree(pid, t.marker)
		if err != nil {
			errs = append(errs, err)
		}
		_ = syscall.Kill(-pid, syscall.SIGTERM) // the group, also what the walk missed
		if err := proctree.Signal(tree, syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		deadline := time.Now().Add(stopGrace)
		for {
			if exited() && treeGone(t.marker) {
				break
			}
			if time.Now().After(deadline) {
				if !exited() {
					errs = append(errs, fmt.Errorf("exec target: pid %d ignored SIGTERM for %v; killed", pid, stopGrace))
				}
				break
			}
			wake := done
			if exited() {
				wake = nil // closed: would not block
			}
			select {
			case <-wake:
			case <-time.After(20 * time.Millisecond): // poll interval, bounded by deadline
			}
		}
	}
	// SIGKILL whatever is left, walking again until nothing is. Once the
	// target is reaped its pid may be reused: find the rest by marker only.
	root := pid
	if exited() {
		root = 0
	}
	if err := proctree.Kill(root, proctree.KillOptions{Marker: t.marker, Exited: exited}); err != nil {
		errs = append(errs, fmt.Errorf("exec target: %w", err))
	}
	<-done
	return errors.Join(errs...)
}

// treeGone reports whether no live process carries marker.
func treeGone(marker string) bool {
	ps, err := proctree.Tree(0, marker)
	if err != nil {
		return false
	}
	for _, p := range ps {
		if !p.Zombie() {
			return false
		}
	}
	return true
}

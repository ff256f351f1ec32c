// Package proctree finds a process's whole tree on Linux: its descendants by
// parent links, plus processes that carry a marker in their environment.
//
// The marker catches what parent links lose: a git helper whose parent
// exited is re-parented to init (or the nearest subreaper) and no longer
// descends from the target, yet it inherited the target's environment.
// The harness starts every target it owns with a marker variable
// (Marker) so the tree can be found, measured and stopped however its
// processes detach (new sessions, new process groups, double forks).
//
// Limits: Linux only (/proc); a process that clears its environment and
// detaches is not found; processes of other users may hide their environ.
package proctree

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MarkerVar is the environment variable the harness sets on targets it
// starts; its value identifies one target.
const MarkerVar = "GITCHAOS_TARGET_ID"

// Marker is the environment entry ("GITCHAOS_TARGET_ID=<id>") for id.
func Marker(id string) string { return MarkerVar + "=" + id }

// Proc is one process as /proc/<pid>/stat describes it.
type Proc struct {
	PID, PPID, PGID, SID int
	State                byte   // R, S, D, Z, T, ...
	Comm                 string // executable name, at most 15 bytes
}

// Zombie reports whether the process has exited and was not reaped.
func (p Proc) Zombie() bool { return p.State == 'Z' }

func (p Proc) String() string {
	return fmt.Sprintf("%d(%s,%c,ppid %d)", p.PID, p.Comm, p.State, p.PPID)
}

// Read returns the process pid ("no such process" wrapped in
// os.ErrNotExist when it is gone).
func Read(pid int) (Proc, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return Proc{}, fmt.Errorf("proctree: pid %d: %w", pid, err)
	}
	return parseStat(pid, b)
}

// parseStat parses /proc/<pid>/stat: "pid (comm) S ppid pgrp session ...".
// comm may hold spaces and parentheses, so it runs to the last ')'.
func parseStat(pid int, b []byte) (Proc, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 >= len(b) {
		return Proc{}, fmt.Errorf("proctree: pid %d: malformed stat %q", pid, b)
	}
	f := strings.Fields(string(b[end+2:]))
	if len(f) < 4 || len(f[0]) != 1 {
		return Proc{}, fmt.Errorf("proctree: pid %d: malformed stat %q", pid, b)
	}
	var n [3]int
	for i := range n {
		v, err := strconv.Atoi(f[i+1])
		if err != nil {
			return Proc{}, fmt.Errorf("proctree: pid %d: stat field %d: %w", pid, i+4, err)
		}
		n[i] = v
	}
	return Proc{PID: pid, PPID: n[0], PGID: n[1], SID: n[2], State: f[0][0], Comm: string(b[open+1 : end])}, nil
}

// List reads every process on the machine. Processes that exit while it
// reads are left out.
func List() ([]Proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("proctree: %w", err)
	}
	var ps []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := Read(pid)
		if err != nil {
			continue // exited meanwhile
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// HasEnv reports whether process pid's initial environment holds entry
// ("KEY=value", exact). A process that is gone or whose environ cannot be
// read has not.
func HasEnv(pid int, entry string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if string(kv) == entry {
			return true
		}
	}
	return false
}

// Tree returns root (when alive) and every process descending from it, plus
// every process carrying marker in its environment and their descendants
// (marker "" = parent links only). Sorted by pid; root first when alive.
func Tree(root int, marker string) ([]Proc, error) {
	all, err := List()
	if err != nil {
		return nil, err
	}
	return treeOf(all, root, marker, HasEnv), nil
}

func treeOf(all []Proc, root int, marker string, hasEnv func(int, string) bool) []Proc {
	kids := map[int][]Proc{}
	byPID := map[int]Proc{}
	for _, p := range all {
		kids[p.PPID] = append(kids[p.PPID], p)
		byPID[p.PID] = p
	}
	in := map[int]bool{}
	var walk func(p Proc)
	walk = func(p Proc) {
		if in[p.PID] {
			return
		}
		in[p.PID] = true
		for _, k := range kids[p.PID] {
			walk(k)
		}
	}
	if p, ok := byPID[root]; ok && root > 0 {
		walk(p)
	}
	if marker != "" {
		self := os.Getpid()
		for _, p := range all {
			// The harness and its own ancestors may carry the marker only
			// by accident; zombies have no environ to read.
			if in[p.PID] || p.PID == self || p.Zombie() {
				continue
			}
			if hasEnv(p.PID, marker) {
				walk(p)
			}
		}
	}
	out := make([]Proc, 0, len(in))
	for pid := range in {
		out = append(out, byPID[pid])
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].PID == root) != (out[j].PID == root) {
			return out[i].PID == root
		}
		return out[i].PID < out[j].PID
	})
	return out
}

// Signal sends sig to every process of procs, skipping zombies (they are
// already dead). It returns the errors other than "no such process".
func Signal(procs []Proc, sig syscall.Signal) error {
	var errs []error
	for _, p := range procs {
		if p.Zombie() {
			continue
		}
		if err := syscall.Kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("proctree: signal %v to %v: %w", sig, p, err))
		}
	}
	return errors.Join(errs...)
}

// KillOptions configure Kill.
type KillOptions struct {
	// Marker finds processes that left the tree (see Tree); "" = none.
	Marker string
	// Grace is how long the tree gets after SIGTERM before SIGKILL
	// (0 = SIGKILL at once).
	Grace time.Duration
	// Wait is how long to wait, after SIGKILL, for every process to be gone
	// (default 5 s). Zombies whose parent is outside the tree count as gone
	// only once reaped by their parent: they hold no files.
	Wait time.Duration
	// Exited, when set, is polled to tell whether root has exited (a
	// caller reaping root with Wait must say so: root's pid could be reused).
	Exited func() bool
}

// Kill stops root and its whole tree: SIGTERM to every process (after
// Grace, SIGKILL), walking the tree again each round so that children
// started meanwhile are caught, until nothing but zombies remains or
// Wait runs out. It returns what was still alive on failure.
func Kill(root int, o KillOptions) error {
	if o.Wait <= 0 {
		o.Wait = 5 * time.Second
	}
	alive := func() ([]Proc, error) {
		ps, err := Tree(root, o.Marker)
		if err != nil {
			return nil, err
		}
		var live []Proc
		for _, p := range ps {
			if p.Zombie() || (p.PID == root && o.Exited != nil && o.Exited()) {
				continue
			}
			live = append(live, p)
		}
		return live, nil
	}
	sig := syscall.SIGKILL
	if o.Grace > 0 {
		sig = syscall.SIGTERM
	}
	termDeadline := time.Now().Add(o.Grace)
	deadline := termDeadline.Add(o.Wait)
	var last []Proc
	for {
		live, err := alive()
		if err != nil {
			return err
		}
		if len(live) == 0 {
			return nil
		}
		last = live
		if sig == syscall.SIGTERM && !time.Now().Before(termDeadline) {
			sig = syscall.SIGKILL
		}
		if err := Signal(live, sig); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proctree: tree of pid %d still alive after %v: %v", root, o.Grace+o.Wait, last)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by deadline
	}
}

// Package owner names the process that owns a leftover of a run (a temp
// dir, a container) by its pid and start time, so a later sweep can tell a
// dead owner from a live one even when the pid was reused.
//
// Limits: Linux only (/proc/<pid>/stat); an owner on another machine
// cannot be checked (Alive reports true for it only when the caller says so).
package owner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ID is one process instance: its pid and its start time in clock ticks
// since boot (field 22 of /proc/<pid>/stat; 0 = unknown).
type ID struct {
	PID   int
	Start uint64
}

// Self is this process.
func Self() ID {
	id := ID{PID: os.Getpid()}
	id.Start, _ = StartTime(id.PID)
	return id
}

// String is "<pid>.<start>", the form Parse reads (safe in file names and
// docker labels).
func (id ID) String() string { return fmt.Sprintf("%d.%d", id.PID, id.Start) }

// Parse reads "<pid>.<start>" or a bare "<pid>" (start unknown).
func Parse(s string) (ID, error) {
	p, st, hasStart := strings.Cut(s, ".")
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return ID{}, fmt.Errorf("owner: %q: want <pid>.<start>", s)
	}
	id := ID{PID: pid}
	if hasStart {
		if id.Start, err = strconv.ParseUint(st, 10, 64); err != nil {
			return ID{}, fmt.Errorf("owner: %q: start: %w", s, err)
		}
	}
	return id, nil
}

// Alive reports whether the process still runs: the pid exists (signal 0;
// EPERM means it exists but is someone else's) and, when Start is known,
// it is the same process instance (not a reused pid).
func (id ID) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	if err := syscall.Kill(id.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if id.Start == 0 {
		return true
	}
	st, err := StartTime(id.PID)
	if err != nil {
		return false // exited meanwhile
	}
	return st == id.Start
}

// StartTime is field 22 of /proc/<pid>/stat: when the process started, in
// clock ticks since boot.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("owner: %w", err)
	}
	// comm (field 2) may hold spaces and parentheses: fields start after the last ')'.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 || end+2 >= len(b) {
		return 0, fmt.Errorf("owner: pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[end+2:]))
	const idx = 22 - 3 // f[0] is field 3 (state)
	if len(f) <= idx {
		return 0, fmt.Errorf("owner: pid %d: stat has %d fields", pid, len(f)+2)
	}
	v, err := strconv.ParseUint(f[idx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("owner: pid %d: starttime: %w", pid, err)
	}
	return v, nil
}

// Package probetest runs a real helper process for tests of probes and
// leak verdicts: the test binary re-executes itself (call MaybeRunHelper
// first thing in TestMain) and then opens fds, starts goroutines,
// allocates heap, locks OS threads, burns CPU and runs leak/noise cycles
// on command over stdin. It serves its own heap and goroutine counts on
// an HTTP stats endpoint, as a real target does. Sampler records a probe
// source in the background and cuts its series into cycles by markers,
// for the studies and tests that sample a helper; the gates sample
// through the scenarios' own cycle series.
package probetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// EnvHelper, when set in a test binary's environment, makes
// MaybeRunHelper act as the helper: "serve" for a commanded helper,
// "idle" for a child that only waits for stdin to close.
const EnvHelper = "GITCHAOS_PROBE_HELPER"

// MaybeRunHelper runs the helper and exits if EnvHelper is set; otherwise
// it returns at once. Call it first in TestMain.
func MaybeRunHelper() {
	switch os.Getenv(EnvHelper) {
	case "":
		return
	case "idle":
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "serve":
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "probetest helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "probetest helper: %s=%q: want serve or idle\n", EnvHelper, os.Getenv(EnvHelper))
		os.Exit(2)
	}
}

// ---- test side ----

// Helper is a running helper process.
type Helper struct {
	PID      int
	StatsURL string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *lockedWriter
	mu     sync.Mutex
	closed bool
}

// TB is the part of testing.TB Start needs.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Start re-executes the test binary as a helper and waits for it to be
// ready; t.Cleanup stops it. The test binary's TestMain must call
// MaybeRunHelper.
func Start(t TB) *Helper {
	t.Helper()
	h, err := StartHelper()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// StartHelper is Start without a testing.TB; the caller must Close it.
func StartHelper() (*Helper, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// A -race helper would otherwise sleep 1s at exit.
	cmd.Env = append(os.Environ(), EnvHelper+"=serve", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("probetest: helper stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("probetest: helper stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("probetest: start helper %s: %w", os.Args[0], err)
	}
	h := &Helper{PID: cmd.Process.Pid, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: stderr}
	line, err := h.out.ReadString('\n')
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("probetest: helper pid %d did not start: %w (stderr: %s)", h.PID, err, stderr.String())
	}
	u, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		_ = h.Close()
		return nil, fmt.Errorf("probetest: helper pid %d: first line %q: want \"ready <url>\"", h.PID, line)
	}
	h.StatsURL = u
	return h, nil
}

// lockedWriter keeps the first 64 KiB of the helper's stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  strings.Builder
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 {
		return len(p), nil
	}
	return l.w.Write(p)
}

// Do sends one command and returns the text after "ok".
func (h *Helper) Do(cmd string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return "", fmt.Errorf("probetest: helper pid %d: %q: closed", h.PID, cmd)
	}
	if _, err := io.WriteString(h.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("probetest: helper pid %d: send %q: %w", h.PID, cmd, err)
	}
	line, err := h.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("probetest: helper pid %d: %q: read reply: %w", h.PID, cmd, err)
	}
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "ok"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("probetest: helper pid %d: %q: %s", h.PID, cmd, line)
}

// MustDo is Do failing the test on error.
func (h *Helper) MustDo(t TB, cmd string) string {
	t.Helper()
	out, err := h.Do(cmd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// Close asks the helper to exit, kills it if it has not within 5s, and
// reaps it.
func (h *Helper) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	_, _ = io.WriteString(h.stdin, "exit\n")
	_ = h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("probetest: helper pid %d: %w (stderr: %s)", h.PID, err, h.stderr.String())
		}
		return nil
	case <-ctx.Done():
		_ = h.cmd.Process.Kill()
		<-done
		return fmt.Errorf("probetest: helper pid %d did not exit within 5s: killed", h.PID)
	}
}

// Package guard runs a watchdog process beside each process target the
// harness starts, so the target's whole process tree and its temp dirs go
// away however the harness dies — SIGKILL, the OOM killer, a CI timeout —
// not only when it gets to run its own cleanup.
//
// The guard is this same binary re-executed (os.Executable) with
// GITCHAOS_GUARD in its environment: a binary that wants guards calls
// MaybeRun first thing in main (or TestMain), which turns the re-executed
// copy into the guard and tells Start that guards are available. The guard
// runs in its own session, ignores SIGINT/SIGTERM/SIGHUP and blocks reading
// a pipe from the harness. When the harness finishes normally it releases
// the guard (one byte, then the guard exits doing nothing). When the read
// ends any other way, the harness is dead: the kernel closed its end of the
// pipe. The guard then SIGKILLs every process carrying the target's
// proctree marker in its environment, and the descendants of those, until
// none is left, and removes the target's dirs.
//
// Why a sidecar and not a subreaper that starts the target: the target
// stays the harness's own child, so its pid is what the probes measure, a
// crash-restart's SIGKILL hits the target itself and its exit status is the
// harness's to read. Re-parented orphans need no subreaper to be found: they
// keep the marker they inherited. The target's own parent-death signal
// (SIGKILL) covers its main process even if the guard is gone.
//
// Limits: processes are found by marker, so a target child that clears its
// environment and detaches from the tree (a double fork with env -i) is not
// found; a guard that is itself SIGKILLed (the OOM killer choosing it, a kill
// of every process of the user) cleans nothing — the target's own
// parent-death signal still stops the target's main process, and
// `gitchaos testbed sweep` removes the dirs of dead owners later. A binary
// that does not call MaybeRun gets no guard (Start returns nil, nil).
package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gitchaos/gitchaos/harness/proctree"
)

// EnvVar carries the guard's Config (JSON) to the re-executed binary.
const EnvVar = "GITCHAOS_GUARD"

// ReadyTimeout is how long Start waits for the guard to say it runs.
const ReadyTimeout = 10 * time.Second

var capable atomic.Bool

// Config is what a guard cleans up once its harness is gone.
type Config struct {
	// Marker is the proctree marker entry ("KEY=value") every process of
	// the target carries in its environment ("" = no processes).
	Marker string `json:"marker,omitempty"`
	// Dirs are removed after the processes are gone.
	Dirs []string `json:"dirs,omitempty"`
	// Hooks run last, each a function registered under Name (RegisterHook)
	// called with Arg, e.g. removing a docker testbed's containers by run.
	Hooks []Hook `json:"hooks,omitempty"`
}

// Hook names a registered cleanup function and its argument.
type Hook struct {
	Name string `json:"name"`
	Arg  string `json:"arg"`
}

// HookTimeout bounds each hook.
const HookTimeout = 30 * time.Second

var (
	hooksMu sync.Mutex
	hooks   = map[string]func(ctx context.Context, arg string) error{}
)

// RegisterHook makes fn available to guards under name. Register from an
// init function of the package that needs it, so that the re-executed
// binary knows the hook before MaybeRun runs it.
func RegisterHook(name string, fn func(ctx context.Context, arg string) error) {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	hooks[name] = fn
}

// Validate reports what is wrong with the config.
func (c Config) Validate() error {
	if c.Marker != "" && !strings.Contains(c.Marker, "=") {
		return fmt.Errorf("guard: marker %q: want KEY=value", c.Marker)
	}
	hooksMu.Lock()
	defer hooksMu.Unlock()
	for _, h := range c.Hooks {
		if hooks[h.Name] == nil {
			return fmt.Errorf("guard: hook %q: not registered", h.Name)
		}
	}
	for _, d := range c.Dirs {
		if d == "" || d == "/" || !strings.HasPrefix(d, "/") {
			return fmt.Errorf("guard: dir %q: want an absolute path below /", d)
		}
	}
	return nil
}

// MaybeRun makes this process the guard and exits when GITCHAOS_GUARD is
// set; otherwise it records that this binary can be re-executed as a guard
// and returns at once. Call it first in main or TestMain.
func MaybeRun() {
	v, ok := os.LookupEnv(EnvVar)
	if !ok {
		capable.Store(true)
		return
	}
	os.Exit(run(v, os.Stdin, os.Stdout, os.Stderr))
}

// Available reports whether Start can start a guard (MaybeRun was called).
func Available() bool { return capable.Load() }

// Guard is a running guard process.
type Guard struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Start starts a guard for c. It returns nil, nil when this binary cannot
// be a guard (MaybeRun was not called).
func Start(c Config) (*Guard, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !Available() {
		return nil, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	cmd := exec.Command(exe)
	// The guard must not carry a target marker itself: it would be
	// counted, and killed, as part of a target.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, proctree.MarkerVar+"=") && !strings.HasPrefix(kv, EnvVar+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, EnvVar+"="+string(b))
	cmd.Stderr = os.Stderr
	// Own session: a Ctrl-C or a kill of the harness's process group does
	// not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("guard: start %s: %w", exe, err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("said %q, want \"ready\"", line)
		}
		ready <- err
	}()
	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	select {
	case err = <-ready:
	case <-timer.C:
		err = fmt.Errorf("not ready after %v", ReadyTimeout)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("guard: %s: %w", exe, err)
	}
	return &Guard{cmd: cmd, stdin: stdin}, nil
}

// PID is the guard's process id.
func (g *Guard) PID() int { return g.cmd.Process.Pid }

// Release tells the guard the harness cleaned up itself and waits for it to
// exit. A nil guard releases nothing.
func (g *Guard) Release() error {
	if g == nil {
		return nil
	}
	_, werr := g.stdin.Write([]byte{'q'})
	cerr := g.stdin.Close()
	if err := g.cmd.Wait(); err != nil {
		return fmt.Errorf("guard: pid %d: %w", g.cmd.Process.Pid, errors.Join(err, werr, cerr))
	}
	return nil
}

// run is the guard process: wait for release or the harness's death.
func run(cfg string, stdin io.Reader, stdout, stderr io.Writer) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	var c Config
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		fmt.Fprintf(stderr, "gitchaos guard: %s: %v\n", EnvVar, err)
		return 2
	}
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "gitchaos guard: %v\n", err)
		return 2
	}
	if _, err := io.WriteString(stdout, "ready\n"); err != nil {
		return 2
	}
	var b [1]byte
	if n, _ := stdin.Read(b[:]); n == 1 && b[0] == 'q' {
		return 0
	}
	return Cleanup(c, stderr)
}

// Cleanup kills every process of c.Marker (and their descendants) until
// none is left, then removes c.Dirs; what the guard does when its harness
// dies. Errors are written to w; the result is an exit code.
func Cleanup(c Config, w io.Writer) int {
	code := 0
	if c.Marker != "" {
		if err := proctree.Kill(0, proctree.KillOptions{Marker: c.Marker, Wait: 10 * time.Second}); err != nil {
			fmt.Fprintf(w, "gitchaos guard: %v\n", err)
			code = 1
		}
	}
	for _, d := range c.Dirs {
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintf(w, "gitchaos guard: %v\n", err)
			code = 1
		}
	}
	for _, h := range c.Hooks {
		hooksMu.Lock()
		fn := hooks[h.Name]
		hooksMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), HookTimeout)
		err := fn(ctx, h.Arg)
		cancel()
		if err != nil {
			fmt.Fprintf(w, "gitchaos guard: hook %s(%s): %v\n", h.Name, h.Arg, err)
			code = 1
		}
	}
	if code == 0 {
		fmt.Fprintf(w, "gitchaos guard: harness gone: cleaned up %+v\n", c)
	}
	return code
}

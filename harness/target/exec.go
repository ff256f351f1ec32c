package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/shlex"

	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/owner"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/proctree"
)

// Exec makes targets from a command the harness starts, restarts and stops
// itself, e.g. "reffetcher --listen {addr} --base-dir {base_dir}": a
// Template split as a POSIX shell would (quotes, backslash escapes, # comments;
// no expansions), or the arguments themselves in Args. In each argument
// {addr} is a free 127.0.0.1 port, {base_dir} a fresh temp dir, {port} the
// port alone. Settings reach the process through OPAL's environment
// variable names and the bare ones (Settings.Env); TMPDIR, TMP and TEMP
// point at a temp dir the harness owns and watches (TempDirOf); the
// process tree is marked with proctree.Marker. stdout and stderr are kept
// as artifacts.
type Exec struct {
	Template    string        // command template (this or Args)
	Args        []string      // the command as arguments, not split again (this or Template)
	Env         []string      // extra KEY=VALUE environment, after the settings and temp dir (--target-env)
	ArtifactDir string        // where stdout/stderr logs are kept ("" = a temp dir removed by Close)
	Token       string        // bearer token for the API, if the command sets one
	Ready       time.Duration // how long to wait for /healthcheck (default 30 s)
	TempDir     string        // parent of base dirs ("" = os.TempDir())

	mu sync.Mutex
	n  int
}

// Describe implements Factory.
func (f *Exec) Describe() string { return "exec: " + f.command() }

// command is the command as the user gave it: the template, or the args
// joined.
func (f *Exec) command() string {
	if f.Template == "" && len(f.Args) > 0 {
		return strings.Join(f.Args, " ")
	}
	return f.Template
}

// argv is the command's arguments, placeholders not yet filled in.
func (f *Exec) argv() ([]string, error) {
	if f.Template != "" && len(f.Args) > 0 {
		return nil, errors.New("both a template and args: give one")
	}
	if len(f.Args) > 0 {
		return append([]string(nil), f.Args...), nil
	}
	args, err := shlex.Split(f.Template)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", f.Template, err)
	}
	return args, nil
}

// Fresh implements Factory.
func (f *Exec) Fresh() bool { return true }

// Validate reports what is wrong with the command.
func (f *Exec) Validate() error {
	args, err := f.argv()
	if err != nil {
		return fmt.Errorf("exec target: %w", err)
	}
	if len(args) == 0 {
		return errors.New("exec target: empty command")
	}
	if cmd := strings.Join(args, " "); !strings.Contains(cmd, "{addr}") && !strings.Contains(cmd, "{port}") {
		return fmt.Errorf("exec target: command %q has neither {addr} nor {port}: the harness could not find the server", f.command())
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		return fmt.Errorf("exec target: command %q: %w", args[0], err)
	}
	if err := ParseEnv(f.Env); err != nil {
		return fmt.Errorf("exec target: %w", err)
	}
	return nil
}

// New implements Factory.
func (f *Exec) New(ctx context.Context, s Settings) (Target, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("exec target: %w", err)
	}
	// The dir's name carries this process's pid and start time, so that
	// `gitchaos testbed sweep` can tell a dead owner's leftovers (see
	// ExecDirPrefix).
	dir, err := os.MkdirTemp(f.TempDir, ExecDirPrefix+owner.Self().String()+"-*")
	if err != nil {
		return nil, fmt.Errorf("exec target: base dir: %w", err)
	}
	tmp := TempDirOf(dir)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("exec target: temp dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("exec target: %w", err)
	}
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	art, ownArt := f.ArtifactDir, false
	if art == "" {
		// No artifact dir: logs live beside the base dir (not in it, where
		// they would count as the target's disk use) and go with Close.
		art, ownArt = dir+logsSuffix, true
	}
	if err := os.MkdirAll(art, 0o755); err != nil {
		os.RemoveAll(dir)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("exec target: artifact dir: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	repl := strings.NewReplacer("{addr}", addr, "{port}", fmt.Sprint(port), "{base_dir}", dir)
	args, _ := f.argv() // checked by Validate
	for i := range args {
		args[i] = repl.Replace(args[i])
	}
	t := &execTarget{
		desc: f.Describe(), args: args,
		dir: dir, tmp: tmp, art: art, ownArt: ownArt, prefix: fmt.Sprintf("target-%d", n), settings: s,
		ready:  f.Ready,
		client: &Client{BaseURL: "http://" + addr, Token: f.Token},
		marker: proctree.Marker(filepath.Base(dir)),
	}
	// Every process of the target inherits the marker, however it detaches.
	t.env = targetEnv(s, tmp, f.Env, t.marker)
	if t.ready <= 0 {
		t.ready = 30 * time.Second
	}
	gdirs := []string{dir, tmp}
	if ownArt {
		gdirs = append(gdirs, art)
	}
	if t.guard, err = guard.Start(guard.Config{Marker: t.marker, Dirs: gdirs}); err != nil {
		t.Close()
		return nil, fmt.Errorf("exec target: %w", err)
	}
	if err := t.start(ctx, true); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// ExecDirPrefix starts the name of every exec target's base dir:
// ExecDirPrefix + "<owner pid>.<owner start>-<random>", its logs (without
// an artifact dir) beside it with "-logs" appended.
const ExecDirPrefix = "gitchaos-exec-"

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type execTarget struct {
	desc, dir, art, prefix string
	ownArt                 bool // art is a temp dir of ours: removed by Close
	args, env              []string
	settings               Settings
	ready                  time.Duration
	client                 *Client
	// marker (proctree.Marker of the base dir's name) is in the target's
	// environment: stop finds and stops its processes by it.
	marker string
	guard  *guard.Guard // cleans up if the harness dies first (nil: no guard)

	// tmp is TMPDIR, TMP and TEMP of the process: watched with dir,
	// emptied by a cold start, removed by Close.
	tmp string
	// spawned is when the current process was started; exited says how
	// it ended when it exited without the harness stopping it.
	spawned time.Time
	exited  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
	probe  probe.Source
	logs   []string
}

// start spawns the process and, when wait is set, waits until it answers
// /healthcheck.
func (t *execTarget) start(ctx context.Context, wait bool) error {
	t.mu.Lock()
	t.starts++
	base := filepath.Join(t.art, fmt.Sprintf("%s-run%d", t.prefix, t.starts))
	t.mu.Unlock()
	stdout, err := os.Create(base + ".stdout.log")
	if err != nil {
		return fmt.Errorf("exec target: %w", err)
	}
	stderr, err := os.Create(base + ".stderr.log")
	if err != nil {
		stdout.Close()
		return fmt.Errorf("exec target: %w", err)
	}
	cmd := exec.Command(t.args[0], t.args[1:]...)
	cmd.Env = t.env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Own process group; SIGKILL when the harness dies (Pdeathsig fires when
	// the forking OS thread exits: Go keeps its threads unless a goroutine
	// exits locked to one, and the guard covers the rest of the tree).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		return fmt.Errorf("exec target: start %q: %w", strings.Join(t.args, " "), err)
	}
	spawned := time.Now()
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		stdout.Close()
		stderr.Close()
		t.noteExit(cmd, base)
		close(done)
	}()
	t.mu.Lock()
	t.cmd, t.done, t.spawned = cmd, done, spawned
	t.logs = append(t.logs, stdout.Name(), stderr.Name())
	if t.probe != nil {
		closeProbe(t.probe)
	}
	t.probe, err = newProbe(t.client, probeSpec{pid: cmd.Process.Pid, marker: t.marker, dirs: []string{t.dir, t.tmp}})
	t.mu.Unlock()
	if err != nil || !wait {
		return err
	}

	// Wait for /healthcheck, reporting the last error and the stderr tail.
	deadline := time.Now().Add(t.ready)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("exec target: %q exited before serving (%s); stderr: %s", strings.Join(t.args, " "), cmd.ProcessState, tail(base+".stderr.log"))
		case <-ctx.Done():
			return fmt.Errorf("exec target: waiting for health: %w", ctx.Err())
		default:
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		_, last = t.client.Health(hctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-done:
		}
	}
	return fmt.Errorf("exec target: not healthy after %v (last: %v); stderr: %s", t.ready, last, tail(base+".stderr.log"))
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func (t *execTarget) Describe() string   { return t.desc }
func (t *execTarget) Client() *Client    { return t.client }
func (t *execTarget) Settings() Settings { return t.settings }
func (t *execTarget) BaseDir() string    { return t.dir }
func (t *execTarget) InProcess() bool    { return false }

func (t *execTarget) Probe() probe.Source {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.probe
}

// PID is the current process id (0 when stopped).
func (t *execTarget) PID() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cmd == nil {
		return 0
	}
	return t.cmd.Process.Pid
}

// Logs are the stdout/stderr artifact paths of every start (LogKeeper).
func (t *execTarget) Logs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.logs...)
}

func (t *execTarget) Restart(ctx context.Context, kill bool) error {
	if err := t.stop(kill); err != nil {
		return err
	}
	t.client.CloseIdleConnections()
	return t.start(ctx, true)
}

func (t *execTarget) Close() error {
	err := t.stop(false)
	t.client.CloseIdleConnections()
	t.mu.Lock()
	if t.probe != nil {
		closeProbe(t.probe)
	}
	t.mu.Unlock()
	// The dirs go only now that no process of the target can write into them.
	errs := []error{err, os.RemoveAll(t.dir), os.RemoveAll(t.tmp)}
	if t.ownArt {
		errs = append(errs, os.RemoveAll(t.art))
	}
	errs = append(errs, t.guard.Release())
	return errors.Join(errs...)
}

// Kill implements Killer.
func (t *execTarget) Kill(context.Context) error {
	err := t.stop(true)
	t.client.CloseIdleConnections()
	return err
}

// Start implements Killer.
func (t *execTarget) Start(ctx context.Context) error { return t.start(ctx, true) }

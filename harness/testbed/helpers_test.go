package testbed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, toxiembed.UpstreamLeaks()...)
}

// quiet is the logger for test testbeds: warnings and errors only.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// start starts a local testbed closed at the end of the test (a failing
// Close fails the test).
func start(t testing.TB, opts testbed.Options) *testbed.Local {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := testbed.StartLocal(ctx, opts)
	if err != nil {
		t.Fatalf("start local testbed: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close testbed: %v", err)
		}
	})
	return l
}

// cloner is one real git client.
type cloner struct {
	name  string
	clone func(ctx context.Context, url, dir string) error
	head  func(dir string) (string, error) // tip of main in the clone
}

var goGitClient = cloner{name: "go-git", clone: goGitClone, head: goGitHead}

var gitClient = cloner{name: "git", clone: gitClone, head: gitHead}

// clients are the clients a fault test drives: go-git always, the `git`
// command when it is installed.
func clients(t testing.TB) []cloner {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Logf("git not on PATH: only go-git is driven (%v)", err)
		return []cloner{goGitClient}
	}
	return []cloner{goGitClient, gitClient}
}

func goGitClone(ctx context.Context, url, dir string) error {
	_, err := git.PlainCloneContext(ctx, dir, true, &git.CloneOptions{URL: url})
	if err != nil {
		// plumbing.UnexpectedError does not unwrap: report the context's
		// error next to it so callers can test it with errors.Is.
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (context: %w)", err, cerr)
		}
		return fmt.Errorf("go-git clone %s: %w", url, err)
	}
	return nil
}

func goGitHead(dir string) (string, error) {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return "", err
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		return "", err
	}
	return ref.Hash().String(), nil
}

// gitEnv isolates the git command from the machine's configuration.
func gitEnv(home string) []string {
	env := []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "PATH", "TMPDIR":
			env = append(env, kv)
		}
	}
	return env
}

func gitClone(ctx context.Context, url, dir string) error { return gitCloneEnv(ctx, url, dir) }

// gitCloneEnv is gitClone with extra environment (GIT_SSH_COMMAND).
func gitCloneEnv(ctx context.Context, url, dir string, env ...string) error {
	cmd := exec.CommandContext(ctx, "git", "clone", "--bare", "--quiet", url, dir)
	cmd.Env = append(gitEnv(filepath.Dir(dir)), env...)
	killGroup(cmd)
	cmd.WaitDelay = 50 * time.Millisecond
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (context: %w)", err, cerr)
		}
		return fmt.Errorf("git clone %s: %w: %s", url, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func gitHead(dir string) (string, error) {
	cmd := exec.Command("git", "--git-dir", dir, "rev-parse", "refs/heads/main")
	cmd.Env = gitEnv(filepath.Dir(dir))
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse in %s: %w", dir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

var dirSeq atomic.Int64

// cloneDir is a fresh, not yet existing directory to clone into.
func cloneDir(t testing.TB) string {
	return filepath.Join(t.TempDir(), fmt.Sprintf("clone%d.git", dirSeq.Add(1)))
}

// timedClone clones into a fresh directory and says how long it took.
func timedClone(ctx context.Context, t testing.TB, c cloner, url string) (time.Duration, error) {
	t.Helper()
	dir := cloneDir(t)
	begin := time.Now()
	err := c.clone(ctx, url, dir)
	return time.Since(begin), err
}

// mustClone clones within 20 s and checks that main is at want (if want is
// not empty).
func mustClone(t testing.TB, c cloner, url, want string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := cloneDir(t)
	begin := time.Now()
	if err := c.clone(ctx, url, dir); err != nil {
		t.Fatalf("%s: clone %s: %v", c.name, url, err)
	}
	took := time.Since(begin)
	if want != "" {
		got, err := c.head(dir)
		if err != nil {
			t.Fatalf("%s: head of clone of %s: %v", c.name, url, err)
		}
		if got != want {
			t.Fatalf("%s: clone of %s: main at %s, want %s", c.name, url, got, want)
		}
	}
	return took
}

// headOf is the tip of main of a repo on a host, from its admin API.
func headOf(t testing.TB, h *testbed.Host, repo string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := h.Admin.Repo(ctx, repo)
	if err != nil {
		t.Fatalf("admin: repo %s on %s: %v", repo, h.Name, err)
	}
	if info.Head == "" {
		t.Fatalf("admin: repo %s on %s has no head: %+v", repo, h.Name, info)
	}
	return info.Head
}

// inject injects f on h and fails the test on error. The returned undo
// fails the test if undoing fails; it also runs at cleanup (undo is
// idempotent).
func inject(t testing.TB, h *testbed.Host, f faults.Fault) (undo func()) {
	t.Helper()
	u, err := h.Inject(context.Background(), f)
	if err != nil {
		t.Fatalf("inject %s on %s: %v", f, h.Name, err)
	}
	undo = func() {
		t.Helper()
		if err := u(context.Background()); err != nil {
			t.Errorf("undo %s on %s: %v", f, h.Name, err)
		}
	}
	t.Cleanup(undo)
	return undo
}

// dialRefused reports whether a TCP connect to addr is refused.
func dialRefused(addr string) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false, nil
	}
	if isRefused(err) {
		return true, nil
	}
	return false, err
}

func isRefused(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "connection refused")
}

// hostPort strips the scheme of an http:// base URL.
func hostPort(url string) string { return strings.TrimPrefix(url, "http://") }

// readAllTimed sends a raw HTTP request on a fresh connection and reports
// when the first byte and when EOF arrived.
func readAllTimed(addr, req string, deadline time.Duration) (firstByte, eof time.Duration, body []byte, err error) {
	begin := time.Now()
	c, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		return 0, 0, nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(begin.Add(deadline))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, 0, nil, err
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := c.Read(buf)
		if n > 0 && firstByte == 0 {
			firstByte = time.Since(begin)
		}
		body = append(body, buf[:n]...)
		if rerr == io.EOF {
			return firstByte, time.Since(begin), body, nil
		}
		if rerr != nil {
			return firstByte, time.Since(begin), body, rerr
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

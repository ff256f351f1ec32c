package guard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/proctree"
)

func TestMain(m *testing.M) {
	RegisterHook("test-touch", func(_ context.Context, arg string) error { return os.WriteFile(arg, []byte("hook ran"), 0o644) })
	MaybeRun()
	os.Exit(m.Run())
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Marker: "novalue"}, "want KEY=value"},
		{Config{Dirs: []string{"relative"}}, "want an absolute path"},
		{Config{Dirs: []string{"/"}}, "want an absolute path"},
		{Config{Hooks: []Hook{{Name: "nope"}}}, `hook "nope": not registered`},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.c, err, tc.want)
		}
	}
}

// startMarked starts a process carrying marker, reaped in the background.
func startMarked(t *testing.T, marker string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	c := exec.Command("sleep", "1000")
	c.Env = append(os.Environ(), marker)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	t.Cleanup(func() { _ = c.Process.Kill(); <-done })
	return c, done
}

// TestReleaseLeavesAlone: a released guard exits and cleans nothing.
func TestReleaseLeavesAlone(t *testing.T) {
	dir := t.TempDir()
	marker := proctree.Marker("guard-release-" + filepath.Base(dir))
	_, done := startMarked(t, marker)
	g, err := Start(Config{Marker: marker, Dirs: []string{dir}})
	if err != nil || g == nil {
		t.Fatalf("Start = %v, %v; want a guard (TestMain calls MaybeRun)", g, err)
	}
	if err := g.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Error("a released guard killed the target's process")
	default:
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("a released guard removed %s: %v", dir, err)
	}
}

// TestHarnessDeathCleansUp: when the harness's end of the pipe closes
// without a release (what the kernel does when the harness dies), the
// guard kills the marked processes, removes the dirs and runs the hooks.
func TestHarnessDeathCleansUp(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "base")
	if err := os.MkdirAll(filepath.Join(dir, "git_sources"), 0o755); err != nil {
		t.Fatal(err)
	}
	hookFile := filepath.Join(tmp, "hook")
	marker := proctree.Marker("guard-death-" + filepath.Base(tmp))
	_, done := startMarked(t, marker)
	g, err := Start(Config{Marker: marker, Dirs: []string{dir}, Hooks: []Hook{{Name: "test-touch", Arg: hookFile}}})
	if err != nil || g == nil {
		t.Fatalf("Start = %v, %v", g, err)
	}
	if err := g.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Wait(); err != nil {
		t.Fatalf("guard exited with %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the marked process still runs after the guard cleaned up")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there (%v)", dir, err)
	}
	if b, err := os.ReadFile(hookFile); err != nil || string(b) != "hook ran" {
		t.Errorf("hook: %q, %v", b, err)
	}
}

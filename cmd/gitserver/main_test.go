package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0"}, "--root is required"},
		{[]string{"--root", t.TempDir(), "--engine", "svn"}, `--engine "svn"`},
		{[]string{"--root", t.TempDir(), "--seed-repos", "-1"}, "--seed-repos -1"},
		{[]string{"--root", t.TempDir(), "--listen", "nonsense"}, `--listen "nonsense"`},
		{[]string{"--root", t.TempDir(), "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"--root", t.TempDir(), "--seed-repos", "x"}, `invalid value "x" for flag -seed-repos`},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--root", t.TempDir(), "extra"}, `unexpected arguments ["extra"]`},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		code := run(context.Background(), tc.args, &out)
		assert.Equal(t, 2, code, "args %q", tc.args)
		assert.Contains(t, out.String(), tc.want, "args %q", tc.args)
	}
}

// TestProcess builds the static binary, starts it with seeded repos,
// clones with git, injects a fault through the admin API, and stops it with
// SIGTERM.
func TestProcess(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "gitserver")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "CGO_ENABLED=0 go build: %s", out)

	root := filepath.Join(t.TempDir(), "repos")
	cmd := exec.CommandContext(ctx, bin, "--listen", "127.0.0.1:0", "--root", root, "--engine", "go-git", "--seed-repos", "3", "--seed", "5")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	addrRE := regexp.MustCompile(`msg="gitserver: listening" addr=(\S+)`)
	var addr string
	var logged []string
	for addr == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "gitserver exited before listening; log:\n%s", strings.Join(logged, "\n"))
			logged = append(logged, l)
			if m := addrRE.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-ctx.Done():
			t.Fatalf("no listening line; log:\n%s", strings.Join(logged, "\n"))
		}
	}
	for _, n := range []string{"r000", "r001", "r002"} {
		assert.DirExists(t, filepath.Join(root, n+".git"))
	}
	base := "http://" + addr
	env := append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	git := func(args ...string) (string, error) {
		c := exec.CommandContext(ctx, "git", args...)
		c.Env = env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	dst := filepath.Join(t.TempDir(), "clone")
	out2, err := git("clone", "-q", base+"/r001.git", dst)
	require.NoError(t, err, out2)
	assert.FileExists(t, filepath.Join(dst, ".manifest"))

	hc := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/_admin/repos/r002/fault", strings.NewReader(`{"mode":"gone"}`))
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	out2, err = git("clone", "-q", base+"/r002.git", filepath.Join(t.TempDir(), "c2"))
	require.Error(t, err)
	assert.Contains(t, out2, "not found")
	resp, err = hc.Get(base + "/_admin/repos/r002/counters")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Contains(t, string(body), `"faulted":1`)
	hc.CloseIdleConnections()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() {
		for range lines { // drain until the pipe closes
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		exited = true
		require.NoError(t, err, "clean exit after SIGTERM")
	case <-time.After(15 * time.Second):
		t.Fatal("gitserver did not exit within 15 s of SIGTERM")
	}
}

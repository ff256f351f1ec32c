package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/proctree"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/harness/testbed/docker/dockertest"
)

// detachScript starts target children that leave its process group and
// session (one writes into the base dir, one is re-parented to init), then
// becomes the reference fetcher.
const detachScript = `base=$1; exe=$2; shift 2
setsid sh -c 'while :; do mkdir -p "$0/writer"; echo x >> "$0/writer/f"; sleep 0.05; done' "$base" &
setsid sh -c 'sleep 1000 & exit 0' &
exec "$exe" "$@"
`

// buildGitchaos builds this command into dir.
func buildGitchaos(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "gitchaos")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSIGKILLLeavesNothing SIGKILLs a running `gitchaos gate --target-cmd`
// (the built binary) while its target serves, and checks that within 2 s
// no process of the target, no listener on its port and no container or
// network of the run is left, and that its dirs are gone after the next
// `gitchaos testbed sweep`. The target's children run in their own
// sessions: killing the target's process group would not stop them.
// With a docker engine the run uses the docker testbed as well.
func TestSIGKILLLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildGitchaos(t, t.TempDir())
	for _, tbKind := range []string{"local", "docker"} {
		t.Run(tbKind, func(t *testing.T) {
			if tbKind == "docker" {
				dockertest.RequireEngine(t)
			}
			sigkillRun(t, bin, tbKind)
		})
	}
}

var listenRE = regexp.MustCompile(`--listen\x00(127\.0\.0\.1:\d+)`)

func sigkillRun(t *testing.T, bin, tbKind string) {
	tmp := t.TempDir()
	script := filepath.Join(tmp, "detach.sh")
	if err := os.WriteFile(script, []byte(detachScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "gate", "--only", "repeat-sync", "--testbed", tbKind,
		"--target-cmd", fmt.Sprintf("sh '%s' {base_dir} '%s' reffetcher --listen {addr} --base-dir {base_dir}", script, bin))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	// Wait until the target serves and its detached children run.
	var marker, addr, base string
	var last string
	ok := poll(2*time.Minute, func() bool {
		dirs, _ := filepath.Glob(filepath.Join(tmp, target.ExecDirPrefix+"*"))
		last = fmt.Sprintf("dirs %v", dirs)
		for _, d := range dirs {
			if target.ExecBaseOf(d) == d {
				base = d
			}
		}
		if base == "" {
			return false
		}
		marker = proctree.Marker(filepath.Base(base))
		ps, err := proctree.Tree(0, marker)
		if err != nil {
			return false
		}
		sids := map[int]bool{}
		for _, p := range ps {
			sids[p.SID] = true
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID)); err == nil {
				if m := listenRE.FindSubmatch(b); m != nil {
					addr = string(m[1])
				}
			}
		}
		last = fmt.Sprintf("tree %v, listen %q", ps, addr)
		if addr == "" || len(sids) < 3 {
			return false
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if !ok {
		t.Fatalf("the target never served with detached children: last %s; stderr:\n%s", last, stderr.String())
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waited = true
	killed := time.Now()

	// Within 2 s: no process, no listener, no container or network.
	ok = poll(2*time.Second, func() bool {
		var left []string
		ps, _ := proctree.Tree(0, marker)
		for _, p := range ps {
			if !p.Zombie() {
				left = append(left, p.String())
			}
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			left = append(left, "listener on "+addr)
		}
		if tbKind == "docker" {
			objs, err := docker.Leftovers(ctx, fmt.Sprintf("%s=%d", docker.LabelPID, pid))
			if err != nil {
				left = append(left, err.Error())
			}
			left = append(left, objs...)
		}
		last = strings.Join(left, "; ")
		return len(left) == 0
	})
	if !ok {
		t.Errorf("%v after SIGKILL of gitchaos pid %d, still there: %s", time.Since(killed).Round(time.Millisecond), pid, last)
	} else {
		t.Logf("%s testbed: nothing of the run left %v after SIGKILL", tbKind, time.Since(killed).Round(time.Millisecond))
	}

	// The next sweep leaves no temp dir of the run.
	out, err := exec.Command(bin, "testbed", "sweep", "--temp-dir", tmp).CombinedOutput()
	if err != nil {
		t.Errorf("testbed sweep: %v\n%s", err, out)
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, target.ExecDirPrefix+"*")); len(dirs) > 0 {
		t.Errorf("after sweep, exec dirs left: %v\nsweep said:\n%s", dirs, out)
	}
	if t.Failed() {
		t.Logf("gitchaos stderr:\n%s", stderr.String())
	}
}

// poll reports whether cond held within d.
func poll(d time.Duration, cond func() bool) bool {
	return eventually.Within(d, cond)
}

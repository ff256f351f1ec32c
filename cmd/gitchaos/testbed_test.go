package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/harness/testbed/docker/dockertest"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testbedUpRun runs `gitchaos testbed up args...` until stop is called.
type testbedUpRun struct {
	desc   Description
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

func startTestbedUp(t *testing.T, args ...string) *testbedUpRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &testbedUpRun{cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	go func() {
		code := cmdTestbed(ctx, append([]string{"up"}, args...), pw, r.stderr)
		pw.Close()
		r.done <- code
	}()
	t.Cleanup(func() { r.stop(t) })
	dec := json.NewDecoder(pr)
	if err := dec.Decode(&r.desc); err != nil {
		cancel()
		t.Fatalf("testbed up printed no description: %v; stderr:\n%s", err, r.stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return r
}

// stop interrupts the command and returns its exit code (once).
func (r *testbedUpRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code, ok := <-r.done:
		if !ok {
			return -1
		}
		close(r.done)
		if code != exitOK {
			t.Errorf("testbed up exited %d after interrupt; stderr:\n%s", code, r.stderr.String())
		}
		return code
	case <-time.After(90 * time.Second):
		t.Fatalf("testbed up did not stop within 90 s of the interrupt; stderr:\n%s", r.stderr.String())
		return -1
	}
}

func gitClone(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", url, filepath.Join(t.TempDir(), "c"))
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone %s: %v: %s", url, err, out)
	}
}

func checkDescription(t *testing.T, d Description, kind string, hosts, repos int) {
	t.Helper()
	if d.Kind != kind || len(d.Hosts) != hosts || !strings.HasPrefix(d.Toxiproxy, "http://127.0.0.1:") {
		t.Fatalf("description = %+v, want kind %s with %d hosts and a toxiproxy URL", d, kind, hosts)
	}
	for _, h := range d.Hosts {
		if len(h.Repos) != repos {
			t.Fatalf("host %s has %d repos, want %d: %+v", h.Name, len(h.Repos), repos, h.Repos)
		}
		for _, r := range h.Repos {
			if r.URL != h.URL+"/"+r.Name+".git" || r.Head == "" {
				t.Fatalf("repo %+v of host %s: want URL %s/%s.git and a head", r, h.Name, h.URL, r.Name)
			}
		}
	}
}

func TestTestbedUpLocal(t *testing.T) {
	r := startTestbedUp(t, "--hosts", "2", "--repos", "1")
	checkDescription(t, r.desc, "local", 2, 1)
	gitClone(t, r.desc.Hosts[1].Repos[0].URL)

	// gitchaos fault works against it through the description file.
	file := filepath.Join(t.TempDir(), "tb.json")
	data, _ := json.Marshal(r.desc)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runFault(t, "add", "--testbed", file, "--host", "h0", "--repo", "r000", "http500"); code != exitOK {
		t.Fatalf("repo fault: exit %d: %s", code, errs)
	}
	l := listJSON(t, "--testbed", file)
	if len(l.Repos) != 1 || l.Repos[0].Host != "h0" || l.Repos[0].Repo != "r000" {
		t.Fatalf("listing after repo fault = %+v, want h0/r000", l.Repos)
	}
	if code, _, errs := runFault(t, "rm", "--testbed", file, "--all"); code != exitOK {
		t.Fatalf("rm --all: exit %d: %s", code, errs)
	}
	if l := listJSON(t, "--testbed", file); len(l.Repos) != 0 {
		t.Fatalf("repo faults after rm --all: %+v", l.Repos)
	}
	gitClone(t, r.desc.Hosts[0].Repos[0].URL)
	r.stop(t)
}

func TestTestbedUpDocker(t *testing.T) {
	dockertest.RequireEngine(t)
	r := startTestbedUp(t, "--docker", "--hosts", "1", "--repos", "1")
	checkDescription(t, r.desc, "docker", 1, 1)
	if r.desc.RunID == "" || r.desc.Images == nil || r.desc.Images.GitServer == "" {
		t.Fatalf("docker description lacks run id or images: %+v", r.desc)
	}
	gitClone(t, r.desc.Hosts[0].Repos[0].URL)
	r.stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := docker.Leftovers(ctx, docker.LabelRun+"="+r.desc.RunID)
	if err != nil || len(left) > 0 {
		t.Fatalf("after testbed up was interrupted: leftovers %v (%v)", left, err)
	}
}

func TestTestbedUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"down"}, `unknown subcommand "down"`},
		{[]string{"up", "--hosts", "0"}, "--hosts 0"},
		{[]string{"up", "--repos", "-1"}, "--repos -1"},
		{[]string{"up", "extra"}, `unexpected argument "extra"`},
		{[]string{"sweep", "--older-than", "-1s"}, "want >= 0"},
	} {
		var out, errb bytes.Buffer
		if code := cmdTestbed(context.Background(), c.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("testbed %q: exit %d, stderr %q; want exit 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

package docker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/dockerimg"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/owner"
	"github.com/gitchaos/gitchaos/harness/testbed"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/harness/testbed/docker/dockertest"
)

// childEnv selects a child-process mode of the test binary (see TestMain).
const childEnv = "GITCHAOS_DOCKER_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "serve":
		os.Exit(childServe())
	}
	stop := docker.CloseOnSignal()
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// childServe starts a testbed, prints its run id and waits for a signal:
// CloseOnSignal must remove everything and exit 130.
func childServe() int {
	docker.CloseOnSignal()
	tb, err := docker.New(context.Background(), testbed.Options{Hosts: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	fmt.Printf("run %s\n", tb.(*docker.Testbed).RunID())
	select {}
}

// smallSpec keeps repos tiny: the tests are about the network path.
func smallSpec() repogen.Spec { return repogen.DefaultSpec() }

func gitCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	cmd.WaitDelay = 500 * time.Millisecond
	return cmd
}

// clone runs the real git client and returns the clone's HEAD.
func clone(ctx context.Context, t *testing.T, url string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	if out, err := gitCmd(ctx, dir, "clone", "--quiet", url, "c").CombinedOutput(); err != nil {
		return "", fmt.Errorf("git clone %s: %w: %s", url, err, strings.TrimSpace(string(out)))
	}
	out, err := gitCmd(ctx, filepath.Join(dir, "c"), "rev-parse", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func mustClone(ctx context.Context, t *testing.T, h *testbed.Host, repo string) {
	t.Helper()
	info, err := h.Admin.Repo(ctx, repo)
	if err != nil {
		t.Fatalf("admin: repo %s on %s: %v", repo, h.Name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	head, err := clone(cctx, t, h.RepoURL(repo))
	if err != nil {
		t.Fatal(err)
	}
	if head != info.Head {
		t.Fatalf("clone of %s has HEAD %s, the server says %s", h.RepoURL(repo), head, info.Head)
	}
}

// dockerLS lists, with the docker CLI, what carries label: what a user
// checking for leftovers would run.
func dockerLS(t *testing.T, label string) string {
	t.Helper()
	var all []string
	for _, args := range [][]string{
		{"ps", "-a", "-q", "--filter", "label=" + label},
		{"network", "ls", "-q", "--filter", "label=" + label},
	} {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			all = append(all, "docker "+strings.Join(args[:2], " ")+": "+strings.ReplaceAll(s, "\n", " "))
		}
	}
	return strings.Join(all, "; ")
}

func TestDockerTestbed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	tbd := dockertest.New(t, ctx, testbed.Options{Hosts: 2, Repos: 2, Seed: 7, Spec: smallSpec()})
	t.Logf("docker testbed %s up in %s (images %s, %s)", tbd.RunID(), time.Since(start).Round(time.Millisecond), tbd.Images().GitServer, tbd.Images().Toxiproxy)

	if tbd.Kind() != "docker" {
		t.Errorf("Kind = %q, want docker", tbd.Kind())
	}
	if n := len(tbd.Hosts()); n != 2 {
		t.Fatalf("%d hosts, want 2", n)
	}
	h0, err := tbd.Host("h0")
	if err != nil {
		t.Fatal(err)
	}
	h1, err := tbd.Host("h1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbd.Host("h9"); err == nil || !strings.Contains(err.Error(), `"h9"`) {
		t.Errorf("Host(h9) error = %v, want one naming h9", err)
	}
	for _, h := range tbd.Hosts() {
		for _, u := range []string{h.URL, h.AdminURL} {
			if !strings.HasPrefix(u, "http://127.0.0.1:") {
				t.Errorf("host %s URL %q: want it published on 127.0.0.1 only", h.Name, u)
			}
		}
		if h.Proxy == nil || h.Proxy.Name != h.Name {
			t.Fatalf("host %s proxy = %+v, want a proxy named %s", h.Name, h.Proxy, h.Name)
		}
	}
	proxies, err := tbd.Toxiproxy().Proxies()
	if err != nil {
		t.Fatalf("toxiproxy API %s: %v", tbd.ToxiproxyURL(), err)
	}
	if len(proxies) != 2 {
		t.Errorf("toxiproxy has %d proxies, want 2: %v", len(proxies), proxies)
	}

	// Same seeds as the local testbed: repo r001 of h1 is RepoSeed(7, 1, 1).
	repos, err := h1.Admin.ListRepos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 2 || repos[0].Name != "r000" || repos[1].Name != "r001" {
		t.Fatalf("h1 repos = %+v, want r000 and r001", repos)
	}

	t.Run("clone", func(t *testing.T) {
		mustClone(ctx, t, h0, "r000")
		mustClone(ctx, t, h1, "r001")
		c, err := h0.Admin.Counters(ctx, "r000")
		if err != nil {
			t.Fatal(err)
		}
		if c.UploadPacks < 1 || c.InfoRefs < 1 {
			t.Fatalf("h0/r000 counters after a clone = %+v, want info_refs and upload_packs >= 1", c)
		}
	})

	t.Run("create repo at runtime", func(t *testing.T) {
		info, err := h1.CreateRepo(ctx, "late", 99, smallSpec())
		if err != nil {
			t.Fatal(err)
		}
		if info.Head == "" {
			t.Fatalf("CreateRepo returned no head: %+v", info)
		}
		mustClone(ctx, t, h1, "late")
	})

	t.Run("offline", func(t *testing.T) {
		undo, err := h0.Inject(ctx, faults.Offline{})
		if err != nil {
			t.Fatal(err)
		}
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		t0 := time.Now()
		_, cerr := clone(cctx, t, h0.RepoURL("r000"))
		took := time.Since(t0)
		timedOut := cctx.Err() != nil
		ccancel()
		if cerr == nil {
			t.Fatal("clone through an offline host succeeded")
		}
		if timedOut || took > 10*time.Second {
			t.Fatalf("clone through an offline host took %s (want a fast failure): %v", took, cerr)
		}
		t.Logf("offline: clone failed after %s: %v", took.Round(time.Millisecond), cerr)
		mustClone(ctx, t, h1, "r000") // the other host is unaffected
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		mustClone(ctx, t, h0, "r000")
	})

	t.Run("blackhole", func(t *testing.T) {
		undo, err := h0.Inject(ctx, faults.Blackhole{})
		if err != nil {
			t.Fatal(err)
		}
		const hold = 3 * time.Second
		cctx, ccancel := context.WithTimeout(ctx, hold)
		t0 := time.Now()
		_, cerr := clone(cctx, t, h0.RepoURL("r000"))
		took := time.Since(t0)
		hung := cctx.Err() != nil
		ccancel()
		if !hung {
			t.Fatalf("clone through a blackhole ended after %s before the %s deadline (err %v): want it to hang", took, hold, cerr)
		}
		mustClone(ctx, t, h1, "r001") // the other host is unaffected
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		if a := h0.Active(); len(a) != 0 {
			t.Fatalf("faults still active after undo: %v", a)
		}
		mustClone(ctx, t, h0, "r000")
	})

	t.Run("stall toxic is registered in the image", func(t *testing.T) {
		undo, err := h1.Inject(ctx, faults.Stall{})
		if err != nil {
			t.Fatalf("inject stall (custom toxic of cmd/toxiproxy-server): %v", err)
		}
		ts, err := h1.Proxy.Toxics()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range ts {
			found = found || x.Type == "stall"
		}
		if !found {
			t.Fatalf("proxy h1 toxics = %+v, want a stall toxic", ts)
		}
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		mustClone(ctx, t, h1, "r000")
	})

	t.Run("server-side fault", func(t *testing.T) {
		if err := h1.Admin.SetFault(ctx, "r000", gitserver.Fault{Mode: gitserver.FaultHTTP500}); err != nil {
			t.Fatal(err)
		}
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		_, cerr := clone(cctx, t, h1.RepoURL("r000"))
		ccancel()
		if cerr == nil || !strings.Contains(cerr.Error(), "500") {
			t.Fatalf("clone of a repo with fault http500 = %v, want an error mentioning 500", cerr)
		}
		if err := h1.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		mustClone(ctx, t, h1, "r000")
	})

	// Close leaves nothing, as the docker CLI sees it too.
	dockertest.CloseAndCheck(t, tbd)
	if left := dockerLS(t, docker.LabelRun+"="+tbd.RunID()); left != "" {
		t.Fatalf("after Close: %s", left)
	}
	if err := tbd.Close(); err != nil {
		t.Fatalf("second Close = %v, want the first result (nil)", err)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, c := range []struct {
		opts testbed.Options
		want string
	}{
		{testbed.Options{Hosts: -1}, "hosts"},
		{testbed.Options{Hosts: 65}, "hosts"},
		{testbed.Options{Repos: -2}, "repos"},
		{testbed.Options{Engine: gitserver.EngineHTTPBackend}, "engine"},
	} {
		_, err := docker.New(context.Background(), c.opts)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), c.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", c.opts, err, c.want)
		}
	}
}

// TestSweep creates labelled objects as a killed run would leave them —
// old ones, a fresh one, an old one of a live process (this one) and an old
// one of a dead process — and checks Sweep removes exactly the abandoned old ones.
func TestSweep(t *testing.T) {
	dockertest.RequireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := "sweeptest" + strconv.FormatInt(time.Now().UnixNano(), 36)
	old := strconv.FormatInt(time.Now().Add(-2*docker.SweepAge).Unix(), 10)
	fresh := strconv.FormatInt(time.Now().Unix(), 10)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	cli, err := docker.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := dockerimg.Ensure(ctx, dockerimg.Options{Client: cli.Client, Images: []dockerimg.Image{dockerimg.Toxiproxy}})
	cli.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	mk := func(kind, name, created string, extra ...string) {
		t.Helper()
		names = append(names, name)
		args := []string{kind, "create", "--label", docker.LabelApp + "=1", "--label", docker.LabelRun + "=" + run, "--label", docker.LabelCreated + "=" + created}
		for _, l := range extra {
			args = append(args, "--label", l)
		}
		if kind == "network" {
			args = append(args, name)
		} else {
			args = append(args, "--name", name, refs.Toxiproxy)
		}
		if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	removeAll := func() {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, names...)...).Run() // errors for names already gone; dockerLS checks the result
		_ = exec.Command("docker", append([]string{"network", "rm"}, names...)...).Run()
	}
	t.Cleanup(removeAll)
	mk("network", run+"-old", old)
	mk("network", run+"-fresh", fresh)
	mk("container", run+"-old", old)
	mk("container", run+"-fresh", fresh)
	mk("container", run+"-live", old, docker.LabelPID+"="+strconv.Itoa(os.Getpid()), docker.LabelHost+"="+host)
	mk("container", run+"-deadpid", old, docker.LabelPID+"="+strconv.Itoa(dead.Process.Pid), docker.LabelHost+"="+host)
	// With an owner label: fresh but its owner is dead, or its pid now runs
	// another process (start time differs) -> swept at any age; old but
	// its owner runs -> kept.
	reused := owner.ID{PID: os.Getppid(), Start: 1}
	mk("container", run+"-newdead", fresh, docker.LabelOwner+"="+strconv.Itoa(dead.Process.Pid)+".1", docker.LabelHost+"="+host)
	mk("container", run+"-newreused", fresh, docker.LabelOwner+"="+reused.String(), docker.LabelHost+"="+host)
	mk("container", run+"-ownerlive", old, docker.LabelOwner+"="+owner.Self().String(), docker.LabelHost+"="+host)

	n, err := docker.Sweep(ctx, docker.SweepAge)
	if err != nil {
		t.Fatal(err)
	}
	left, err := docker.Leftovers(ctx, docker.LabelRun+"="+run)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(left, "; ")
	for _, gone := range []string{"-old", "-deadpid", "-newdead", "-newreused"} {
		if strings.Contains(got, run+gone) {
			t.Errorf("Sweep(%s) left %s: %q", docker.SweepAge, run+gone, got)
		}
	}
	for _, kept := range []string{"container /" + run + "-fresh", "network " + run + "-fresh", "container /" + run + "-live", "container /" + run + "-ownerlive"} {
		if !strings.Contains(got, kept) {
			t.Errorf("Sweep(%s) removed %s (fresh, or its process is alive): left %q", docker.SweepAge, kept, got)
		}
	}
	if n < 5 {
		t.Errorf("Sweep reported %d removed, want >= 5", n)
	}
	// Sweep(0) spares the live one still; nothing else of this test's run
	// is old. (SweepAll is not called: it would take other processes' testbeds.)
	if _, err := docker.Sweep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	left, err = docker.Leftovers(ctx, docker.LabelRun+"="+run)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(left, "; "); len(left) != 2 || !strings.Contains(got, run+"-live ") || !strings.Contains(got, run+"-ownerlive") {
		t.Errorf("Sweep(0) left %q, want only the live process's containers", left)
	}
	removeAll()
	if left := dockerLS(t, docker.LabelRun+"="+run); left != "" {
		t.Fatalf("after removal: %s", left)
	}
}

// TestSIGINTCleanup starts a testbed in a child process, interrupts it and
// checks the child exits 130 leaving nothing behind.
func TestSIGINTCleanup(t *testing.T) {
	dockertest.RequireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=serve")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, rerr := bufio.NewReader(out).ReadString('\n')
	run, ok := strings.CutPrefix(strings.TrimSpace(line), "run ")
	if rerr != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child printed %q (%v), want its run id", line, rerr)
	}
	if left := dockerLS(t, docker.LabelRun+"="+run); left == "" {
		t.Fatalf("child's testbed %s has no containers while running", run)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("child after SIGINT: %v, want exit status 130", err)
	}
	if left := dockerLS(t, docker.LabelRun+"="+run); left != "" {
		t.Fatalf("after SIGINT: %s", left)
	}
}

// recorder is a testing.TB that records Skipf and Fatalf instead of acting.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skipf(f string, args ...any)  { r.skipped = fmt.Sprintf(f, args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }

// TestNoEngineSkipsOrFails checks the decision dockertest makes when there
// is no engine: skip with a message naming the variable, or fail under
// GITCHAOS_REQUIRE_DOCKER=1. (testcontainers falls back to the default
// socket whatever DOCKER_HOST says, so a missing engine cannot be faked on
// a machine that has one.)
func TestNoEngineSkipsOrFails(t *testing.T) {
	cause := fmt.Errorf("docker testbed: %w: ping: connection refused", docker.ErrNoEngine)
	t.Setenv(dockertest.RequireEnv, "")
	r := &recorder{TB: t}
	dockertest.NoEngine(r, cause)
	if r.fatal != "" || !strings.Contains(r.skipped, "connection refused") || !strings.Contains(r.skipped, dockertest.RequireEnv+"=1") {
		t.Errorf("without %s: skipped %q, failed %q; want a skip naming the cause and the variable", dockertest.RequireEnv, r.skipped, r.fatal)
	}
	t.Setenv(dockertest.RequireEnv, "1")
	r = &recorder{TB: t}
	dockertest.NoEngine(r, cause)
	if r.skipped != "" || !strings.Contains(r.fatal, "connection refused") {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure naming the cause", dockertest.RequireEnv, r.skipped, r.fatal)
	}
}

// TestCancelDuringStart cancels New at several points of the start (as
// Ctrl-C in `gitchaos testbed up` does) and checks that nothing created so
// far is left: everything of this process is labelled with its pid.
func TestCancelDuringStart(t *testing.T) {
	dockertest.RequireEngine(t)
	bg, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := docker.EnsureImages(bg, nil); err != nil { // so the deadlines below fall inside container start
		t.Fatal(err)
	}
	pidLabel := docker.LabelPID + "=" + strconv.Itoa(os.Getpid())
	for _, after := range []time.Duration{150 * time.Millisecond, 600 * time.Millisecond} {
		ctx, ccancel := context.WithTimeout(bg, after)
		t0 := time.Now()
		tb, err := docker.New(ctx, testbed.Options{Hosts: 2, Repos: 1})
		ccancel()
		t.Logf("New returned after %s (cleanup included)", time.Since(t0).Round(time.Millisecond))
		if err == nil {
			t.Logf("start finished within %s; closing", after)
			if err := tb.Close(); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "context deadline exceeded") {
			t.Errorf("New cancelled after %s: %v, want a deadline error", after, err)
		} else {
			t.Logf("cancelled after %s: %v", after, err)
		}
		if left := dockerLS(t, pidLabel); left != "" {
			t.Fatalf("New cancelled after %s left: %s", after, left)
		}
	}
}

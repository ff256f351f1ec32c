package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/testbed/docker/dockertest"
)

// The docker testbed from outside the gitchaos checkout (issue 15): once as
// an installed static binary run in an empty directory, once from a user's
// module that requires gitchaos through a replace to this checkout. Both
// need a docker engine (skipped without one, failed under
// GITCHAOS_REQUIRE_DOCKER=1) and take about 30 s each on a warm build cache.

// checkout is the gitchaos module root (this package is cmd/gitchaos).
func checkout(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// outsideEnv is the environment of a command run outside the checkout:
// no GITCHAOS_ROOT, no workspace.
func outsideEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GITCHAOS_ROOT=") || strings.HasPrefix(kv, "GOWORK=") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "GOWORK=off"), extra...)
}

// goCmd is the go command that runs this test (go test puts its
// GOROOT/bin first on PATH).
func goCmd() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// TestInstalledBinaryDockerGate builds gitchaos as `go install` with
// CGO_ENABLED=0 would, and runs `gitchaos gate --testbed docker --only
// offline` in an empty temp dir with no `go` on PATH: the images can only
// come from the running executable (the multi-call binary serves as git
// server and toxiproxy).
func TestInstalledBinaryDockerGate(t *testing.T) {
	skipGateRun(t)
	dockertest.RequireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "gitchaos")
	build := exec.CommandContext(ctx, goCmd(), "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	gitDir := ""
	if p, err := exec.LookPath("git"); err == nil {
		gitDir = filepath.Dir(p)
	}
	path := strings.Join([]string{gitDir, "/usr/bin", "/bin"}, string(os.PathListSeparator))
	if _, err := exec.LookPath(filepath.Join("/usr/bin", "go")); err == nil {
		t.Skip("go is in /usr/bin: cannot run without go on PATH")
	}
	cmd := exec.CommandContext(ctx, bin, "gate", "--testbed", "docker", "--only", "offline")
	cmd.Dir = dir
	cmd.Env = outsideEnv("PATH="+path, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gitchaos gate --testbed docker --only offline in %s (no go on PATH): %v\n%s", dir, err, out)
	}
	if !strings.Contains(string(out), "testbed docker") || !strings.Contains(string(out), "PASS: 1 scenarios") {
		t.Fatalf("gate output lacks the docker testbed or the pass line:\n%s", out)
	}
	t.Logf("%s", out)
}

// userModuleTest is the test file of the throwaway user module.
const userModuleTest = `package usergate

import (
	"testing"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/scenarios"
)

func TestMain(m *testing.M) {
	docker.CloseOnSignal()
	m.Run()
}

func TestOfflineOnDocker(t *testing.T) {
	res := scenarios.Offline(t, &inprocess.Factory{}, scenarios.OfflineParams{}, scenarios.WithTestbed("docker", docker.New))
	if len(res.Checks) == 0 {
		t.Fatalf("offline on docker returned no checks: %+v", res)
	}
	t.Logf("offline on docker: %d checks, %s", len(res.Checks), res.Verdict())
}
`

// TestUserModuleDockerGate writes a module that requires gitchaos (replace
// to this checkout), and runs an offline gate on the docker testbed from
// it with `go test`: the images' binary is built from the gitchaos module
// as the user's build list resolves it.
func TestUserModuleDockerGate(t *testing.T) {
	skipGateRun(t)
	dockertest.RequireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := checkout(t)
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	// The user's requirements: gitchaos, and gitchaos's own requirements
	// at the same versions (what `go get` would write; `go mod tidy` would
	// want modules of other platforms, which are not in this offline
	// module cache).
	own, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	_, reqs, ok := strings.Cut(string(own), "require (")
	if !ok {
		t.Fatal("the checkout's go.mod has no require block")
	}
	reqs, _, _ = strings.Cut(reqs, ")")
	gomod := "module example.com/usergate\n\ngo 1.26.0\n\nrequire github.com/gitchaos/gitchaos v0.0.0-00010101000000-000000000000\n\nrequire (" + reqs + ")\n\nreplace github.com/gitchaos/gitchaos => " + root + "\n"
	for name, data := range map[string][]byte{
		"go.mod":           []byte(gomod),
		"go.sum":           sum,
		"usergate_test.go": []byte(userModuleTest),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Offline: everything the user module needs is in the module cache
	// already (this checkout builds from it).
	env := outsideEnv("GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off")
	test := exec.CommandContext(ctx, goCmd(), "test", "-count=1", "-v", "-run", "TestOfflineOnDocker", ".")
	test.Dir, test.Env = dir, env
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in a user module (replace => %s): %v\n%s", root, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestOfflineOnDocker") {
		t.Fatalf("user module test did not pass:\n%s", out)
	}
	t.Logf("%s", out)
}

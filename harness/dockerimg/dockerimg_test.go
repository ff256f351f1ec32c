package dockerimg

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Ryuk would have to be pulled: nothing can be (see DESIGN.md).
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	goleak.VerifyTestMain(m)
}

// dockerClient returns a client of the local engine, skipping the test when
// there is none unless GITCHAOS_REQUIRE_DOCKER=1, which makes it fail.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		if _, perr := cli.Ping(ctx, client.PingOptions{}); perr != nil {
			cli.Close()
			err = perr
		}
	}
	if err != nil {
		if os.Getenv("GITCHAOS_REQUIRE_DOCKER") == "1" {
			t.Fatalf("no docker engine and GITCHAOS_REQUIRE_DOCKER=1: %v", err)
		}
		t.Skipf("no docker engine (set GITCHAOS_REQUIRE_DOCKER=1 to fail instead): %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli.Client
}

func TestHash(t *testing.T) {
	a := Hash([]byte("FROM scratch\n"), []byte("bin"))
	if len(a) != 64 {
		t.Fatalf("Hash length = %d, want 64 hex digits", len(a))
	}
	if b := Hash([]byte("FROM scratch\n"), []byte("bin")); a != b {
		t.Fatalf("Hash not deterministic: %s vs %s", a, b)
	}
	for _, c := range []struct{ df, bin string }{
		{"FROM scratch\n", "bin2"},
		{"FROM scratch\nENV A=1\n", "bin"},
		// Length framing: moving a byte from one part to the other changes the hash.
		{"FROM scratch\nb", "in"},
	} {
		if h := Hash([]byte(c.df), []byte(c.bin)); h == a {
			t.Errorf("Hash(%q, %q) = Hash of the original: content change not detected", c.df, c.bin)
		}
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "gitchaos")); err != nil {
		t.Fatalf("module root %s has no cmd/gitchaos: %v", root, err)
	}
	dir := t.TempDir()
	if _, err := ModuleRoot(dir); err == nil || !strings.Contains(err.Error(), "go.mod") {
		t.Fatalf("ModuleRoot(dir without go.mod) error = %v, want one naming go.mod", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("// a comment\nmodule example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ModuleRoot(dir); err == nil || !strings.Contains(err.Error(), "not module") || !strings.Contains(err.Error(), "example.com/other") {
		t.Fatalf("ModuleRoot(other module) error = %v, want one saying it is example.com/other, not module %s", err, ModulePath)
	}
}

// TestFindModule: from this package's directory (inside the checkout) the
// module is the checkout, found by go list -m.
func TestFindModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, via, err := FindModule(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if dir != want || !strings.Contains(via, "go list -m") {
		t.Fatalf("FindModule = %q (%s), want %q found by go list -m", dir, via, want)
	}
}

// TestCheckExecutable: a test binary is not the gitchaos command, and a
// file that is no Go binary is refused by name. (The positive case — a
// static gitchaos put in the images as is — runs in cmd/gitchaos's
// outside-the-repo test.)
func TestCheckExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExecutable(exe, runtime.GOARCH); err == nil || !strings.Contains(err.Error(), MainPackage) {
		t.Fatalf("CheckExecutable(test binary) = %v, want an error naming %s", err, MainPackage)
	}
	txt := filepath.Join(t.TempDir(), "gitchaos")
	if err := os.WriteFile(txt, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckExecutable(txt, runtime.GOARCH); err == nil || !strings.Contains(err.Error(), "build info") {
		t.Fatalf("CheckExecutable(shell script) = %v, want an error about build info", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err == nil || !strings.Contains(err.Error(), "Client") {
		t.Fatalf("Validate without client = %v, want an error naming Client", err)
	}
	if err := (Options{Client: &client.Client{}, Root: ".", Executable: "x"}).Validate(); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("Validate with Root and Executable = %v, want an error naming both", err)
	}
}

// TestEnsureToxiproxyCached builds the toxiproxy image (or finds it), then
// ensures it again with the process cache cleared: the second call must
// find the same image by its content hash and build nothing.
func TestEnsureToxiproxyCached(t *testing.T) {
	cli := dockerClient(t)
	// The first Ensure may build the whole gitchaos binary (cold: minutes
	// on a loaded 2-core machine) and send it to the engine.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	opts := Options{Client: cli, Images: []Image{Toxiproxy}}

	refs, err := Ensure(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if refs.GitServer != "" {
		t.Errorf("GitServer ref = %q, want empty (not asked for)", refs.GitServer)
	}
	if !strings.HasPrefix(refs.Toxiproxy, Toxiproxy.Name+":") || len(refs.Toxiproxy) != len(Toxiproxy.Name)+1+16 {
		t.Fatalf("Toxiproxy ref = %q, want %s:<16 hex digits>", refs.Toxiproxy, Toxiproxy.Name)
	}
	first, err := cli.ImageInspect(ctx, refs.Toxiproxy)
	if err != nil {
		t.Fatalf("inspect %s: %v", refs.Toxiproxy, err)
	}
	if got := first.Config.Labels[LabelImage]; got != Toxiproxy.Name {
		t.Errorf("image label %s = %q, want %q", LabelImage, got, Toxiproxy.Name)
	}
	if _, ok := first.Config.Labels[LabelApp]; ok {
		t.Errorf("image carries %s: containers inherit it and the sweep would take hand-started ones", LabelApp)
	}

	cacheMu.Lock()
	clear(cache)
	cacheMu.Unlock()
	start := time.Now()
	again, err := Ensure(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again != refs {
		t.Fatalf("second Ensure = %+v, want %+v (same sources, same hash)", again, refs)
	}
	second, err := cli.ImageInspect(ctx, again.Toxiproxy)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Created != first.Created {
		t.Fatalf("image rebuilt: id %s (created %s) became %s (created %s)", first.ID, first.Created, second.ID, second.Created)
	}
	t.Logf("ref %s; second Ensure (go build from cache + inspect) took %s", again.Toxiproxy, time.Since(start))

	// The in-process cache answers without building or asking the engine
	// to (counted, not timed: a timing bound failed on a loaded CI box).
	cacheMu.Lock()
	before := builds
	cacheMu.Unlock()
	if _, err := Ensure(ctx, opts); err != nil {
		t.Fatal(err)
	}
	cacheMu.Lock()
	after := builds
	cacheMu.Unlock()
	if after != before {
		t.Errorf("a cached Ensure ran the build step (%d times), want the process cache to answer", after-before)
	}
}

func TestEnsureRejectsUnknownImage(t *testing.T) {
	cli := dockerClient(t)
	_, err := Ensure(context.Background(), Options{Client: cli, Images: []Image{{Name: "nope"}}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Ensure(unknown image) = %v, want an error naming it", err)
	}
}

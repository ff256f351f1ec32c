package docker_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/gitchaos/gitchaos/harness/dockerimg"
	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/harness/testbed/docker/dockertest"
)

// composePorts are the fixed ports docker-compose.yml publishes.
var composePorts = []int{8474, 22000, 22001, 18000, 18001}

// composeCmd finds `docker compose` (v2) or `docker-compose` (v1).
func composeCmd() ([]string, error) {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, nil
	}
	return nil, fmt.Errorf("neither `docker compose` nor `docker-compose` is installed")
}

// TestCompose brings up docker-compose.yml as documented (images tagged
// :latest, as `make images` does), clones through the composed proxy,
// blackholes h0 through toxiproxy's API and clears it, then tears the
// stack down and checks nothing of it is left.
func TestCompose(t *testing.T) {
	dockertest.RequireEngine(t)
	compose, err := composeCmd()
	if err != nil {
		dockertest.NoEngine(t, err)
		return
	}
	for _, p := range composePorts {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Skipf("port %d, which docker-compose.yml publishes, is taken (is the stack already up?): %v", p, err)
		}
		ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, _, err := dockerimg.FindModule(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := docker.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := dockerimg.Ensure(ctx, dockerimg.Options{Client: cli.Client, Root: root})
	if err == nil {
		err = dockerimg.Tag(ctx, cli.Client, refs.GitServer, dockerimg.GitServer.Name+":latest")
	}
	if err == nil {
		err = dockerimg.Tag(ctx, cli.Client, refs.Toxiproxy, dockerimg.Toxiproxy.Name+":latest")
	}
	cli.Close()
	if err != nil {
		t.Fatal(err)
	}

	project := "gitchaoscomposetest" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	run := func(ctx context.Context, args ...string) error {
		full := append(append(append([]string{}, compose[1:]...), "-p", project, "-f", filepath.Join(root, "docker-compose.yml")), args...)
		cmd := exec.CommandContext(ctx, compose[0], full...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w\n%s", compose[0], strings.Join(full, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		if err := run(dctx, "down", "--remove-orphans", "--timeout", "1"); err != nil {
			t.Error(err)
		}
		if left := dockerLS(t, "com.docker.compose.project="+project); left != "" {
			t.Errorf("after compose down: %s", left)
		}
	})
	start := time.Now()
	if err := run(ctx, "up", "-d"); err != nil {
		t.Fatal(err)
	}

	// The stack is up when a clone through the proxy succeeds.
	url := "http://127.0.0.1:22000/r000.git"
	eventuallytest.Require(t, 60*time.Second, "a clone through the composed proxy", func() (bool, any) {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_, err := clone(cctx, t, url)
		return err == nil, err
	})
	t.Logf("compose stack up and cloned in %s", time.Since(start).Round(time.Millisecond))
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	if _, err := clone(cctx, t, "http://127.0.0.1:22001/r002.git"); err != nil {
		t.Fatalf("h1 through the proxy: %v", err)
	}
	ccancel()

	p, err := toxiclient.NewClient("http://127.0.0.1:8474").Proxy("h0")
	if err != nil {
		t.Fatal(err)
	}
	if err := (faults.Blackhole{}).Inject(ctx, p); err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithTimeout(ctx, 3*time.Second)
	_, herr := clone(hctx, t, url)
	hung := hctx.Err() != nil
	hcancel()
	if !hung {
		t.Fatalf("clone through the blackholed compose proxy ended before 3 s: %v", herr)
	}
	if err := (faults.Blackhole{}).Recover(ctx, p); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel = context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	if _, err := clone(cctx, t, url); err != nil {
		t.Fatalf("clone after clearing the blackhole: %v", err)
	}
}

package dockerimg

import (
	"context"
	"os"
	"testing"

	"github.com/testcontainers/testcontainers-go"
)

func TestTmpToxi(t *testing.T) {
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx := context.Background()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	root, err := ModuleRoot("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/x", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := buildBinariesPkgs(ctx, root, dir, "./cmd/toxiproxy-server"); err != nil {
		t.Fatal(err)
	}
	ref, built, err := ensureImage(ctx, cli.Client, root, dir, Toxiproxy)
	t.Log(ref, built, err)
}

func buildBinariesPkgs(ctx context.Context, root, dir string, pkgs ...string) error {
	return runGoBuild(ctx, root, dir, nil, pkgs)
}

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// goListDeps lists pkg's dependencies, each line "import/path imports...".
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestLayering pins what the release binary and the target package link:
//   - no package of ours that the binary links imports testing (the only
//     importers left are testcontainers-go's own packages, whose
//     testing.go and log package import it unconditionally: the docker
//     testbed is built on testcontainers-go);
//   - harness/target does not link the reference fetcher nor go-git, so a
//     user who gates their own process links neither.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list (a few seconds)")
	}
	for _, line := range goListDeps(t, "github.com/gitchaos/gitchaos/cmd/gitchaos") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		for _, imp := range f[1:] {
			if imp == "testing" && !strings.HasPrefix(f[0], "github.com/testcontainers/") {
				t.Errorf("%s imports testing, and the gitchaos binary links it", f[0])
			}
		}
	}
	for _, line := range goListDeps(t, "github.com/gitchaos/gitchaos/harness/target") {
		pkg := strings.Fields(line)[0]
		if strings.HasPrefix(pkg, "github.com/go-git/") || strings.HasPrefix(pkg, "github.com/gitchaos/gitchaos/harness/fetcher") {
			t.Errorf("harness/target links %s", pkg)
		}
	}
}

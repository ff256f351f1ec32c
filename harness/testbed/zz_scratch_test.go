package testbed

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
)

func TestZZScratch(t *testing.T) {
	ctx := context.Background()
	tb, err := NewLocal(ctx, Options{Hosts: 1, Seed: 1, Engine: gitserver.EngineHTTPBackend})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	h := tb.Hosts()[0]
	if _, err := h.CreateRepo(ctx, "f", 3, repogen.Spec{RegoFiles: 1, DataBytes: 64, Commits: 1}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := exec.Command("git", "clone", "--bare", "--quiet", h.RepoURL("f"), filepath.Join(dir, "r")).CombinedOutput()
	if err != nil {
		t.Fatal(err, string(out))
	}
	pad := make([]byte, 13<<10)
	r := rand.New(rand.NewPCG(1, 0))
	for i := range pad {
		pad[i] = byte(r.Uint32())
	}
	if _, err := h.Admin.Commit(ctx, "f", gitserver.CommitRequest{Seed: 5, Files: map[string]string{"drip/p.b64": base64.StdEncoding.EncodeToString(pad)}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Admin.SetFault(ctx, "f", gitserver.Fault{Mode: gitserver.FaultSlow, BytesPerSec: 2048}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	cmd := exec.Command("git", "-C", filepath.Join(dir, "r"), "fetch", "--prune", "--force", "origin", "+refs/heads/*:refs/heads/*")
	cmd.Env = append(os.Environ(), "GIT_TRACE_PACKET=0", "GIT_TRACE_CURL=1", "GIT_TRACE_CURL_NO_DATA=1")
	out, err = cmd.CombinedOutput()
	t.Logf("fetch %v %v\n%s", time.Since(t0), err, out)
	cs, _ := h.Admin.Counters(ctx, "f")
	t.Logf("%+v", cs)
}

package docker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/testbed"
	"github.com/gitchaos/gitchaos/harness/testbed/docker/dockertest"
)

// TestDockerSSH clones over SSH from a git server container through the
// toxiproxy container (go-git's ssh transport, the testbed's keys), then
// holds a clone with a hang before the pack: it ends at its deadline and
// the containerised server counts the session abandoned.
func TestDockerSSH(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb := dockertest.New(t, ctx, testbed.Options{Hosts: 1, Repos: 2, Seed: 7, Spec: smallSpec(), Transport: testbed.TransportSSH})
	h := tb.Hosts()[0]
	id, err := testbed.SSHKeys()
	if err != nil {
		t.Fatal(err)
	}
	auth := &gitssh.PublicKeys{User: testbed.SSHUser, Signer: id.ClientSigner}
	auth.HostKeyCallback = ssh.FixedHostKey(id.HostSigner.PublicKey())
	info, err := h.Admin.Repo(ctx, "r000")
	if err != nil {
		t.Fatal(err)
	}
	r, err := git.PlainCloneContext(ctx, t.TempDir(), true, &git.CloneOptions{URL: h.RepoURL("r000"), Auth: auth})
	if err != nil {
		t.Fatalf("clone %s: %v", h.RepoURL("r000"), err)
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil || ref.Hash().String() != info.Head {
		t.Fatalf("clone over SSH: main %v (%v), want %s", ref, err, info.Head)
	}

	if err := h.Admin.SetFault(ctx, "r001", gitserver.Fault{Mode: gitserver.FaultHang, Op: gitserver.OpUploadPack}); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, time.Second)
	t0 := time.Now()
	_, err = git.PlainCloneContext(cctx, t.TempDir(), true, &git.CloneOptions{URL: h.RepoURL("r001"), Auth: auth})
	ccancel()
	if took := time.Since(t0); err == nil || took < 900*time.Millisecond || took > 10*time.Second {
		t.Fatalf("clone held before the pack: took %v, err %v; want a failure at the 1s deadline", took, err)
	}
	out := eventually.Poll(ctx, 10*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		cs, err := h.Admin.Counters(ctx, "r001")
		return err == nil && cs.InFlight == 0 && cs.Abandoned >= 1, fmt.Sprintf("%+v", cs), err
	})
	if !out.OK {
		t.Fatalf("the hung SSH session did not end abandoned: %s", out.Describe())
	}
}

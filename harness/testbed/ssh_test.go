package testbed_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// sshCmd is the GIT_SSH_COMMAND of the git/ssh client (set by sshClients).
var sshCmd string

// sshClients are go-git's ssh transport and, when installed, the git
// command with GIT_SSH_COMMAND running OpenSSH's ssh with the testbed's
// client key and a known_hosts file that trusts its host key.
func sshClients(t *testing.T) []cloner {
	t.Helper()
	id, err := testbed.SSHKeys()
	if err != nil {
		t.Fatal(err)
	}
	auth := &gitssh.PublicKeys{User: testbed.SSHUser, Signer: id.ClientSigner}
	auth.HostKeyCallback = ssh.FixedHostKey(id.HostSigner.PublicKey())
	goGit := cloner{name: "go-git/ssh", head: goGitHead, clone: func(ctx context.Context, url, dir string) error {
		_, err := git.PlainCloneContext(ctx, dir, true, &git.CloneOptions{URL: url, Auth: auth})
		if err != nil {
			if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
				err = fmt.Errorf("%w (context: %w)", err, cerr)
			}
			return fmt.Errorf("go-git clone %s: %w", url, err)
		}
		return nil
	}}
	_, gerr := exec.LookPath("git")
	_, serr := exec.LookPath("ssh")
	if gerr != nil || serr != nil {
		t.Logf("git or ssh not on PATH: only go-git is driven")
		return []cloner{goGit}
	}
	dir := t.TempDir()
	key, kh := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, []byte(id.ClientPrivateKeyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, []byte(id.KnownHosts()), 0o600); err != nil {
		t.Fatal(err)
	}
	sshCmd = fmt.Sprintf("ssh -i %s -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s", key, kh)
	gitCmd := cloner{name: "git/ssh", head: gitHead, clone: func(ctx context.Context, url, dir string) error {
		return gitCloneEnv(ctx, url, dir, "GIT_SSH_COMMAND="+sshCmd)
	}}
	return []cloner{goGit, gitCmd}
}

// TestSSHTransport clones over SSH through the proxy with go-git and the
// git command, on both engines: a clean clone, a clone held by a hang
// before the pack (it ends at its deadline, the server counts it
// abandoned), a slow pack, and a network fault on the proxy.
func TestSSHTransport(t *testing.T) {
	engines := []gitserver.Engine{gitserver.EngineGoGit}
	if _, err := exec.LookPath("git"); err == nil {
		engines = append(engines, gitserver.EngineHTTPBackend)
	}
	for _, eng := range engines {
		t.Run(string(eng), func(t *testing.T) {
			l := start(t, testbed.Options{Repos: 2, Seed: 3, Engine: eng, Transport: testbed.TransportSSH})
			h := l.Hosts()[0]
			if !strings.HasPrefix(h.URL, "ssh://git@127.0.0.1:") {
				t.Fatalf("host URL %q: want ssh://git@127.0.0.1:PORT", h.URL)
			}
			want := headOf(t, h, "r000")
			for _, c := range sshClients(t) {
				t.Run(c.name, func(t *testing.T) {
					ctx := context.Background()
					mustClone(t, c, h.RepoURL("r000"), want)

					// hang before the pack: the refs are read, then nothing.
					if err := h.Admin.SetFault(ctx, "r001", gitserver.Fault{Mode: gitserver.FaultHang, Op: gitserver.OpUploadPack}); err != nil {
						t.Fatal(err)
					}
					cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
					took, err := timedClone(cctx, t, c, h.RepoURL("r001"))
					cancel()
					if err == nil || took < 450*time.Millisecond {
						t.Fatalf("clone with a hang before the pack: took %v, err %v; want a failure at the 500ms deadline", took, err)
					}
					out := eventually.Poll(ctx, 5*time.Second, 10*time.Millisecond, func(ctx context.Context) (bool, string, error) {
						cs, err := h.Admin.Counters(ctx, "r001")
						return err == nil && cs.InFlight == 0 && cs.Abandoned >= 1, fmt.Sprintf("%+v", cs), err
					})
					if !out.OK {
						t.Fatalf("the hung session did not end abandoned: %s", out.Describe())
					}
					if err := h.Admin.ClearFault(ctx, "r001"); err != nil {
						t.Fatal(err)
					}

					// slow pack.
					if err := h.Admin.SetFault(ctx, "r001", gitserver.Fault{Mode: gitserver.FaultSlow, BytesPerSec: 20_000}); err != nil {
						t.Fatal(err)
					}
					before, err := h.Admin.Counters(ctx, "r001")
					if err != nil {
						t.Fatal(err)
					}
					took = mustClone(t, c, h.RepoURL("r001"), "")
					after, err := h.Admin.Counters(ctx, "r001")
					if err != nil {
						t.Fatal(err)
					}
					// The pacer sends a 1/20 s chunk at once, then keeps to the rate.
					n := after.BytesServed - before.BytesServed
					if floor := time.Duration(float64(n)/20_000*float64(time.Second)) - 60*time.Millisecond; n <= 0 || took < floor {
						t.Errorf("clone of %d pack bytes at 20 KB/s took %v, want >= %v", n, took, floor)
					}
					if err := h.Admin.ClearFault(ctx, "r001"); err != nil {
						t.Fatal(err)
					}

					// a network fault acts on the SSH connection.
					undo := inject(t, h, faults.MustParse("reset"))
					cctx, cancel = context.WithTimeout(ctx, 10*time.Second)
					_, err = timedClone(cctx, t, c, h.RepoURL("r000"))
					cancel()
					if err == nil {
						t.Fatal("clone through a reset proxy succeeded")
					}
					undo()
					mustClone(t, c, h.RepoURL("r000"), want)
				})
			}
		})
	}
}

// TestSSHIncrementalFetch: the git command fetches over SSH after two
// pushes, on both engines: the have/ACK rounds of the stateful exchange
// end with an incremental pack that brings the new head.
func TestSSHIncrementalFetch(t *testing.T) {
	if len(sshClients(t)) < 2 {
		t.Skip("git or ssh not on PATH")
	}
	for _, eng := range []gitserver.Engine{gitserver.EngineGoGit, gitserver.EngineHTTPBackend} {
		t.Run(string(eng), func(t *testing.T) {
			l := start(t, testbed.Options{Repos: 1, Seed: 5, Engine: eng, Transport: testbed.TransportSSH})
			h := l.Hosts()[0]
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := cloneDir(t)
			if err := sshClients(t)[1].clone(ctx, h.RepoURL("r000"), dir); err != nil {
				t.Fatal(err)
			}
			cloned, err := h.Admin.Counters(ctx, "r000")
			if err != nil {
				t.Fatal(err)
			}
			var want string
			for i := range 2 {
				info, err := h.Admin.Commit(ctx, "r000", gitserver.CommitRequest{Seed: int64(100 + i)})
				if err != nil {
					t.Fatal(err)
				}
				want = info.Head
			}
			before, err := h.Admin.Counters(ctx, "r000")
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, "git", "--git-dir", dir, "fetch", "--quiet", "origin", "+refs/heads/*:refs/heads/*")
			cmd.Env = append(gitEnv(filepath.Dir(dir)), "GIT_SSH_COMMAND="+sshCmd)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git fetch over ssh: %v: %s", err, out)
			}
			if got, err := gitHead(dir); err != nil || got != want {
				t.Fatalf("after the fetch main is %s (%v), want %s", got, err, want)
			}
			after, err := h.Admin.Counters(ctx, "r000")
			if err != nil {
				t.Fatal(err)
			}
			if d := after.UploadPacks - before.UploadPacks; d != 1 {
				t.Errorf("the fetch made %d upload-packs, want 1", d)
			}
			if fetched := after.BytesServed - before.BytesServed; fetched <= 0 || fetched >= cloned.BytesServed {
				t.Errorf("the fetch's pack is %d bytes, the clone's %d: want an incremental pack", fetched, cloned.BytesServed)
			}
		})
	}
}

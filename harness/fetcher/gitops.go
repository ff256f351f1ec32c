package fetcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// cloneMarker is written into a clone dir after the clone completed; a dir
// without it is a half-written clone (the process died mid-clone).
const cloneMarker = "gitchaos-clone.json"

const remoteName = "origin"

var fetchSpec = config.RefSpec("+refs/heads/*:refs/remotes/origin/*")

// openStorage opens the bare repository at dir holding its descriptors
// (KeepDescriptors, as pygit2 does) with a bounded object cache.
func openStorage(dir string, cacheBytes int64, keep bool) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(cache.FileSize(cacheBytes)),
		filesystem.Options{KeepDescriptors: keep})
}

// openRepoAt opens an existing clone.
func openRepoAt(dir string, cacheBytes int64) (*openRepo, error) {
	st := openStorage(dir, cacheBytes, true)
	r, err := git.Open(st, nil)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &openRepo{repo: r, storage: st}, nil
}

// cloneStaged clones url into a fresh dir under tmpRoot and renames it to
// dir once complete, so dir only ever holds a finished clone; a failed or
// cancelled clone's staging dir is removed (and one left by a crash is
// removed at the next start).
func cloneStaged(ctx context.Context, tmpRoot, dir, url string, cacheBytes int64) (*openRepo, error) {
	if err := os.MkdirAll(tmpRoot, 0o755); err != nil {
		return nil, fmt.Errorf("clone staging: %w", err)
	}
	tmp, err := os.MkdirTemp(tmpRoot, filepath.Base(dir)+"-*")
	if err != nil {
		return nil, fmt.Errorf("clone staging: %w", err)
	}
	r, err := cloneInto(ctx, tmp, url, cacheBytes)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	r.close() // its storage works on paths under tmp
	if err := os.RemoveAll(dir); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("clone %s: clear %s: %w", url, dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("clone %s: move into place: %w", url, err)
	}
	return openRepoAt(dir, cacheBytes)
}

// cloneInto clones url into dir (which must not hold a clone): init, fetch
// every branch, then record the origin remote and the completion marker, so
// only a finished clone has a remote and a marker. On failure whatever was
// written stays in dir (cloneStaged writes into a staging dir it removes).
func cloneInto(ctx context.Context, dir, url string, cacheBytes int64) (res *openRepo, err error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clear %s: %w", dir, err)
	}
	st := openStorage(dir, cacheBytes, true)
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	repo, err := git.Init(st, nil)
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	rc := &config.RemoteConfig{Name: remoteName, URLs: []string{url}, Fetch: []config.RefSpec{fetchSpec}}
	auth, proxyOpts, sshDone := sshTransport(ctx)
	defer sshDone()
	err = git.NewRemote(st, rc).FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName, RefSpecs: rc.Fetch, Tags: git.NoTags, Force: true, Auth: auth, ProxyOptions: proxyOpts,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("clone %s: %w", url, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("clone %s: %w", url, err)
	}
	if _, err := repo.CreateRemote(rc); err != nil {
		return nil, fmt.Errorf("clone %s: record remote: %w", url, err)
	}
	m, _ := json.Marshal(map[string]any{"url": url, "cloned_at": time.Now().UTC()})
	if err := writeFileAtomic(filepath.Join(dir, cloneMarker), m); err != nil {
		return nil, fmt.Errorf("clone %s: %w", url, err)
	}
	return &openRepo{repo: repo, storage: st}, nil
}

// fetchInto force-fetches every branch of origin.
func fetchInto(ctx context.Context, r *openRepo) error {
	rem, err := r.repo.Remote(remoteName)
	if err != nil {
		return fmt.Errorf("fetch: remote %q: %w", remoteName, err)
	}
	auth, proxyOpts, sshDone := sshTransport(ctx)
	defer sshDone()
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName, RefSpecs: []config.RefSpec{fetchSpec}, Tags: git.NoTags, Force: true, Auth: auth, ProxyOptions: proxyOpts,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s: %w", rem.Config().URLs[0], err)
	}
	return nil
}

// branchHead resolves the remote-tracking head of branch and reads its
// commit (which also opens the pack that holds it).
func branchHead(r *openRepo, branch string) (string, error) {
	ref, err := r.repo.Reference(plumbing.NewRemoteReferenceName(remoteName, branch), true)
	if err != nil {
		return "", fmt.Errorf("branch %q: %w", branch, err)
	}
	if _, err := r.repo.CommitObject(ref.Hash()); err != nil {
		return "", fmt.Errorf("branch %q: commit %s: %w", branch, ref.Hash(), err)
	}
	return ref.Hash().String(), nil
}

// hasCommit reports whether the clone holds commit hash.
func hasCommit(r *openRepo, hash string) bool {
	if !plumbing.IsHash(hash) {
		return false
	}
	_, err := r.repo.CommitObject(plumbing.NewHash(hash))
	return err == nil
}

// verifyClone opens dir and checks it is a finished clone: the completion
// marker, the origin remote, and every remote-tracking head readable.
func verifyClone(dir string, cacheBytes int64) (*openRepo, error) {
	if _, err := os.Stat(filepath.Join(dir, cloneMarker)); err != nil {
		return nil, fmt.Errorf("half-written clone %s: no completion marker: %w", dir, err)
	}
	r, err := openRepoAt(dir, cacheBytes)
	if err != nil {
		return nil, fmt.Errorf("half-written clone: %w", err)
	}
	fail := func(err error) (*openRepo, error) {
		r.close()
		return nil, fmt.Errorf("half-written clone %s: %w", dir, err)
	}
	if _, err := r.repo.Remote(remoteName); err != nil {
		return fail(fmt.Errorf("remote %q: %w", remoteName, err))
	}
	refs, err := r.repo.References()
	if err != nil {
		return fail(err)
	}
	n := 0
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if !ref.Name().IsRemote() || ref.Type() != plumbing.HashReference {
			return nil
		}
		n++
		c, err := r.repo.CommitObject(ref.Hash())
		if err != nil {
			return fmt.Errorf("%s: %w", ref.Name(), err)
		}
		if _, err := c.Tree(); err != nil {
			return fmt.Errorf("%s: tree: %w", ref.Name(), err)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if n == 0 {
		return fail(errors.New("no remote-tracking branch"))
	}
	return r, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// scopeBranch is the local branch that tracks a scope's commit, as OPAL keeps
// one per scope in the shared clone.
func scopeBranch(scopeID string) plumbing.ReferenceName {
	return plumbing.NewBranchReferenceName("scopes/" + scopeID)
}

// trackScopeBranch moves the scope's local branch to head and returns where
// it was ("" if new): the scope's change old -> new.
func trackScopeBranch(r *openRepo, scopeID, head string) (string, error) {
	name := scopeBranch(scopeID)
	old := ""
	if ref, err := r.repo.Storer.Reference(name); err == nil {
		old = ref.Hash().String()
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", fmt.Errorf("scope branch %s: %w", name, err)
	}
	if old == head {
		return old, nil
	}
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(name, plumbing.NewHash(head))); err != nil {
		return "", fmt.Errorf("scope branch %s: %w", name, err)
	}
	return old, nil
}

func removeScopeBranch(r *openRepo, scopeID string) error {
	if err := r.repo.Storer.RemoveReference(scopeBranch(scopeID)); err != nil {
		return fmt.Errorf("remove scope branch: %w", err)
	}
	return nil
}

// Pack compaction: every fetch that brings objects adds a pack, and with
// KeepDescriptors every pack read holds a descriptor (and its index sits in
// memory), so a clone fetched again and again would grow without bound, as
// a git clone does without gc. After a fetch the fetcher repacks a clone
// into one pack (dropping objects no ref reaches, e.g. after a force push)
// when it has more than one pack and at most compactMaxBytes of them, or
// more than compactMaxPacks packs whatever their size.
const (
	compactMaxBytes = 64 << 20
	compactMaxPacks = 16
)

// needsCompaction reports whether the clone's packs should be repacked.
func needsCompaction(r *openRepo, dir string) (bool, error) {
	pos, ok := r.repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return false, nil
	}
	packs, err := pos.ObjectPacks()
	if err != nil {
		return false, fmt.Errorf("list packs: %w", err)
	}
	if len(packs) <= 1 {
		return false, nil
	}
	if len(packs) > compactMaxPacks {
		return true, nil
	}
	var size int64
	for _, h := range packs {
		fi, err := os.Stat(filepath.Join(dir, "objects", "pack", "pack-"+h.String()+".pack"))
		if err != nil {
			return false, fmt.Errorf("pack %s: %w", h, err)
		}
		size += fi.Size()
	}
	return size <= compactMaxBytes, nil
}

// compact repacks the clone at dir through r and returns a fresh handle
// (the old one still holds descriptors of the deleted packs: the caller
// closes it).
func compact(r *openRepo, dir string, cacheBytes int64) (*openRepo, error) {
	if err := r.repo.RepackObjects(&git.RepackConfig{}); err != nil {
		return nil, fmt.Errorf("repack %s: %w", dir, err)
	}
	return openRepoAt(dir, cacheBytes)
}

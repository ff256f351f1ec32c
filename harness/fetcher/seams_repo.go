package fetcher

import (
	"context"
	"fmt"
	"os"
)

// ---- existing clones ----

// verifier opens a clone dir found on disk that is not open yet (boot,
// restart) and makes new clones (deciding where a failed clone's data ends up).
type verifier interface {
	// open returns the usable clone in src.dir, or nil when there is none
	// (a bad one is removed).
	open(f *Fetcher, src *source) *openRepo
	// clone makes a new clone of src.
	clone(ctx context.Context, f *Fetcher, src *source) (*openRepo, error)
}

// verifyOrReclone checks the completion marker, remote and heads; a
// half-written clone is removed so that it is cloned again.
type verifyOrReclone struct{}

func (verifyOrReclone) open(f *Fetcher, src *source) *openRepo {
	r, err := verifyClone(src.dir, f.cfg.ObjectCacheBytes)
	if err != nil {
		f.log.Warn("clone on disk is not usable; cloning again", "source", src.id, "err", err)
		if err := os.RemoveAll(src.dir); err != nil {
			f.log.Error("remove unusable clone", "source", src.id, "err", err)
		}
		return nil
	}
	return r
}

// clone stages the clone outside git_sources and moves it into place when
// complete.
func (verifyOrReclone) clone(ctx context.Context, f *Fetcher, src *source) (*openRepo, error) {
	return cloneStaged(ctx, f.stagingDir(), src.dir, src.url, f.cfg.ObjectCacheBytes)
}

// trustExisting is the trust-partial-clone mutant: any dir that opens as a
// repository is used as is, and a clone is written in place, so a
// timed-out or killed clone leaves its partial dir under git_sources.
type trustExisting struct{}

func (trustExisting) open(f *Fetcher, src *source) *openRepo {
	r, err := openRepoAt(src.dir, f.cfg.ObjectCacheBytes)
	if err != nil {
		f.log.Warn("clone on disk does not open", "source", src.id, "err", err)
		return nil
	}
	return r
}

// clone clones in place and leaves whatever a failed clone wrote.
func (trustExisting) clone(ctx context.Context, f *Fetcher, src *source) (*openRepo, error) {
	return cloneInto(ctx, src.dir, src.url, f.cfg.ObjectCacheBytes)
}

// ---- reusing the open repository ----

// repoReuser returns the handle a sync works on, given the cached one, and
// what to do when the sync is done with it.
type repoReuser interface {
	reuse(f *Fetcher, src *source, cached *openRepo) (*openRepo, func(), error)
}

// reuseOpen keeps using the cached handle.
type reuseOpen struct{}

func (reuseOpen) reuse(_ *Fetcher, _ *source, cached *openRepo) (*openRepo, func(), error) {
	return cached, func() {}, nil
}

// reopenNoFree is the reopen-per-sync mutant: every sync opens the
// repository again (pygit2.Repository(path)) and replaces the cached
// handle without freeing it, so each round keeps one more set of pack
// descriptors (see unfreed).
type reopenNoFree struct{ heap *unfreed }

func (p reopenNoFree) reuse(f *Fetcher, src *source, _ *openRepo) (*openRepo, func(), error) {
	r, err := openRepoAt(src.dir, f.cfg.ObjectCacheBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("reopen: %w", err)
	}
	p.heap.keep(f.caches.setRepo(src.dir, r))
	return r, func() {}, nil
}

// privateHandle goes with no-inflight-guard: once the source lock is let go
// at the timeout, two operations can run on one clone, so each works on its
// own handle, closed when its caller is done. They then collide on disk
// instead of inside one go-git repository (whose storage is not safe for
// concurrent writers: a fatal concurrent map write would take the whole
// harness down instead of failing a gate). A lingering fetch may find its
// handle closed by then: it fails, as the real one might.
type privateHandle struct{}

func (privateHandle) reuse(f *Fetcher, src *source, _ *openRepo) (*openRepo, func(), error) {
	r, err := openRepoAt(src.dir, f.cfg.ObjectCacheBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	return r, func() { r.close() }, nil
}

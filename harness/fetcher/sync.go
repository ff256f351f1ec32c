package fetcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"
)

// syncOpts say when a sync fetches.
type syncOpts struct {
	force   bool      // fetch, unless a fetch started at or after reqTime succeeded
	reqTime time.Time // zero: none
	hinted  string    // fetch only if this commit is missing
	local   bool      // no git work: read the open clone only
	branch  string    // the scope's branch (filled by syncScope)
	scope   string    // the scope id (filled by syncScope)
}

// superseded reports whether src's id now belongs to a newer source (a scope
// for the same id was put after src's last scope was deleted).
func (f *Fetcher) superseded(src *source) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.sources[src.id]
	return cur != nil && cur != src
}

// syncScope syncs one scope: its source is cloned or fetched as opts say
// (skipped if an operation runs on it), then the scope's head is read and
// its state updated. A failure is logged and recorded, never returned to
// other scopes.
func (f *Fetcher) syncScope(ctx context.Context, id string, opts syncOpts) error {
	f.mu.Lock()
	st := f.scopes[id]
	var src *source
	if st != nil {
		src = f.sources[st.sid]
		opts.branch, opts.scope = st.scope.Policy.Branch, id
	}
	f.mu.Unlock()
	if st == nil || src == nil {
		return fmt.Errorf("sync %s: %w", id, ErrNotFound)
	}
	head, err := f.syncSource(ctx, src, opts)
	if errors.Is(err, errInFlight) {
		// Single flight: the git work is never run beside the running
		// operation. Wait for it to end, then decide again: if its git
		// work failed, only read the clone it left, so the scope still
		// gets its head without queueing another hung fetch; otherwise a
		// forced sync fetches once more unless a fetch that started after
		// this request succeeded (shouldFetch: the one that ran may have
		// missed what the request announced). The flight says how it
		// ended: a stamp read before the wait cannot, for a fetch that
		// stamped its success before this request came but had not yet
		// let go of the source. Every operation ends (timeouts), so each
		// wait makes progress; with many scopes on one source their reads
		// take turns, and none gives up before its state is recorded
		// (only ctx ends the wait).
		retry := opts
		for errors.Is(err, errInFlight) {
			ended, failed := src.waitFlight(ctx)
			if !ended {
				return fmt.Errorf("sync %s: %w", id, ctx.Err())
			}
			if failed {
				retry = syncOpts{local: true, branch: opts.branch, scope: opts.scope}
			}
			head, err = f.syncSource(ctx, src, retry)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scopes[id] != st {
		return fmt.Errorf("sync %s: %w", id, ErrNotFound)
	}
	st.syncedAt = time.Now()
	if err != nil {
		st.status, st.reason = statusFailed, err.Error()
		f.log.Warn("scope sync failed", "scope", id, "source", src.id, "url", src.url, "err", err)
		return err
	}
	if st.head != head {
		f.log.Info("scope changed", "scope", id, "old", st.head, "new", head)
	}
	st.status, st.reason, st.head = statusReady, "", head
	return nil
}

// syncSource runs one guarded operation on src and returns the head of
// opts.branch.
func (f *Fetcher) syncSource(ctx context.Context, src *source, opts syncOpts) (string, error) {
	ctx, stop := f.mergeCtx(ctx)
	defer stop()
	gctx, leave, err := f.strat.guard.enter(ctx, f, src)
	if err != nil {
		return "", err
	}
	defer leave()
	r, done, err := f.ensureRepo(gctx, src, opts)
	if err != nil {
		return "", err
	}
	defer done()
	head, err := branchHead(r, opts.branch)
	if err != nil || opts.scope == "" {
		return head, err
	}
	old, err := trackScopeBranch(r, opts.scope, head)
	if err != nil {
		return "", err
	}
	if old != head {
		f.log.Debug("scope branch moved", "scope", opts.scope, "old", old, "new", head)
	}
	return head, nil
}

// ensureRepo makes sure src has an open clone and fetches it when opts ask;
// call done when finished with the returned handle.
func (f *Fetcher) ensureRepo(ctx context.Context, src *source, opts syncOpts) (*openRepo, func(), error) {
	noop := func() {}
	r := f.caches.repo(src.dir)
	if opts.local {
		if r == nil {
			return nil, nil, errors.New("not cloned")
		}
		return r, noop, nil
	}
	onDisk := dirExists(src.dir)
	if r != nil && !onDisk {
		r = nil // the clone went away: clone again (as upstream discovers it on disk)
	}
	if r == nil && onDisk {
		if r = f.strat.verify.open(f, src); r != nil {
			if !f.strat.commit.commit(src, func() { f.caches.setRepo(src.dir, r).close() }) {
				r.close()
				return nil, nil, errSourceGone
			}
		}
	}
	if r == nil {
		r, err := f.cloneSource(ctx, src)
		return r, noop, err
	}
	r, done, err := f.strat.reuse.reuse(f, src, r)
	if err != nil {
		return nil, nil, err
	}
	if !f.shouldFetch(src, r, opts) {
		return r, done, nil
	}
	if err := f.fetchSource(ctx, src, r); err != nil {
		done()
		return nil, nil, err
	}
	if ctx.Value(holdKey{}) != nil { // only under the source lock
		if nr := f.compactSource(src, r); nr != nil {
			done()
			return nr, noop, nil
		}
	}
	return r, done, nil
}

// compactSource repacks src's clone when it has grown packs and publishes
// the fresh handle; nil when nothing changed.
func (f *Fetcher) compactSource(src *source, r *openRepo) *openRepo {
	need, err := needsCompaction(r, src.dir)
	if err != nil {
		f.log.Warn("pack compaction check", "source", src.id, "err", err)
		return nil
	}
	if !need {
		return nil
	}
	nr, err := compact(r, src.dir, f.cfg.ObjectCacheBytes)
	if err != nil {
		f.log.Warn("pack compaction", "source", src.id, "err", err)
		f.strat.sweep.failed(f, src, src.dir)
		return nil
	}
	if !f.strat.commit.commit(src, func() {
		if old := f.caches.setRepo(src.dir, nr); old != nil && old != r {
			old.close()
		}
	}) {
		nr.close()
		return nil
	}
	if f.caches.repo(src.dir) == nr && r != nr {
		r.close()
	}
	return nr
}

// shouldFetch is upstream's _should_fetch.
func (f *Fetcher) shouldFetch(src *source, r *openRepo, opts syncOpts) bool {
	if opts.force {
		if opts.reqTime.IsZero() {
			return true
		}
		if t, ok := f.caches.fetchedAt(src.id); !ok || t.Before(opts.reqTime) {
			return true
		}
		f.log.Debug("fetched after the request; force fetch skipped", "source", src.id)
	}
	if _, err := branchHead(r, opts.branch); err != nil {
		return true // missing branch
	}
	if opts.hinted != "" {
		return !hasCommit(r, opts.hinted)
	}
	return false
}

// cloneSource clones src on the git pool and publishes the open repository.
func (f *Fetcher) cloneSource(ctx context.Context, src *source) (*openRepo, error) {
	start := time.Now()
	f.strat.stamp.before(f.caches, src.id, start)
	var res *openRepo
	err := f.runner.run(f.strat.dial.on(withAuth(ctx, src.auth)), f.pool, src.host, func(opCtx context.Context) error {
		defer f.trackOp(src)()
		r, err := f.strat.verify.clone(opCtx, f, src)
		if err != nil {
			return err
		}
		res = r
		return nil
	}, func() { res.close() })
	if err != nil {
		src.markFailed()
		return nil, fmt.Errorf("clone %s: %w", src.url, err)
	}
	ok := f.strat.commit.commit(src, func() {
		f.caches.setRepo(src.dir, res).close()
		f.strat.stamp.success(f.caches, src.id, start)
	})
	if !ok {
		res.close()
		if !f.superseded(src) {
			os.RemoveAll(src.dir)
		}
		return nil, fmt.Errorf("clone %s: %w", src.url, errSourceGone)
	}
	return res, nil
}

// fetchSource fetches the open repository r of src on the git pool.
func (f *Fetcher) fetchSource(ctx context.Context, src *source, r *openRepo) error {
	start := time.Now()
	f.strat.stamp.before(f.caches, src.id, start)
	err := f.runner.run(f.strat.dial.on(withAuth(ctx, src.auth)), f.pool, src.host, func(opCtx context.Context) error {
		defer f.trackOp(src)()
		err := fetchInto(opCtx, r)
		if err != nil {
			f.strat.sweep.failed(f, src, src.dir)
		}
		return err
	}, nil)
	if err != nil {
		src.markFailed()
		return fmt.Errorf("fetch %s: %w", src.url, err)
	}
	f.strat.commit.commit(src, func() { f.strat.stamp.success(f.caches, src.id, start) })
	return nil
}

// trackOp counts a git operation running on src and keeps the high-water
// mark of operations running at once on one source (1 with single flight).
func (f *Fetcher) trackOp(src *source) (end func()) {
	n := src.active.Add(1)
	for {
		m := f.srcOpsMax.Load()
		if n <= m || f.srcOpsMax.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { src.active.Add(-1) }
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// syncAll syncs every scope that keep accepts (nil: all) through the
// planner, forcing fetches requested at reqTime.
func (f *Fetcher) syncAll(ctx context.Context, reqTime time.Time, keep func(*scopeState) bool) {
	f.mu.Lock()
	bySrc := map[string]*sourceGroup{}
	for id, st := range f.scopes {
		if keep != nil && !keep(st) {
			continue
		}
		src := f.sources[st.sid]
		if src == nil {
			continue
		}
		g := bySrc[st.sid]
		if g == nil {
			g = &sourceGroup{sid: st.sid, host: src.host}
			bySrc[st.sid] = g
		}
		g.ids = append(g.ids, id)
	}
	f.mu.Unlock()
	groups := make([]sourceGroup, 0, len(bySrc))
	for _, g := range bySrc {
		sort.Strings(g.ids)
		groups = append(groups, *g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].ids[0] < groups[j].ids[0] })
	f.strat.planner.run(ctx, f, groups, reqTime)
}

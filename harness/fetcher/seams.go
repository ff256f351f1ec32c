package fetcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the seams where a mutant swaps in its historical bug:
// each interface has the correct implementation first and the mutant's
// after it. mutants.go picks them by name.

// errInFlight is returned when a source already has an operation running:
// the later sync skips (single flight).
var errInFlight = errors.New("an operation is already running for this source; skipped")

// errSourceGone is returned when the source was deleted under the operation.
var errSourceGone = errors.New("source deleted")

// ---- the task list (webhook / refresh tasks) ----

// task is one tracked refresh task.
type task struct{ done atomic.Bool }

// taskList tracks refresh tasks; len is the webhook_tasks stat.
type taskList interface {
	add(t *task)
	finish(t *task)
	len() int
}

// tracked removes every task the moment it finishes.
type tracked struct {
	mu sync.Mutex
	m  map[*task]struct{}
}

func (l *tracked) add(t *task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[*task]struct{}{}
	}
	l.m[t] = struct{}{}
}

func (l *tracked) finish(t *task) {
	t.done.Store(true)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, t)
}

func (l *tracked) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// sweepSkipping is the webhook-task-leak mutant, OPAL's _on_webhook before
// PR2: finished tasks are swept only when a new task is added, by removing
// from the list while iterating it, which skips the task after each removed
// one: of a run of finished tasks about half stay.
type sweepSkipping struct {
	mu sync.Mutex
	l  []*task
}

func (l *sweepSkipping) add(t *task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(l.l); i++ { // for task in tasks: if task.done(): tasks.remove(task)
		if l.l[i].done.Load() {
			l.l = append(l.l[:i], l.l[i+1:]...) // the next task shifts into i and is skipped
		}
	}
	l.l = append(l.l, t)
}

func (l *sweepSkipping) finish(t *task) { t.done.Store(true) }

func (l *sweepSkipping) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.l)
}

// sweptOnAdd is the sweep-only-on-add mutant, OPAL's _on_webhook after PR2:
// the list is rebuilt without its finished tasks when a new task is added,
// so it holds only running tasks right after a webhook, but finished tasks
// stay until the next webhook comes.
type sweptOnAdd struct {
	mu sync.Mutex
	l  []*task
}

func (l *sweptOnAdd) add(t *task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	running := l.l[:0]
	for _, x := range l.l { // tasks = [t for t in tasks if not t.done()]
		if !x.done.Load() {
			running = append(running, x)
		}
	}
	clear(l.l[len(running):])
	l.l = append(running, t)
}

func (l *sweptOnAdd) finish(t *task) { t.done.Store(true) }

func (l *sweptOnAdd) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.l)
}

// ---- single flight and the source lock ----

// opGuard admits one git operation on a source: enter returns the context
// the operation runs under and the function that ends it.
type opGuard interface {
	enter(ctx context.Context, f *Fetcher, src *source) (context.Context, func(), error)
}

// singleFlight takes the source lock only if it is free (a source with an
// operation running is skipped, never touched twice at once) and records
// the flight so that delete can cancel it.
type singleFlight struct{}

func (singleFlight) enter(ctx context.Context, f *Fetcher, src *source) (context.Context, func(), error) {
	// The lock and the flight record change together under flightMu, so a
	// caller that finds the lock taken also finds the flight to wait for.
	src.flightMu.Lock()
	unlock, ok := f.caches.tryLock(src.id)
	if !ok {
		src.flightMu.Unlock()
		return nil, nil, errInFlight
	}
	fctx, cancel := context.WithCancel(ctx)
	fl := &flight{started: time.Now(), cancel: cancel, done: make(chan struct{}), holds: 1}
	src.flight = fl
	src.flightMu.Unlock()
	release := func() {
		src.flightMu.Lock()
		fl.holds--
		last := fl.holds == 0
		if last {
			unlock()
			src.flight = nil
		}
		src.flightMu.Unlock()
		if last {
			cancel()
			close(fl.done)
		}
	}
	// An operation that outlives its caller (soft-timeout) takes a hold:
	// the flight, and the source lock, last until it ends.
	hold := func() func() {
		src.flightMu.Lock()
		fl.holds++
		src.flightMu.Unlock()
		var once sync.Once
		return func() { once.Do(release) }
	}
	fctx = context.WithValue(fctx, holdKey{}, hold)
	var once sync.Once
	leave := func() { once.Do(release) }
	if src.deleted.Load() { // deleted between lookup and lock: delete may have missed our flight
		leave()
		return nil, nil, errSourceGone
	}
	return fctx, leave, nil
}

// holdKey carries a guarded flight's hold function in its context.
type holdKey struct{}

// holdFlight takes a hold on the flight ctx belongs to (if any); call the
// result when the operation really ends.
func holdFlight(ctx context.Context) func() {
	if h, ok := ctx.Value(holdKey{}).(func() func()); ok {
		return h()
	}
	return func() {}
}

// ---- the fetch stamp ----

// stamper records repos_last_fetched around a clone or fetch that started
// at start.
type stamper interface {
	before(c *caches, sid string, start time.Time)
	success(c *caches, sid string, start time.Time)
}

// stampOnSuccess stamps the start time, only once the operation succeeded.
type stampOnSuccess struct{}

func (stampOnSuccess) before(*caches, string, time.Time)          {}
func (stampOnSuccess) success(c *caches, sid string, t time.Time) { c.stamp(sid, t) }

// stampBefore is the stamp-before-fetch mutant: stamped before the fetch,
// so a failed fetch still counts as fresh and suppresses the next forced
// fetch whose request came before it.
type stampBefore struct{}

func (stampBefore) before(c *caches, sid string, t time.Time) { c.stamp(sid, t) }
func (stampBefore) success(*caches, string, time.Time)        {}

// stampCompletion is the stamp-at-completion mutant: stamped on success
// with the time the fetch ended, so a forced fetch requested while it ran
// (whose commit it may have missed) counts as already fetched.
type stampCompletion struct{}

func (stampCompletion) before(*caches, string, time.Time)          {}
func (stampCompletion) success(c *caches, sid string, _ time.Time) { c.stamp(sid, time.Now()) }

// ---- publishing an operation's result ----

// committer decides whether an operation's result (open repo, stamp) is
// published into the caches; apply does the publishing.
type committer interface {
	commit(src *source, apply func()) bool
}

// commitIfLive publishes only while the source is alive.
type commitIfLive struct{}

func (commitIfLive) commit(src *source, apply func()) bool {
	if src.deleted.Load() {
		return false
	}
	apply()
	return true
}

// commitAlways is part of resurrect-on-delete: a result arriving after the
// delete is put back into the caches.
type commitAlways struct{}

func (commitAlways) commit(_ *source, apply func()) bool { apply(); return true }

// ---- the delete path ----

// deleter removes a source whose last scope was deleted.
type deleter interface {
	remove(f *Fetcher, src *source)
}

// cancelThenPurge cancels the running operation, takes the source lock
// (free as soon as the canceled operation returns) and purges under it.
type cancelThenPurge struct{}

func (cancelThenPurge) remove(f *Fetcher, src *source) {
	src.cancelFlight()
	waitThenPurge{}.remove(f, src)
}

// waitThenPurge is the delete-waits mutant: the delete waits on the source
// lock until the hung operation ends by itself (timeout or never).
type waitThenPurge struct{}

func (waitThenPurge) remove(f *Fetcher, src *source) {
	unlock := f.caches.lock(src.id)
	unpin := f.strat.purger.purge(f, src)
	unlock()
	if unpin {
		f.caches.unpin(src.id)
	}
}

// purgeNow is part of resurrect-on-delete: purge at once, without the lock
// and without canceling the running operation, which later puts its
// results back.
type purgeNow struct{}

func (purgeNow) remove(f *Fetcher, src *source) {
	if f.strat.purger.purge(f, src) {
		f.caches.unpin(src.id)
	}
}

// purger releases a deleted source; it reports whether the lock entry may go.
type purger interface {
	purge(f *Fetcher, src *source) (unpin bool)
}

// purgeAll removes the clone, closes the repository (releasing its
// descriptors) and drops last-fetched and the lock pin.
type purgeAll struct{}

func (purgeAll) purge(f *Fetcher, src *source) bool {
	if f.superseded(src) {
		return true
	}
	if err := os.RemoveAll(src.dir); err != nil {
		f.log.Error("delete: remove clone", "source", src.id, "err", err)
	}
	if r := f.caches.dropRepo(src.dir); r != nil {
		if err := r.close(); err != nil {
			f.log.Error("delete: close repository", "source", src.id, "err", err)
		}
	}
	f.caches.dropStamp(src.id)
	return true
}

// purgeDirOnly is the no-purge-on-delete mutant (OPAL before the fix): the
// clone dir goes, but repos, repos_last_fetched and repo_locks keep their
// entries (and the repository stays open).
type purgeDirOnly struct{}

func (purgeDirOnly) purge(f *Fetcher, src *source) bool {
	if !f.superseded(src) {
		if err := os.RemoveAll(src.dir); err != nil {
			f.log.Error("delete: remove clone", "source", src.id, "err", err)
		}
	}
	return false
}

// purgeNoFree is the fd-leak-on-delete mutant, PR2's forget_repo without
// Repository.free(): the repository leaves the caches but is never freed,
// so the descriptors libgit2 holds for it stay open (heap stands for
// libgit2's memory, which Go's collector and finalizers cannot reach).
type purgeNoFree struct{ heap *unfreed }

func (p purgeNoFree) purge(f *Fetcher, src *source) bool {
	if f.superseded(src) {
		return true
	}
	if err := os.RemoveAll(src.dir); err != nil {
		f.log.Error("delete: remove clone", "source", src.id, "err", err)
	}
	p.heap.keep(f.caches.dropRepo(src.dir))
	f.caches.dropStamp(src.id)
	return true
}

// unfreed stands for libgit2's memory in a pygit2 process: a Repository
// keeps its pack descriptors there until free() (or process exit), however
// the Python (here: Go) side drops its reference. Mutants that drop a
// handle without freeing it keep it here; Close frees them as exit would.
type unfreed struct {
	mu sync.Mutex
	l  []*openRepo
}

func (u *unfreed) keep(r *openRepo) {
	if r == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.l = append(u.l, r)
}

func (u *unfreed) freeAll() {
	u.mu.Lock()
	l := u.l
	u.l = nil
	u.mu.Unlock()
	for _, r := range l {
		_ = r.close() // may have been closed on another path
	}
}

// ---- which source a delete releases ----

// deleteScan decides, under Fetcher.mu once scope st is out of f.scopes,
// which source its delete releases: nil when another scope still uses it.
type deleteScan interface {
	released(f *Fetcher, st *scopeState) *source
}

// ownSource releases the deleted scope's source unless another scope
// resolves to the same source id.
type ownSource struct{}

func (ownSource) released(f *Fetcher, st *scopeState) *source {
	for _, o := range f.scopes {
		if o.sid == st.sid {
			return nil
		}
	}
	return f.sources[st.sid]
}

// lastScanned is the delete-wrong-scope mutant, OPAL's delete_scope before
// PR2: the sibling loop reuses the variable that held the deleted scope, so
// the clone path is computed from the last scope scanned (the deleted scope
// only when no other is left). That scope's clone and caches go; the
// deleted scope's stay.
type lastScanned struct{}

func (lastScanned) released(f *Fetcher, st *scopeState) *source {
	scope := st
	for _, o := range sortedScopes(f.scopes) { // for scope in scopes:
		scope = o
		if o.sid == st.sid {
			return nil
		}
	}
	return f.sources[scope.sid]
}

// siblingByURL is the sibling-by-url mutant, PR2 before its review: a scope
// with the same url counts as a sibling, though with
// SCOPES_REPO_CLONES_SHARDS > 1 another branch may resolve to another
// source (another clone dir), so the deleted scope's clone is kept.
type siblingByURL struct{}

func (siblingByURL) released(f *Fetcher, st *scopeState) *source {
	for _, o := range f.scopes {
		if o.scope.Policy.URL == st.scope.Policy.URL {
			return nil
		}
	}
	return f.sources[st.sid]
}

func sortedScopes(m map[string]*scopeState) []*scopeState {
	out := make([]*scopeState, 0, len(m))
	for _, st := range m {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].scope.ScopeID < out[j].scope.ScopeID })
	return out
}

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

// ---- the sync planner ----

// planner runs a sync of many scopes grouped by source.
type planner interface {
	run(ctx context.Context, f *Fetcher, groups []sourceGroup, reqTime time.Time)
}

// sourceGroup is the scopes that resolve to one source.
type sourceGroup struct {
	sid  string
	host string
	ids  []string // sorted
}

// twoPass is the correct planner: per source, pass one force-fetches once
// for the first scope, pass two re-checks the others (their forced fetch is
// suppressed by the fresh stamp, so it is local; if pass one failed, it
// fetches again). Sources run concurrently, at most SyncConcurrency at once
// and at most HostCap per host, so a dead host holds few sync slots.
type twoPass struct{}

func (twoPass) run(ctx context.Context, f *Fetcher, groups []sourceGroup, reqTime time.Time) {
	runGroups(ctx, f, groups, f.cfg.SyncConcurrency, syncOpts{force: true, reqTime: reqTime})
}

// serialPlan is the serial-sync mutant: sources are synced one at a time.
type serialPlan struct{}

func (serialPlan) run(ctx context.Context, f *Fetcher, groups []sourceGroup, reqTime time.Time) {
	runGroups(ctx, f, groups, 1, syncOpts{force: true, reqTime: reqTime})
}

// fetchEveryScope is the no-fetch-dedupe mutant: every scope force-fetches
// its source (no request time, so no fetch counts as fresh).
type fetchEveryScope struct{}

func (fetchEveryScope) run(ctx context.Context, f *Fetcher, groups []sourceGroup, _ time.Time) {
	runGroups(ctx, f, groups, f.cfg.SyncConcurrency, syncOpts{force: true})
}

// runGroups syncs each group's scopes in order, groups concurrently: at
// most conc at once and at most HostCap (and conc) per host.
func runGroups(ctx context.Context, f *Fetcher, groups []sourceGroup, conc int, opts syncOpts) {
	global := make(sem, conc)
	perHost := map[string]sem{}
	var wg sync.WaitGroup
	for _, g := range groups {
		hs := perHost[g.host]
		if hs == nil {
			hs = make(sem, min(conc, f.cfg.HostCap))
			perHost[g.host] = hs
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if hs.acquire(ctx) != nil {
				return
			}
			defer hs.release()
			if global.acquire(ctx) != nil {
				return
			}
			defer global.release()
			// Scopes that failed before a later one of the same source
			// succeeded are read again: the source is fresh now.
			var failed []string
			retry := false
			for _, id := range g.ids {
				if ctx.Err() != nil {
					return
				}
				switch err := f.syncScope(ctx, id, opts); {
				case err == nil:
					retry = retry || len(failed) > 0
				case !errors.Is(err, errInFlight):
					failed = append(failed, id)
				}
			}
			if retry {
				for _, id := range failed {
					_ = f.syncScope(ctx, id, opts)
				}
			}
		}()
	}
	wg.Wait()
}

// ---- where bundles are built ----

// bundleRunner runs a bundle build (reading a clone, never git network work).
type bundleRunner interface {
	run(ctx context.Context, f *Fetcher, build func() error) error
}

// inline builds on the caller's goroutine: bundles never wait for git work.
type inline struct{}

func (inline) run(_ context.Context, _ *Fetcher, build func() error) error { return build() }

// onGitWorkers is the shared-pool mutant, bundles served from the executor
// that also runs git work: a build takes a worker of the git pool (queued
// behind git operations), so when every worker hangs, bundles wait. The
// pool keeps its per-host bulkhead and breaker.
type onGitWorkers struct{}

func (onGitWorkers) run(ctx context.Context, f *Fetcher, build func() error) error {
	return f.pool.do(ctx, "bundles", build)
}

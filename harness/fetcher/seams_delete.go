package fetcher

import (
	"os"
	"sort"
	"sync"
)

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

// purgeShared is the purge-shared-on-delete mutant: no sibling loop at
// all, so a delete releases its source (clone, repository, stamp and lock
// pin) even when other scopes resolve to it; they are left without a
// source and serve nothing until put again.
type purgeShared struct{}

func (purgeShared) released(f *Fetcher, st *scopeState) *source {
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

package fetcher

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// ErrNotFound is returned for an unknown scope.
var ErrNotFound = errors.New("scope not found")

// PutScope validates, persists and registers a scope, then syncs it in the
// background. A scope put again with the same source keeps its state.
func (f *Fetcher) PutScope(sc scopeapi.Scope) (scopeapi.Scope, error) {
	if f.closed.Load() {
		return scopeapi.Scope{}, errors.New("fetcher closed")
	}
	if err := f.validateScope(&sc); err != nil {
		return scopeapi.Scope{}, err
	}
	f.mu.Lock()
	old := f.scopes[sc.ScopeID]
	f.mu.Unlock()
	if old != nil && old.sid != f.SourceID(sc.Policy.URL, sc.Policy.Branch) {
		if err := f.DeleteScope(sc.ScopeID); err != nil && !errors.Is(err, ErrNotFound) {
			return scopeapi.Scope{}, fmt.Errorf("replace scope %s: %w", sc.ScopeID, err)
		}
	}
	if err := f.store.put(sc); err != nil {
		return scopeapi.Scope{}, err
	}
	if _, err := f.addScopeLocked(sc); err != nil {
		return scopeapi.Scope{}, err
	}
	id := sc.ScopeID
	f.goBackground(func() { _ = f.syncScope(f.rootCtx, id, syncOpts{}) })
	return sc, nil
}

// DeleteScope removes a scope; when no other scope shares its source, the
// source's clone and cache entries go too.
func (f *Fetcher) DeleteScope(id string) error {
	f.mu.Lock()
	st, ok := f.scopes[id]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("delete %s: %w", id, ErrNotFound)
	}
	delete(f.scopes, id)
	f.bundles.drop(id)
	src := f.strat.scan.released(f, st)
	if src != nil {
		delete(f.sources, src.id)
		src.deleted.Store(true)
	}
	f.mu.Unlock()
	err := f.store.delete(id)
	if src != nil {
		f.strat.deleter.remove(f, src)
	} else {
		f.dropScopeBranch(st.sid, id)
	}
	return err
}

// dropScopeBranch removes a deleted scope's local branch from the clone it
// shared, if the source is idle now (else the branch goes with the clone).
func (f *Fetcher) dropScopeBranch(sid, id string) {
	f.mu.Lock()
	src := f.sources[sid]
	f.mu.Unlock()
	if src == nil {
		return
	}
	src.flightMu.Lock()
	unlock, ok := f.caches.tryLock(sid)
	src.flightMu.Unlock()
	if !ok {
		return
	}
	defer unlock()
	if r := f.caches.repo(src.dir); r != nil {
		if err := removeScopeBranch(r, id); err != nil {
			f.log.Warn("delete: scope branch", "scope", id, "err", err)
		}
	}
}

// GetScope returns a scope.
func (f *Fetcher) GetScope(id string) (scopeapi.Scope, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.scopes[id]
	if !ok {
		return scopeapi.Scope{}, false
	}
	return st.scope, true
}

// ListScopes returns every scope ordered by id.
func (f *Fetcher) ListScopes() []scopeapi.Scope {
	f.mu.Lock()
	out := make([]scopeapi.Scope, 0, len(f.scopes))
	for _, st := range f.scopes {
		out = append(out, st.scope)
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ScopeID < out[j].ScopeID })
	return out
}

// RefreshAll starts a tracked task that force-syncs every scope.
func (f *Fetcher) RefreshAll() {
	req := time.Now()
	f.runTask(func() { f.syncAll(f.rootCtx, req, nil) })
}

// Refresh starts a tracked task that syncs one scope: a forced fetch, or
// with a hinted hash a fetch only if that commit is missing.
func (f *Fetcher) Refresh(id, hinted string) error {
	if _, ok := f.GetScope(id); !ok {
		return fmt.Errorf("refresh %s: %w", id, ErrNotFound)
	}
	opts := syncOpts{force: hinted == "", reqTime: time.Now(), hinted: hinted}
	f.runTask(func() { _ = f.syncScope(f.rootCtx, id, opts) })
	return nil
}

// runTask runs fn as a tracked webhook/refresh task.
func (f *Fetcher) runTask(fn func()) {
	t := &task{}
	f.tasks.add(t)
	f.tasksRunning.Add(1)
	ok := f.goBackground(func() {
		defer f.tasksRunning.Add(-1)
		defer f.tasks.finish(t)
		fn()
	})
	if !ok {
		f.tasksRunning.Add(-1)
		f.tasks.finish(t)
	}
}

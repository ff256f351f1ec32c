package fetcher

import (
	"context"
	"errors"
	"sync"
	"time"
)

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

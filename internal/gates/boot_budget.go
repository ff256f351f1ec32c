package gates

import (
	"fmt"
	"time"

	"github.com/gitchaos/gitchaos/harness/target"
)

// Boot budgets derived from the settings. A fixed budget fails correct
// designs of another shape: a server that syncs every scope before it
// listens (OPAL under gunicorn preloads its scopes) serves its first
// scope only once its whole boot sync is done, the wait for the dead
// host's timed-out clones included (measured 1.63 s against a fixed
// 1.5 s). The bound below holds for any server whose git work runs on a
// pool that never idles while work waits, in any order (Graham's list
// scheduling bound): the boot sync ends within its total work divided by
// the workers plus its longest operation.
const (
	// bootStartup is the allowance from the spawn to a listening server
	// (an interpreter's start, reading the persisted scopes).
	bootStartup = 500 * time.Millisecond
	// bootCloneWork is the allowance for one clone's git work on both
	// ends, besides the latency of its exchanges.
	bootCloneWork = 500 * time.Millisecond
	// bootCloneExchanges is the request/answer exchanges of one clone
	// that each wait out the injected latency: the ref advertisement,
	// then with protocol v2 ls-refs and fetch (go-git: two).
	bootCloneExchanges = 3
)

// bootBound is a derived budget and how it was derived.
type bootBound struct {
	d   time.Duration
	how string
}

// bootSyncBound is the time a correct boot of any shape takes to sync
// every scope: start-up + (offline × timeout + repos × clone) / workers +
// the longest operation, where workers is min(max_workers,
// sync_concurrency) and a clone is 3 × latency + 500 ms.
func bootSyncBound(p *BootParams, st target.Settings) bootBound {
	w := max(1, min(st.MaxWorkers, st.SyncConcurrency))
	T := st.GitTimeout
	clone := bootCloneExchanges*p.Latency + bootCloneWork
	work := time.Duration(p.Offline)*T + time.Duration(p.Repos)*clone
	longest := clone
	if p.Offline > 0 {
		longest = max(longest, T)
	}
	d := bootStartup + work/time.Duration(w) + longest
	how := fmt.Sprintf("derived: start-up %v + (%d offline × timeout %v + %d repos × clone %v [%d × latency %v + %v]) / %d workers [min(max_workers, sync_concurrency)] + longest operation %v = %v",
		bootStartup, p.Offline, T, p.Repos, clone, bootCloneExchanges, p.Latency, bootCloneWork, w, longest, d.Round(time.Millisecond))
	return bootBound{d: d, how: how}
}

// bootBudgets are the boot gate's time budgets: a param set above zero
// is used as given, a zero one is derived (bootSyncBound). The first
// healthy scope gets the same bound as all of them: a server that syncs
// before it listens serves nothing earlier. Offline scopes are reported
// failed within max(3 × timeout + 1 s, the boot-sync bound): three
// attempts at a dead host, or one boot sync, whichever is longer.
func bootBudgets(p *BootParams, st target.Settings) (first, all, failed bootBound) {
	b := bootSyncBound(p, st)
	given := func(d time.Duration, name string) bootBound {
		return bootBound{d: d, how: fmt.Sprintf("%s %v as given", name, d)}
	}
	first, all = b, b
	if p.FirstBudget > 0 {
		first = given(p.FirstBudget, "first_budget")
	}
	if p.AllBudget > 0 {
		all = given(p.AllBudget, "all_budget")
	}
	switch {
	case p.FailedBudget > 0:
		failed = given(p.FailedBudget, "failed_budget")
	case 3*st.GitTimeout+time.Second >= b.d:
		failed = bootBound{d: 3*st.GitTimeout + time.Second, how: fmt.Sprintf("derived: 3 × timeout %v + 1 s (three attempts at the dead host; more than the boot-sync bound %v)", st.GitTimeout, b.d.Round(time.Millisecond))}
	default:
		failed = bootBound{d: b.d, how: "the boot-sync bound, more than 3 × timeout + 1 s; " + b.how}
	}
	return first, all, failed
}

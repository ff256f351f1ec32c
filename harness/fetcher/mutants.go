package fetcher

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Mutant is one historical bug that can be switched back on, with the gates
// (scenario names) that must catch it.
type Mutant struct {
	Name     string
	Doc      string
	CaughtBy []string
}

// mutantTable is the one place that lists every mutant and the gates that
// must catch it.
var mutantTable = []Mutant{
	{"no-timeout", "clone/fetch run without a deadline: a blackholed clone never returns", []string{"timeout", "boot"}},
	{"soft-timeout", "the caller stops waiting at the timeout but the git operation goes on, holding its worker and its source (asyncio.wait_for over a thread, OPAL's final fix)", []string{"timeout"}},
	{"shared-pool", "git work and bundle building share one FIFO pool (no host bulkhead): hung clones block bundles", []string{"offline"}},
	{"serial-sync", "boot and sync-all run one scope at a time", []string{"boot"}},
	{"no-purge-on-delete", "delete leaves repos, last-fetched and locks cached (and the repository open)", []string{"churn", "delete-hang"}},
	{"fd-leak-on-delete", "delete purges the caches but never closes the repository: descriptors leak", []string{"churn"}},
	{"stamp-before-fetch", "last-fetched stamped before the fetch, so a failed fetch suppresses the next force fetch", []string{"recovery"}},
	{"no-inflight-guard", "a second operation may start on a source while one runs (no single flight, no source lock around git)", []string{"webhook-storm", "timeout", "delete-hang"}},
	{"webhook-task-leak", "finished webhook tasks removed by remove-while-iterating: some are skipped forever", []string{"webhook-storm"}},
	{"no-fetch-dedupe", "every scope fetches its source during sync (no pass-one/pass-two dedupe)", []string{"boot", "repeat-sync"}},
	{"no-host-bulkhead", "one FIFO pool, no per-host cap or breaker: the upstream design", []string{"offline"}},
	{"trust-partial-clone", "a half-written clone (crash or timed-out clone, whose partial dir is now left) is trusted instead of cloned again", []string{"crash-restart", "timeout"}},
	{"delete-waits", "delete blocks on the source lock until the hung operation ends instead of canceling it", []string{"delete-hang"}},
	{"resurrect-on-delete", "an operation that ends after its scope was deleted puts its caches (and clone) back", []string{"delete-hang"}},
	{"reopen-per-sync", "every sync opens the repository again and drops the old handle unclosed: fds grow per round", []string{"repeat-sync", "churn"}},
}

// Mutants lists every mutant and the gates that must catch it.
func Mutants() []Mutant {
	out := make([]Mutant, len(mutantTable))
	for i, m := range mutantTable {
		m.CaughtBy = slices.Clone(m.CaughtBy)
		out[i] = m
	}
	return out
}

// MutantNames lists the valid mutant names.
func MutantNames() []string {
	out := make([]string, len(mutantTable))
	for i, m := range mutantTable {
		out[i] = m.Name
	}
	return out
}

// strategies are the seams where a mutant swaps in its historical bug. The
// correct code calls these and never asks which mutants are on.
type strategies struct {
	names       []string
	newPool     func(Config) gitPool // the pool
	newRunner   func(*Fetcher) opRunner
	newTaskList func() taskList // the task list
	guard       opGuard         // single flight + source lock around git ops
	stamp       stamper         // the fetch stamp
	commit      committer       // publishing an op's result
	deleter     deleter         // the delete path: waiting and canceling
	purger      purger          // the delete path: what is released
	planner     planner         // the sync planner
	verify      verifier        // boot check of existing clones
	reuse       repoReuser      // reusing the open repository
}

// buildStrategies maps mutant names onto strategies; an unknown name is an
// error naming it and listing the valid ones.
func buildStrategies(names []string) (strategies, error) {
	valid := MutantNames()
	on := map[string]bool{}
	var bad []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(valid, n) {
			bad = append(bad, n)
			continue
		}
		on[n] = true
	}
	if len(bad) > 0 {
		return strategies{}, fmt.Errorf("unknown mutant(s) %s; valid: %s", strings.Join(bad, ", "), strings.Join(valid, ", "))
	}
	s := strategies{
		newPool:     func(c Config) gitPool { return newHostGuard(c) },
		newRunner:   func(f *Fetcher) opRunner { return deadlineRunner{f: f, timeout: f.cfg.GitTimeout} },
		newTaskList: func() taskList { return &tracked{} },
		guard:       singleFlight{},
		stamp:       stampOnSuccess{},
		commit:      commitIfLive{},
		deleter:     cancelThenPurge{},
		purger:      purgeAll{},
		planner:     twoPass{},
		verify:      verifyOrReclone{},
		reuse:       reuseOpen{},
	}
	for n := range on {
		s.names = append(s.names, n)
	}
	sort.Strings(s.names)
	if on["no-host-bulkhead"] {
		s.newPool = func(c Config) gitPool { return &fifoPool{workers: make(sem, c.MaxWorkers)} }
	}
	if on["shared-pool"] {
		s.newPool = func(c Config) gitPool { return &fifoPool{workers: make(sem, c.MaxWorkers), shareBundle: true} }
	}
	if on["no-timeout"] {
		s.newRunner = func(f *Fetcher) opRunner { return noDeadlineRunner{f: f} }
	}
	if on["soft-timeout"] {
		s.newRunner = func(f *Fetcher) opRunner { return softTimeoutRunner{f: f, timeout: f.cfg.GitTimeout} }
	}
	if on["webhook-task-leak"] {
		s.newTaskList = func() taskList { return &sweptOnAdd{} }
	}
	if on["no-inflight-guard"] {
		s.guard = unguarded{}
		s.reuse = privateHandle{}
	}
	if on["stamp-before-fetch"] {
		s.stamp = stampBefore{}
	}
	if on["resurrect-on-delete"] {
		s.commit = commitAlways{}
		s.deleter = purgeNow{}
	}
	if on["delete-waits"] {
		s.deleter = waitThenPurge{}
	}
	if on["no-purge-on-delete"] {
		s.purger = purgeDirOnly{}
	}
	if on["fd-leak-on-delete"] {
		s.purger = purgeNoClose{}
	}
	p := twoPass{}
	if on["serial-sync"] {
		p.serial = true
	}
	if on["no-fetch-dedupe"] {
		p.noDedupe = true
	}
	s.planner = p
	if on["trust-partial-clone"] {
		s.verify = trustExisting{}
	}
	if on["reopen-per-sync"] {
		s.reuse = reopenLeaky{}
	}
	return s, nil
}

// CheckMutants reports an error naming every unknown mutant in names.
func CheckMutants(names []string) error {
	_, err := buildStrategies(names)
	return err
}

package fetcher

import (
	"fmt"
	"slices"
	"strings"
)

// Mutant is one historical bug that can be switched back on: the seam it
// lives at, the upstream change that fixed it (or the bug it reproduces)
// and the checks that must fail when it is on.
type Mutant struct {
	Name     string
	Seam     string // the seam whose strategy it swaps (seams*.go, pool.go, runner.go)
	Upstream string // the upstream pull request or bug it reproduces
	Doc      string
	// MustFail are the checks that guard the bug: a matrix row counts the
	// mutant caught only when every one of them fails.
	MustFail []CheckRef
	// Transport is the git transport its gates run over in the matrix
	// ("" for http; "ssh" for a bug of the ssh transport).
	Transport string `json:"transport,omitempty"`
}

// CheckRef names one check of one gate (scenario) by its declared ID
// (internal/gates: `gitchaos checks` lists them), e.g. "churn.fds-flat".
type CheckRef struct {
	Gate string `json:"gate"`
	ID   string `json:"id"`
}

func (c CheckRef) String() string { return c.ID }

// Gates lists the distinct gates of m's checks, in order.
func (m Mutant) Gates() []string {
	var out []string
	for _, c := range m.MustFail {
		if !slices.Contains(out, c.Gate) {
			out = append(out, c.Gate)
		}
	}
	return out
}

// mutant is a table row: the public description and the strategy it swaps in.
type mutant struct {
	Mutant
	apply func(*strategies)
}

// chk refers to the check with id "<gate>.<slug>"; internal/gates'
// TestDeclaredChecksReferences fails on an id no gate declares.
func chk(id string) CheckRef {
	gate, _, _ := strings.Cut(id, ".")
	return CheckRef{Gate: gate, ID: id}
}

// Upstream pull requests the seeds name.
const (
	pr924 = "OPAL #924 (PR3, git resilience)"
	pr923 = "OPAL #923 (PR2, cache purge + webhook cleanup)"
)

// mutantTable is the one place that lists every mutant: its seam, the
// upstream bug, the checks that must catch it and the strategy it swaps
// in. Names are validated against it and nowhere else.
var mutantTable = []mutant{
	{Mutant{"no-timeout", "runner", pr924 + ": clone/fetch ran through run_sync with no timeout",
		"clone/fetch run without a deadline: a blackholed clone never returns",
		[]CheckRef{chk("timeout.hung-ops-end"), chk("boot.offline-failed")}, ""},
		func(s *strategies) { s.newRunner = func(f *Fetcher) opRunner { return noDeadlineRunner{f: f} } }},
	{Mutant{"soft-timeout", "runner", pr924 + ": asyncio.wait_for over a pool thread (the final fix, a soft timeout)",
		"the caller stops waiting at the timeout but the git operation goes on, holding its worker and (by the in-flight guard) its source",
		[]CheckRef{chk("timeout.hung-ops-end"), chk("timeout.no-inflight"), chk("timeout.no-git-connection")}, ""},
		func(s *strategies) {
			s.newRunner = func(f *Fetcher) opRunner { return softTimeoutRunner{f: f, timeout: f.cfg.GitTimeout, keepSource: true} }
		}},
	{Mutant{"inactivity-timeout", "runner", "git's http.lowSpeedLimit/lowSpeedTime or a per-read socket timeout as the only bound (Argo CD and Flux fetches that ran for hours)",
		"the timeout is an inactivity abort: an operation is canceled once no data arrived for the timeout, so a pack that trickles never ends it",
		[]CheckRef{chk("timeout.drip-clone-ends"), chk("timeout.drip-fetch-ends")}, ""},
		func(s *strategies) {
			s.newRunner = func(f *Fetcher) opRunner { return inactivityRunner{f: f, timeout: f.cfg.GitTimeout} }
		}},
	{Mutant{"ssh-dial-no-deadline", "dial", "go-git's ssh transport dials and shakes hands with a background context (argo-cd#20785: a stuck ssh held the repo lock for 17 minutes)",
		"an ssh clone or fetch dials through go-git's own dialer: against a host that accepts and never answers, the handshake outlives the operation's deadline, forever (run over ssh in the matrix)",
		[]CheckRef{chk("boot.offline-failed")}, "ssh"},
		func(s *strategies) { s.dial = plainDial{} }},
	{Mutant{"no-inflight-guard", "runner (+ reuse)", pr924 + ": before the in-flight guard, the per-source lock was released at the wait_for timeout while the pygit2 call kept running",
		"soft timeout whose source lock is released at the timeout: the timed-out operation keeps running and the next cycle starts a second one beside it",
		[]CheckRef{chk("timeout.no-overlap")}, ""},
		func(s *strategies) {
			s.newRunner = func(f *Fetcher) opRunner { return softTimeoutRunner{f: f, timeout: f.cfg.GitTimeout} }
			// Each operation works on its own handle, so the overlap collides
			// on disk (as two pygit2 threads on one clone would) instead of
			// racing inside one go-git repository and crashing the harness.
			s.reuse = privateHandle{}
		}},
	{Mutant{"shared-pool", "bundles", pr924 + ": git work ran on the default executor that also served bundles",
		"bundle building takes a git worker (the per-host bulkhead stays): when every worker hangs, bundles wait",
		[]CheckRef{chk("offline.bundle-while-workers-hang")}, ""},
		func(s *strategies) { s.bundles = onGitWorkers{} }},
	{Mutant{"no-host-bulkhead", "pool", pr924 + ": one FIFO pool, the upstream design",
		"one FIFO pool, no per-host cap or breaker: a healthy clone waits behind every round of hung ones",
		[]CheckRef{chk("offline.healthy-serves")}, ""},
		func(s *strategies) { s.newPool = func(c Config) gitPool { return newFIFOPool(c) } }},
	{Mutant{"serial-sync", "planner", pr924 + ": boot synced scopes one after another",
		"boot and sync-all run one source at a time",
		[]CheckRef{chk("boot.all-healthy")}, ""},
		func(s *strategies) { s.planner = serialPlan{} }},
	{Mutant{"no-fetch-dedupe", "planner", "OPAL sync_scopes: every scope force-fetches its source",
		"every scope fetches its source during sync (no pass-one/pass-two dedupe)",
		[]CheckRef{chk("boot.fetched-once"), chk("repeat-sync.fetched-once")}, ""},
		func(s *strategies) { s.planner = fetchEveryScope{} }},
	{Mutant{"no-purge-on-delete", "purge", pr923 + ": delete_scope removed the clone dir only",
		"delete leaves repos (open), repos_last_fetched and repo_locks cached",
		[]CheckRef{chk("churn.caches-drain"), chk("delete-hang.nothing-back")}, ""},
		func(s *strategies) { s.purger = purgeDirOnly{} }},
	{Mutant{"fd-leak-on-delete", "purge", pr923 + ": forget_repo without Repository.free() (pygit2 keeps descriptors until free)",
		"delete drops the repository from the caches without freeing it: its pack descriptors stay open",
		[]CheckRef{chk("churn.nothing-held"), chk("churn.fds-flat")}, ""},
		func(s *strategies) { s.purger = purgeNoFree{heap: s.nativeHeap()} }},
	{Mutant{"reopen-per-sync", "reuse", "pygit2 Repository(path) per sync, never freed",
		"every sync opens the repository again and drops the old handle without freeing it: descriptors grow per round",
		[]CheckRef{chk("repeat-sync.fds-flat"), chk("churn.fds-flat")}, ""},
		func(s *strategies) { s.reuse = reopenNoFree{heap: s.nativeHeap()} }},
	{Mutant{"delete-wrong-scope", "delete scan", pr923 + ": delete_scope's sibling loop shadowed the deleted scope, so the clone path came from the last scope iterated",
		"delete releases the source of the last other scope scanned instead of the deleted scope's own",
		[]CheckRef{chk("churn.dirs-removed")}, ""},
		func(s *strategies) { s.scan = lastScanned{} }},
	{Mutant{"sibling-by-url", "delete scan", pr923 + " review: the sibling check by url instead of source id (wrong with SCOPES_REPO_CLONES_SHARDS > 1)",
		"delete keeps the clone when another scope has the same url, though on another branch shard it has another source",
		[]CheckRef{chk("delete-hang.same-url-other-shard")}, ""},
		func(s *strategies) { s.scan = siblingByURL{} }},
	{Mutant{"purge-shared-on-delete", "delete scan", pr923 + " review: delete must purge only when no sibling resolves to the same source id",
		"delete releases the deleted scope's source whatever other scopes use it: the clone and its cache entries go under a living sibling",
		[]CheckRef{chk("delete-hang.sibling-serves"), chk("delete-hang.sibling-clone-kept")}, ""},
		func(s *strategies) { s.scan = purgeShared{} }},
	{Mutant{"stamp-before-fetch", "stamp", pr924 + ": repos_last_fetched set before the fetch",
		"last-fetched stamped before the fetch, so a failed fetch suppresses the next force fetch",
		[]CheckRef{chk("recovery.one-refresh")}, ""},
		func(s *strategies) { s.stamp = stampBefore{} }},
	{Mutant{"stamp-at-completion", "stamp", pr924 + ": repos_last_fetched set after the fetch with its completion time",
		"last-fetched stamped with the completion time, so a force fetch requested while a fetch was in flight is suppressed",
		[]CheckRef{chk("recovery.force-fetch-not-suppressed")}, ""},
		func(s *strategies) { s.stamp = stampCompletion{} }},
	{Mutant{"webhook-task-leak", "task list", pr923 + ": _on_webhook removed finished tasks while iterating the list",
		"finished tasks are swept when a task is added, by remove-while-iterating: each removal skips the next task",
		[]CheckRef{chk("webhook-storm.trailing-running-only")}, ""},
		func(s *strategies) { s.newTaskList = func() taskList { return &sweepSkipping{} } }},
	{Mutant{"sweep-only-on-add", "task list", pr923 + ": the fixed _on_webhook rebuilds the list only when a webhook arrives (the upstream design)",
		"finished tasks are swept only when a task is added: with no further webhook they stay",
		[]CheckRef{chk("webhook-storm.tasks-zero")}, ""},
		func(s *strategies) { s.newTaskList = func() taskList { return &sweptOnAdd{} } }},
	{Mutant{"trust-partial-clone", "verify", "pygit2 clone_repository into the final path: a timed-out or killed clone leaves its dir",
		"a half-written clone (crash or timed-out clone, whose partial dir is now left) is trusted instead of cloned again",
		[]CheckRef{chk("crash-restart.no-corrupt"), chk("timeout.partial-removed")}, ""},
		func(s *strategies) { s.verify = trustExisting{} }},
	{Mutant{"delete-waits", "delete", pr923 + ": delete takes the source lock a hung fetch holds",
		"delete blocks on the source lock until the hung operation ends instead of canceling it",
		[]CheckRef{chk("delete-hang.delete-prompt")}, ""},
		func(s *strategies) { s.deleter = waitThenPurge{} }},
	{Mutant{"resurrect-on-delete", "delete + commit", "the delete/fetch race PR2 deferred (PR4)",
		"delete neither cancels nor locks; an operation ending afterwards puts its repo, stamp and clone back",
		[]CheckRef{chk("delete-hang.nothing-back")}, ""},
		func(s *strategies) { s.commit, s.deleter = commitAlways{}, purgeNow{} }},
	{Mutant{"stale-content-cache", "content", "Argo CD argo-cd#26530: manifests from a stale checkout cached under the new revision",
		"bundle files cached by scope and path: a new commit is served under its own hash with the files first read",
		[]CheckRef{chk("repeat-sync.content-matches"), chk("webhook-storm.content-matches")}, ""},
		func(s *strategies) { s.content = &staleByPath{} }},
	{Mutant{"tmp-pack-left", "sweep", "argo-cd#18831: tmp_pack_* debris after fetches that ran out of disk",
		"a fetch that fails part way through its pack (a full disk) leaves its tmp_pack_* in the clone for good",
		[]CheckRef{chk("disk-full.no-debris")}, ""},
		func(s *strategies) { s.sweep = leaveTemp{} }},
}

// Mutants lists every mutant with its seam, upstream bug and checks.
func Mutants() []Mutant {
	out := make([]Mutant, len(mutantTable))
	for i, m := range mutantTable {
		m.MustFail = slices.Clone(m.MustFail)
		out[i] = m.Mutant
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

// LookupMutants returns the named mutants in table order, or an error
// naming every unknown one and listing the valid names. Empty names are
// ignored.
func LookupMutants(names []string) ([]Mutant, error) {
	rows, err := lookupRows(names)
	out := make([]Mutant, len(rows))
	for i, r := range rows {
		out[i] = r.Mutant
	}
	return out, err
}

// CheckMutants reports an error naming every unknown mutant in names.
func CheckMutants(names []string) error {
	_, err := lookupRows(names)
	return err
}

func lookupRows(names []string) ([]mutant, error) {
	want := map[string]bool{}
	var bad []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.ContainsFunc(mutantTable, func(m mutant) bool { return m.Name == n }) {
			bad = append(bad, n)
			continue
		}
		want[n] = true
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("unknown mutant(s) %s; valid: %s", strings.Join(bad, ", "), strings.Join(MutantNames(), ", "))
	}
	var out []mutant
	for _, m := range mutantTable {
		if want[m.Name] {
			out = append(out, m)
		}
	}
	return out, nil
}

// strategies are the seams where a mutant swaps in its historical bug. The
// correct code calls these and never asks which mutants are on.
type strategies struct {
	names       []string
	newPool     func(Config) gitPool // the pool
	newRunner   func(*Fetcher) opRunner
	newTaskList func() taskList // the task list
	bundles     bundleRunner    // where bundle building runs
	content     contentServer   // the files a built bundle serves
	sweep       sweeper         // a clone after a failed fetch or repack
	guard       opGuard         // single flight + source lock around git ops
	stamp       stamper         // the fetch stamp
	commit      committer       // publishing an op's result
	scan        deleteScan      // the delete path: which source a delete releases
	deleter     deleter         // the delete path: waiting and canceling
	purger      purger          // the delete path: what is released
	planner     planner         // the sync planner
	verify      verifier        // boot check of existing clones
	reuse       repoReuser      // reusing the open repository
	dial        sshDial         // how an ssh clone or fetch dials
	// heap stands for memory outside Go's reach (libgit2's): set only by
	// mutants that leave handles unfreed, released at Close.
	heap *unfreed
}

// nativeHeap returns the strategies' stand-in for libgit2's memory,
// creating it on first use.
func (s *strategies) nativeHeap() *unfreed {
	if s.heap == nil {
		s.heap = &unfreed{}
	}
	return s.heap
}

// release frees what mutants left unfreed (process exit, upstream).
func (s *strategies) release() {
	if s.heap != nil {
		s.heap.freeAll()
	}
}

// buildStrategies returns the correct strategies with the named mutants'
// swapped in (in table order); an unknown name is an error naming it.
func buildStrategies(names []string) (strategies, error) {
	rows, err := lookupRows(names)
	if err != nil {
		return strategies{}, err
	}
	s := strategies{
		newPool:     func(c Config) gitPool { return newHostGuard(c) },
		newRunner:   func(f *Fetcher) opRunner { return deadlineRunner{f: f, timeout: f.cfg.GitTimeout} },
		newTaskList: func() taskList { return &tracked{} },
		bundles:     inline{},
		content:     asBuilt{},
		sweep:       sweepTemp{},
		guard:       singleFlight{},
		stamp:       stampOnSuccess{},
		commit:      commitIfLive{},
		scan:        ownSource{},
		deleter:     cancelThenPurge{},
		purger:      purgeAll{},
		planner:     twoPass{},
		verify:      verifyOrReclone{},
		reuse:       reuseOpen{},
		dial:        deadlineDial{},
	}
	for _, m := range rows {
		m.apply(&s)
		s.names = append(s.names, m.Name)
	}
	return s, nil
}

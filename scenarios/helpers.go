package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// paramsMap renders a params struct for the report.
func paramsMap(p any) map[string]any {
	b, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// ScopeID names scope i of this scenario; against a server the harness did
// not start it carries the seed so reruns don't collide with leftovers.
func (s *S) ScopeID(i int) string {
	if s.Fresh {
		return fmt.Sprintf("%s-%03d", s.Name, i)
	}
	return fmt.Sprintf("gitchaos-%s-%d-%03d", s.Name, s.Seed, i)
}

// RepoName names repo i of this scenario.
func (s *S) RepoName(i int) string { return fmt.Sprintf("%s-r%03d", s.Name, i) }

// Host returns testbed host i.
func (s *S) Host(i int) *testbed.Host { return s.TB.Hosts()[i] }

// repo is a repo the scenario created.
// Repo is a repo a scenario created on a testbed host, with its newest
// commit.
type Repo struct {
	Host *testbed.Host
	Name string
	Head string
}

func (r Repo) URL() string { return r.Host.RepoURL(r.Name) }

// CreateRepos makes n repos on host h, seeded from the scenario seed.
func (s *S) CreateRepos(ctx context.Context, h *testbed.Host, first, n int, spec repogen.Spec) ([]Repo, error) {
	if spec.IsZero() {
		spec = repogen.DefaultSpec()
	}
	out := make([]Repo, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := s.RepoName(first + i)
			info, err := h.CreateRepo(ctx, name, s.Seed+int64(first+i), spec)
			if err != nil {
				errs[i] = fmt.Errorf("create repo %s on %s: %w", name, h.Name, err)
				return
			}
			out[i] = Repo{Host: h, Name: name, Head: info.Head}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Push appends a seeded commit to a repo and returns the new head.
func (s *S) Push(ctx context.Context, r *Repo) error {
	info, err := r.Host.Admin.Commit(ctx, r.Name, gitserverCommit(s.Rand.Int64()))
	if err != nil {
		return fmt.Errorf("push to %s/%s: %w", r.Host.Name, r.Name, err)
	}
	r.Head = info.Head
	return nil
}

// PutScopes creates scopes (id -> repo URL, branch main).
func (s *S) PutScopes(ctx context.Context, ids []string, urls []string) error {
	for i, id := range ids {
		if err := s.C.PutScope(ctx, target.NewScope(id, urls[i], "main")); err != nil {
			return fmt.Errorf("put scope %s: %w", id, err)
		}
		s.mu.Lock()
		s.scopes = append(s.scopes, id)
		s.mu.Unlock()
	}
	return nil
}

// deleteScopes removes the scopes this scenario put (for targets that
// outlive the scenario).
func (s *S) deleteScopes(ctx context.Context) {
	s.mu.Lock()
	ids := s.scopes
	s.scopes = nil
	s.mu.Unlock()
	for i, id := range ids {
		err := s.C.DeleteScope(ctx, id)
		if err == nil || target.IsStatus(err, http.StatusNotFound) {
			continue
		}
		s.Logf("cleanup: delete scope %s: %v", id, err)
		var se *target.StatusError
		if !errors.As(err, &se) {
			// No HTTP answer at all (deadline, reset): a target that does not
			// answer would cost a request deadline per scope.
			s.Logf("cleanup: target not answering: %d more scope deletes skipped", len(ids)-i-1)
			return
		}
	}
}

// served polls the bundles of ids until each answers 200 with the wanted
// hash (any hash when want[id] is ""), recording when each was first
// served. It returns the time to each (missing: never) and the outcome.
func (s *S) served(ctx context.Context, ids []string, want map[string]string, timeout time.Duration) (map[string]time.Duration, eventually.Outcome) {
	return s.servedFrom(ctx, ids, want, timeout, time.Now(), 0)
}

// pollConcurrency bounds the policy requests a served-poll has in flight.
const pollConcurrency = 16

// readyTimeout is how long a setup step waits for its scopes.
const readyTimeout = 30 * time.Second

// ready waits up to readyTimeout for a setup step's scopes to serve (want:
// their newest commits), asking the target again for every scope not
// served yet once no scope has come to serve for nudgeEvery: POST
// /scopes/{id}/refresh. While scopes keep coming (a large step on a busy
// target) nothing is asked again: at 200 scopes, asking for every scope
// still queued added ~250 refreshes to each churn phase and slowed it.
// A correct server need not retry a sync that failed on its own (the
// reference fetcher does not; OPAL with its polling off does not), and a
// clone that timed out once on a loaded machine must not end a gate whose
// subject is something else (seen: churn on a 2-core box beside a
// compiler, a 1 s clone timeout missed now and then). Never used where the check is how the target
// serves or retries by itself (boot, recovery, offline, the fetch counts).
func (s *S) ready(ctx context.Context, ids []string, want map[string]string) (map[string]time.Duration, eventually.Outcome) {
	return s.servedFrom(ctx, ids, want, readyTimeout, time.Now(), s.nudgeEvery())
}

// nudgeEvery is the pause before a scope that is not served is asked for
// again: long enough for a slow operation to finish within the target's
// git timeout.
func (s *S) nudgeEvery() time.Duration {
	return max(3*time.Second, 2*s.Settings.GitTimeout)
}

// servedFrom is served with times measured from start (a process spawn,
// say). Errors, refused connections included, are "not yet"; a process
// target that exits on its own ends the wait.
// With nudge > 0, once no scope has come to serve for nudge (since the
// wait began or since the last scope served), every scope not served yet
// whose last refresh is nudge old is refreshed. At most pollConcurrency
// requests are in flight at once, whatever the scope count.
func (s *S) servedFrom(ctx context.Context, ids []string, want map[string]string, timeout time.Duration, start time.Time, nudge time.Duration) (map[string]time.Duration, eventually.Outcome) {
	at := map[string]time.Duration{}
	var mu sync.Mutex
	began := time.Now()
	progress, served := began, 0 // when a scope last came to serve, and how many had
	nudged := map[string]time.Time{}
	nudges := 0
	sem := make(chan struct{}, pollConcurrency)
	defer func() {
		if nudges > 0 {
			s.Logf("asked the target again %d times for scopes not served after %v (POST /scopes/{id}/refresh)", nudges, nudge)
			s.Mark(result.MarkerPhase, fmt.Sprintf("%d scope refreshes re-requested by the harness", nudges))
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitedWhy := ""
	out := eventually.Poll(ctx, timeout, 25*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if er, ok := s.T.(target.ExitReporter); ok {
			if why := er.Exited(); why != "" {
				exitedWhy = why
				cancel()
				return false, "target exited: " + firstLine(why), nil
			}
		}
		var wg sync.WaitGroup
		var lastErr error
		mu.Lock()
		if len(at) > served {
			progress, served = time.Now(), len(at)
		}
		stalled := nudge > 0 && time.Since(progress) >= nudge
		mu.Unlock()
		for _, id := range ids {
			mu.Lock()
			_, done := at[id]
			mu.Unlock()
			if done {
				continue
			}
			if stalled {
				last, ok := nudged[id]
				if !ok {
					last = began
				}
				if time.Since(last) >= nudge {
					nudged[id] = time.Now()
					nudges++
					if err := s.C.Refresh(ctx, id); err != nil {
						s.Logf("re-request scope %s: %v", id, err)
					}
				}
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				b, err := s.C.Policy(ctx, id)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					lastErr = err
					return
				}
				if w := want[id]; w != "" && b.Hash != w {
					lastErr = fmt.Errorf("scope %s serves %s, want %s", id, short(b.Hash), short(w))
					return
				}
				at[id] = time.Since(start)
			}()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		obs := fmt.Sprintf("%d/%d scopes served", len(at), len(ids))
		if lastErr != nil && len(at) < len(ids) {
			obs += fmt.Sprintf(" (e.g. %v)", lastErr)
		}
		return len(at) == len(ids), obs, nil
	})
	if exitedWhy != "" {
		out.Err = nil
		out.Observed = fmt.Sprintf("%d/%d scopes served when the target exited", len(at), len(ids))
	}
	mu.Lock()
	defer mu.Unlock()
	cp := make(map[string]time.Duration, len(at))
	for k, v := range at {
		cp[k] = v
	}
	return cp, out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func short(h string) string {
	if len(h) > 10 {
		return h[:10]
	}
	if h == "" {
		return "(none)"
	}
	return h
}

// Stats reads the target's stats endpoint; ok is false when it has none.
func (s *S) Stats(ctx context.Context) (map[string]float64, bool, error) {
	st, err := s.C.Stats(ctx)
	if target.IsStatus(err, http.StatusNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return st, true, nil
}

// CloneDirs lists the clone dirs under the target's base dir (nil, false
// when the base dir is unknown).
func (s *S) CloneDirs() ([]string, bool) {
	if s.T.BaseDir() == "" {
		return nil, false
	}
	ents, err := os.ReadDir(filepath.Join(s.T.BaseDir(), "git_sources"))
	if err != nil {
		return nil, true
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, true
}

// watchedDirs are the dirs whose disk use counts as the target's clone
// data: <base>/git_sources and the dirs the target names beyond its base
// dir (an exec target's TMPDIR, a URL target's --target-watch-dir).
func (s *S) watchedDirs() []string {
	var dirs []string
	if s.T.BaseDir() != "" {
		dirs = append(dirs, filepath.Join(s.T.BaseDir(), "git_sources"))
	}
	if w, ok := s.T.(target.DirWatcher); ok {
		dirs = append(dirs, w.WatchDirs()...)
	}
	return dirs
}

// DirBytes is the disk use under the watched dirs (false when there is
// none: the base dir is unknown and the target names no other dir).
func (s *S) DirBytes() (float64, bool) {
	dirs := s.watchedDirs()
	if len(dirs) == 0 {
		return 0, false
	}
	var n int64
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return float64(n), true
}

// fault parses a catalog fault, failing the scenario on a bad spec.
func fault(spec string) faults.Fault {
	f, err := faults.Parse(spec)
	if err != nil {
		panic(fmt.Sprintf("scenarios: bad built-in fault %q: %v", spec, err))
	}
	return f
}

// percentile of durations (p in 0..100), nearest-rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(float64(len(s))*p/100+0.5) - 1
	k = max(0, min(k, len(s)-1))
	return s[k]
}

func joinIDs(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ", ") + fmt.Sprintf(" (+%d more)", len(ids)-5)
	}
	return strings.Join(ids, ", ")
}

func gitserverCommit(seed int64) gitserver.CommitRequest {
	return gitserver.CommitRequest{Seed: seed, Message: fmt.Sprintf("gitchaos commit %d", seed)}
}

// spreadRepos makes n repos over every host of the testbed, in blocks
// (repo i of the result is RepoName(i)), so a target with a per-host cap
// on git work can run its whole pool.
func (s *S) spreadRepos(ctx context.Context, n int, spec repogen.Spec) ([]Repo, error) {
	hosts := s.TB.Hosts()
	var out []Repo
	first := 0
	for i, h := range hosts {
		k := n / len(hosts)
		if i < n%len(hosts) {
			k++
		}
		if k == 0 {
			continue
		}
		rs, err := s.CreateRepos(ctx, h, first, k, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		first += k
	}
	return out, nil
}

// heldPlateau is how long the number of held requests must stay the same,
// with at least one held, for waitHeld to accept fewer than it wants: the
// target holds no more at once (its own caps, below the settings).
const heldPlateau = time.Second

// waitHeld polls the git servers until want of the repos have a request
// in flight (held inside the server by a hang fault, say), or at least
// one has and the count has not moved for heldPlateau, or the timeout
// passes. It returns the outcome and how many were held. Callers want
// min(len(repos), max_workers): a target runs at most its pool at once.
func (s *S) waitHeld(ctx context.Context, repos []Repo, want int, timeout, interval time.Duration) (eventually.Outcome, int) {
	want = max(1, min(want, len(repos)))
	last, since := -1, time.Now()
	held := 0
	out := eventually.Poll(ctx, timeout, interval, func(ctx context.Context) (bool, string, error) {
		all := map[*testbed.Host]map[string]gitserver.Counters{}
		n := 0
		for _, r := range repos {
			cs, ok := all[r.Host]
			if !ok {
				var err error
				if cs, err = r.Host.Admin.AllCounters(ctx); err != nil {
					return false, "", fmt.Errorf("counters of %s: %w", r.Host.Name, err)
				}
				all[r.Host] = cs
			}
			if cs[r.Name].InFlight > 0 {
				n++
			}
		}
		if n != last {
			last, since = n, time.Now()
		}
		held = n
		obs := fmt.Sprintf("%d/%d repos have a request in flight (want %d)", n, len(repos), want)
		return n >= want || (n > 0 && time.Since(since) >= heldPlateau), obs, nil
	})
	return out, held
}

// statsZero polls the stats endpoint until every one of keys that the
// target reports is 0, or the timeout passes. known is false when the
// target has no stats endpoint or none of the keys: then nothing was
// waited for and the outcome is OK.
func (s *S) statsZero(ctx context.Context, timeout time.Duration, keys ...string) (out eventually.Outcome, known bool) {
	known = true
	out = eventually.Poll(ctx, timeout, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		st, ok, err := s.Stats(ctx)
		if err != nil {
			return false, "", err
		}
		busy, seen := 0.0, 0
		var obs []string
		for _, k := range keys {
			if v, has := st[k]; ok && has {
				busy += v
				seen++
				obs = append(obs, fmt.Sprintf("%s=%g", k, v))
			}
		}
		if seen == 0 {
			known = false
			return true, "", nil
		}
		return busy == 0, strings.Join(obs, " "), nil
	})
	return out, known
}

// waitIdle waits until no git operation or refresh task is in flight
// (targets without those stats count as idle).
func (s *S) waitIdle(ctx context.Context, timeout time.Duration) eventually.Outcome {
	out, _ := s.statsZero(ctx, timeout, target.StatInFlight, target.StatWebhookTasks)
	return out
}

// settleInFlight waits until the target has no git operation in flight
// (when it reports in_flight).
func (s *S) settleInFlight(ctx context.Context, timeout time.Duration) error {
	if out, _ := s.statsZero(ctx, timeout, target.StatInFlight); !out.OK {
		return fmt.Errorf("operations in flight did not drain in %v: %s", timeout, out.Describe())
	}
	return nil
}

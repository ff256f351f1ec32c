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
	"github.com/gitchaos/gitchaos/harness/faults"
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
type repo struct {
	Host *testbed.Host
	Name string
	Head string
}

func (r repo) URL() string { return r.Host.RepoURL(r.Name) }

// CreateRepos makes n repos on host h, seeded from the scenario seed.
func (s *S) CreateRepos(ctx context.Context, h *testbed.Host, first, n int, spec repogen.Spec) ([]repo, error) {
	if spec.IsZero() {
		spec = repogen.DefaultSpec()
	}
	out := make([]repo, n)
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
			out[i] = repo{Host: h, Name: name, Head: info.Head}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Push appends a seeded commit to a repo and returns the new head.
func (s *S) Push(ctx context.Context, r *repo) error {
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
	for _, id := range ids {
		if err := s.C.DeleteScope(ctx, id); err != nil && !target.IsStatus(err, http.StatusNotFound) {
			s.Logf("cleanup: delete scope %s: %v", id, err)
		}
	}
}

// served polls the bundles of ids until each answers 200 with the wanted
// hash (any hash when want[id] is ""), recording when each was first
// served. It returns the time to each (missing: never) and the outcome.
func (s *S) served(ctx context.Context, ids []string, want map[string]string, timeout time.Duration) (map[string]time.Duration, Outcome) {
	start := time.Now()
	at := map[string]time.Duration{}
	var mu sync.Mutex
	out := Eventually(ctx, timeout, 25*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		var wg sync.WaitGroup
		var lastErr error
		for _, id := range ids {
			mu.Lock()
			_, done := at[id]
			mu.Unlock()
			if done {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
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
	mu.Lock()
	defer mu.Unlock()
	cp := make(map[string]time.Duration, len(at))
	for k, v := range at {
		cp[k] = v
	}
	return cp, out
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

// CacheKeys are OPAL's three process-wide fetcher caches.
var CacheKeys = []string{"repo_locks", "repos", "repos_last_fetched"}

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

// DirBytes is the disk use under the target's base dir's git_sources.
func (s *S) DirBytes() (float64, bool) {
	if s.T.BaseDir() == "" {
		return 0, false
	}
	var n int64
	_ = filepath.WalkDir(filepath.Join(s.T.BaseDir(), "git_sources"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
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

// waitHeld polls the git servers until every repo has a request in flight
// (held inside the server by a hang fault, say) or the timeout passes.
func (s *S) waitHeld(ctx context.Context, repos []repo, timeout, interval time.Duration) Outcome {
	return Eventually(ctx, timeout, interval, func(ctx context.Context) (bool, string, error) {
		n := 0
		for _, r := range repos {
			c, err := r.Host.Admin.Counters(ctx, r.Name)
			if err != nil {
				return false, "", fmt.Errorf("counters of %s/%s: %w", r.Host.Name, r.Name, err)
			}
			if c.InFlight > 0 {
				n++
			}
		}
		return n == len(repos), fmt.Sprintf("%d/%d repos have a request in flight", n, len(repos)), nil
	})
}

// statsZero polls the stats endpoint until every one of keys that the
// target reports is 0, or the timeout passes. known is false when the
// target has no stats endpoint or none of the keys: then nothing was
// waited for and the outcome is OK.
func (s *S) statsZero(ctx context.Context, timeout time.Duration, keys ...string) (out Outcome, known bool) {
	known = true
	out = Eventually(ctx, timeout, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
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
func (s *S) waitIdle(ctx context.Context, timeout time.Duration) Outcome {
	out, _ := s.statsZero(ctx, timeout, "in_flight", "webhook_tasks")
	return out
}

// settleInFlight waits until the target has no git operation in flight
// (when it reports in_flight).
func (s *S) settleInFlight(ctx context.Context, timeout time.Duration) error {
	if out, _ := s.statsZero(ctx, timeout, "in_flight"); !out.OK {
		return fmt.Errorf("operations in flight did not drain in %v: %s", timeout, out.describe())
	}
	return nil
}

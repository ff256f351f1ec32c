package gates

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// RepoName names repo i of this scenario.
func (ss *scopeSet) RepoName(i int) string { return fmt.Sprintf("%s-r%03d", ss.s.Name, i) }

// Repo is a repo a scenario created on a testbed host, with its newest
// commit.
type Repo struct {
	Host *testbed.Host
	Name string
	Head string
}

// URL is the repo's clone URL on its host.
func (r Repo) URL() string { return r.Host.RepoURL(r.Name) }

// CreateRepos makes n repos on host h, seeded from the scenario seed.
func (ss *scopeSet) CreateRepos(ctx context.Context, h *testbed.Host, first, n int, spec repogen.Spec) ([]Repo, error) {
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
			name := ss.RepoName(first + i)
			info, err := h.CreateRepo(ctx, name, ss.s.Seed+int64(first+i), spec)
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

// Push appends a seeded commit (from the scenario's random stream) to a
// repo and sets its new head.
func (ss *scopeSet) Push(ctx context.Context, r *Repo) error {
	info, err := r.Host.Admin.Commit(ctx, r.Name, gitserverCommit(ss.s.Rand.Int64()))
	if err != nil {
		return fmt.Errorf("push to %s/%s: %w", r.Host.Name, r.Name, err)
	}
	r.Head = info.Head
	return nil
}

func gitserverCommit(seed int64) gitserver.CommitRequest {
	return gitserver.CommitRequest{Seed: seed, Message: fmt.Sprintf("gitchaos commit %d", seed)}
}

// SpreadRepos makes n repos over every host of the testbed, in blocks
// (repo i of the result is RepoName(i)), so a target with a per-host cap
// on git work can run its whole pool.
func (ss *scopeSet) SpreadRepos(ctx context.Context, n int, spec repogen.Spec) ([]Repo, error) {
	hosts := ss.s.Testbed.Hosts()
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
		rs, err := ss.CreateRepos(ctx, h, first, k, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		first += k
	}
	return out, nil
}

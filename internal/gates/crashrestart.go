package gates

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// CrashRestartParams size the crash-restart gate.
type CrashRestartParams struct {
	Healthy     int           `json:"healthy" yaml:"healthy"`           // scopes fully cloned before the crash
	MidClone    int           `json:"mid_clone" yaml:"mid_clone"`       // scopes whose clone is in flight at the SIGKILL
	ServeBudget time.Duration `json:"serve_budget" yaml:"serve_budget"` // every scope serves within this after the restart (0: 10 s + 250 ms per round of the pool over the scopes)
	Spec        repogen.Spec  `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("crash-restart").
func (CrashRestartParams) GateName() string { return "crash-restart" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *CrashRestartParams) Validate() error {
	c := paramCheck{gate: "crash-restart"}
	c.atLeast("healthy", p.Healthy, 0, "")
	c.atLeast("mid_clone", p.MidClone, 1, "")
	c.nonNegative("serve_budget", p.ServeBudget)
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *CrashRestartParams) setScopes(n int) { p.MidClone = n }

// This scenario SIGKILLs a target process while clones are in flight
// (held inside the git server), starts it again on the same base dir with
// the hosts healthy, and checks every scope serves its newest commit and
// no clone dir left by the dead process is kept corrupt.
var crashRestartGate = &Gate{
	Name: "crash-restart",
	Doc:  "SIGKILL mid-clone, restart: every scope serves; no corrupt clone kept",
	// Held clones spread over hosts so a per-host bulkhead lets the whole
	// pool in.
	Hosts: 4,
	Params: func() any {
		return &CrashRestartParams{Healthy: 2, MidClone: 3, Spec: repogen.DefaultSpec()}
	},
	// A long git timeout keeps the held clones in flight until the kill.
	Settings: func(st target.Settings) target.Settings { st.GitTimeout = 30 * time.Second; return st },
	Run:      runCrashRestart,
}

// The crash-restart gate's checks.
var (
	crashAllServe = declare("crash-restart", "all-serve", "every scope serves after the restart", unitSeconds,
		"after a SIGKILL mid-clone and a restart, every scope serves its newest commit")
	crashNoCorrupt = declare("crash-restart", "no-corrupt", "no corrupt clone kept", unitCount,
		"a half-written clone left by the crash is detected and cloned again, never kept")
	crashContent = declare("crash-restart", "content-matches", "served files match their revision after the restart", unitCount,
		"every bundle read before and after the crash is the repo's files at the bundle's hash")
	crashRefreshAfter = declare("crash-restart", "refresh-after-restart", "a push and a refresh after the restart serve the newest commit", unitSeconds,
		"after the SIGKILL restart the server still does git work: a refresh fetches (its git pool runs, e.g. not one inherited dead across a fork)")
	crashNewScopeAfter = declare("crash-restart", "new-scope-after-restart", "a scope put after the restart clones and serves", unitSeconds,
		"after the SIGKILL restart a new scope on a new source is cloned (the git pool runs work submitted after the boot sync)")
	crashChecks = []*Check{crashAllServe, crashNoCorrupt, crashContent, crashRefreshAfter, crashNewScopeAfter}
)

func runCrashRestart(ctx context.Context, s *S, pp any) error {
	p := pp.(*CrashRestartParams)
	k, ok := s.Target.(target.Killer)
	if !ok {
		if s.Crash == nil {
			for _, c := range crashChecks {
				s.rec.Skip(c, fmt.Sprintf("%s cannot be killed and no process target was given (--target-cmd)", s.Target.Describe()))
			}
			return nil
		}
		t, err := s.Crash.New(ctx, s.Settings)
		if err != nil {
			return fmt.Errorf("crash-restart: start process target: %w", err)
		}
		defer func() {
			s.exitCheck(t)
			if err := t.Close(); err != nil {
				s.res.Error = joinErr(s.res.Error, fmt.Sprintf("close process target: %v", err))
			}
			if l, ok := t.(target.LogKeeper); ok {
				s.res.Logs = append(s.res.Logs, keptFiles(l.Logs())...)
			}
		}()
		if k, ok = t.(target.Killer); !ok {
			return fmt.Errorf("crash-restart: %s cannot be killed", t.Describe())
		}
		s.Target, s.Client = t, t.Client()
		s.Logf("crash-restart runs on %s", t.Describe())
	}
	s.scopes.watchContent()
	var repos []Repo
	for i := range p.Healthy + p.MidClone {
		h := s.scopes.Host(0)
		if i >= p.Healthy {
			h = s.scopes.Host((i - p.Healthy) % len(s.Testbed.Hosts()))
		}
		r, err := s.scopes.CreateRepos(ctx, h, i, 1, p.Spec)
		if err != nil {
			return err
		}
		repos = append(repos, r...)
	}
	var ids, urls []string
	for i, r := range repos {
		ids, urls = append(ids, s.scopes.ID(i)), append(urls, r.URL())
	}
	want := map[string]string{}
	for i, id := range ids {
		want[id] = repos[i].Head
	}
	if err := s.scopes.Put(ctx, ids[:p.Healthy], urls[:p.Healthy]); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, ids[:p.Healthy], nil); !out.OK {
		return fmt.Errorf("crash-restart: healthy scopes never served: %s", out.Describe())
	}
	// The repo of the scope put after the restart (restartwork.go).
	newRepo, err := s.scopes.CreateRepos(ctx, s.scopes.Host(0), len(repos), 1, p.Spec)
	if err != nil {
		return err
	}
	held := repos[p.Healthy:]
	for _, r := range held {
		if _, err := s.faults.Inject(ctx, r.Host, r.Name, fault("hang")); err != nil {
			return err
		}
	}
	if err := s.scopes.Put(ctx, ids[p.Healthy:], urls[p.Healthy:]); err != nil {
		return err
	}
	// Wait until every held repo has a request in flight: the clones have
	// begun and are stuck inside the server.
	// As many as the target runs at once (min(N, max_workers)); the rest
	// wait in its pool and are equally lost to the kill.
	out, nHeld := s.waitHeld(ctx, held, s.Settings.MaxWorkers, 10*time.Second, 20*time.Millisecond)
	if !out.OK {
		return fmt.Errorf("crash-restart: clones never reached the server: %s", out.Describe())
	}
	before, _ := s.CloneDirs()
	s.rec.Mark(result.MarkerPhase, "SIGKILL")
	if err := k.Kill(ctx); err != nil {
		return fmt.Errorf("crash-restart: kill: %w", err)
	}
	if err := s.faults.recoverAll(ctx); err != nil {
		return fmt.Errorf("crash-restart: clear faults: %w", err)
	}
	s.rec.Mark(result.MarkerPhase, "restart")
	restart := time.Now()
	if err := k.Start(ctx); err != nil {
		return fmt.Errorf("crash-restart: start again: %w", err)
	}
	budget, budgetWhy := p.ServeBudget, "serve_budget"
	if budget <= 0 {
		rounds := (len(ids) + s.Settings.MaxWorkers - 1) / s.Settings.MaxWorkers
		budget = 10*time.Second + time.Duration(rounds)*250*time.Millisecond
		budgetWhy = fmt.Sprintf("budget 10 s + 250 ms × %d rounds of %d workers over %d scopes", rounds, s.Settings.MaxWorkers, len(ids))
	}
	at, sout := s.scopes.Served(ctx, ids, want, budget)
	if sout.OK {
		var last time.Duration
		for _, d := range at {
			last = max(last, d)
		}
		s.rec.LE(crashAllServe, last.Seconds(), budget.Seconds(),
			budgetWhy+"; "+fmt.Sprintf("%d scopes (%d cloned before the crash, %d put and not served at the SIGKILL, %d of them held mid-clone in the git server, %d clone dirs on disk at the kill) serve their newest commit", len(ids), p.Healthy, p.MidClone, nHeld, len(before)))
	} else {
		s.rec.True(crashAllServe, false, sout.Describe(), "all within "+budget.String()+" ("+budgetWhy+")",
			fmt.Sprintf("after SIGKILL mid-clone and restart (%v ago), not every scope serves its newest commit", time.Since(restart).Round(time.Millisecond)))
	}
	if idle := s.waitIdle(ctx, 10*time.Second); !idle.OK {
		s.Logf("target not idle before the clone check: %s", idle.Describe())
	}
	bad := corruptClones(s.Target.BaseDir())
	dirs, _ := s.CloneDirs()
	s.rec.EQ(crashNoCorrupt, float64(len(bad)), 0,
		orDefault(joinIDs(bad), fmt.Sprintf("all %d clone dirs open and every branch resolves to a commit", len(dirs))))

	// Work after the restart: a refresh fetches, a new scope clones.
	refresh, newScope, err := restartWork{refreshID: ids[0], refreshOn: &repos[0], newID: s.scopes.ID(len(repos)), newRepo: newRepo[0],
		when: "the SIGKILL restart",
		// The gate's git timeout is long (held clones), so the budget is the
		// one every scope had to serve in after the restart.
		budget: budget, why: budgetWhy + " (the gate's serve budget)"}.run(ctx, s)
	if err != nil {
		return err
	}
	s.rec.Add(crashRefreshAfter, refresh)
	s.rec.Add(crashNewScopeAfter, newScope)
	s.rec.Add(crashContent, s.scopes.contentCheck(ctx))
	return nil
}

// corruptClones lists clone dirs under base/git_sources that do not open
// as a repository whose branches all resolve to commits present in it.
func corruptClones(base string) []string {
	dirs, err := filepath.Glob(filepath.Join(base, "git_sources", "*"))
	if err != nil {
		return []string{err.Error()}
	}
	var bad []string
	for _, d := range dirs {
		if err := checkClone(d); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", filepath.Base(d), err))
		}
	}
	return bad
}

func checkClone(dir string) error {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	refs, err := r.References()
	if err != nil {
		return fmt.Errorf("refs: %w", err)
	}
	defer refs.Close()
	n := 0
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference || !(ref.Name().IsBranch() || ref.Name().IsRemote()) {
			return nil
		}
		n++
		if _, err := r.CommitObject(ref.Hash()); err != nil {
			return fmt.Errorf("%s -> %s: %w", ref.Name().Short(), ref.Hash(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("no branch: a clone that never finished")
	}
	return nil
}

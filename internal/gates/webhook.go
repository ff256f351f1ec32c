package gates

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// The webhook-storm gate's checks.
var (
	webhookNoneRejected = declare("webhook-storm", "none-rejected", "refresh calls rejected", unitCount,
		"a storm of refresh webhooks is accepted, none answered with an error")
	webhookTasksZero = declare("webhook-storm", "tasks-zero", "task list returns to zero", "",
		"every finished webhook task leaves the task list")
	webhookSingleFlight = declare("webhook-storm", "single-flight", "single flight per source under the storm", unitCount,
		"at most one fetch per source at a time however many webhooks ask")
	webhookNewestAfter = declare("webhook-storm", "newest-after", "newest commit served after the storm", "",
		"after the storm every scope serves its newest commit")
	webhookContent = declare("webhook-storm", "content-matches", "served files match their revision after the storm", unitCount,
		"every bundle read is the repo's files at the bundle's hash, however many refreshes raced to build it")
	webhookTrailing = declare("webhook-storm", "trailing-running-only", "after a trailing webhook only running tasks remain", unitCount,
		"adding a task sweeps every finished one (no remove-while-iterating that keeps half)")
)

// WebhookStormParams size the webhook-storm gate.
type WebhookStormParams struct {
	Scopes   int          `json:"scopes" yaml:"scopes"`       // scopes, one repo each, one host each (at most 3)
	PerScope int          `json:"per_scope" yaml:"per_scope"` // refresh calls per scope, all at once
	Wave     int          `json:"wave" yaml:"wave"`           // refresh calls per scope after each release (tasks keep arriving while others finish)
	Spec     repogen.Spec `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("webhook-storm").
func (WebhookStormParams) GateName() string { return "webhook-storm" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *WebhookStormParams) Validate() error {
	c := paramCheck{gate: "webhook-storm"}
	c.between("scopes", p.Scopes, 1, webhookStormGate.Hosts, "one host each")
	c.atLeast("per_scope", p.PerScope, 2, "")
	c.atLeast("wave", p.Wave, 0, "")
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *WebhookStormParams) setScopes(n int) { p.Scopes = min(n, 3) }

// This scenario fires many refresh calls at once while each scope's
// fetch hangs in the git server, then releases the hangs one scope at a
// time, firing a wave of refresh calls after each, so tasks finish at
// different times while new ones keep arriving. Once every task finished
// the task list must be empty without any further webhook, and one
// trailing webhook (whose task hangs) must leave only that running task in
// the list; no two fetches of one repo ever ran side by side, and every
// scope ends on the newest commit.
var webhookStormGate = &Gate{
	Name:   "webhook-storm",
	Doc:    "webhook storm: task list back to zero; only running tasks after a trailing webhook; single flight per source; newest commit served",
	Hosts:  3,
	Params: func() any { return &WebhookStormParams{Scopes: 3, PerScope: 15, Wave: 5, Spec: repogen.DefaultSpec()} },
	// The hangs are released by the scenario, one scope at a time: a git
	// timeout of at least 10 s keeps the first fetches from timing out
	// before their release on a loaded machine (the gate judges task
	// tracking and single flight, not timeouts).
	Settings: func(st target.Settings) target.Settings {
		st.GitTimeout = max(st.GitTimeout, 10*time.Second)
		return st
	},
	Run: runWebhookStorm,
}

func runWebhookStorm(ctx context.Context, s *S, pp any) error {
	p := pp.(*WebhookStormParams)
	var repos []Repo
	var ids, urls []string
	for i := range p.Scopes {
		r, err := s.scopes.CreateRepos(ctx, s.scopes.Host(i), i, 1, p.Spec)
		if err != nil {
			return err
		}
		repos = append(repos, r[0])
		ids, urls = append(ids, s.scopes.ID(i)), append(urls, r[0].URL())
	}
	s.scopes.watchContent()
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, ids, nil); !out.OK {
		return fmt.Errorf("webhook-storm: scopes never served: %s", out.Describe())
	}
	want := map[string]string{}
	var clears []func(context.Context) error
	for i := range repos {
		if err := repos[i].Host.Admin.ResetCounters(ctx); err != nil {
			return fmt.Errorf("reset counters: %w", err)
		}
		if err := s.scopes.Push(ctx, &repos[i]); err != nil {
			return err
		}
		want[ids[i]] = repos[i].Head
		c, err := s.faults.Inject(ctx, repos[i].Host, repos[i].Name, fault("hang"))
		if err != nil {
			return err
		}
		clears = append(clears, c)
	}
	s.rec.Mark(result.MarkerPhase, "storm")
	calls := 0
	var errs []error
	storm := func(per int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for k := range per {
			for _, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.Client.Refresh(ctx, id)
					mu.Lock()
					defer mu.Unlock()
					calls++
					if err != nil {
						errs = append(errs, fmt.Errorf("refresh %s (#%d): %w", id, k, err))
					}
				}()
			}
		}
		wg.Wait()
	}
	storm(p.PerScope)
	// Let the fetches reach the hang, then release one scope at a time
	// (well within the git timeout); after each, more webhooks arrive
	// while the other scopes' tasks still run.
	out, _ := s.waitHeld(ctx, repos, len(repos), 5*time.Second, 5*time.Millisecond)
	s.Logf("storm: %s", out.Describe())
	s.rec.Mark(result.MarkerPhase, "staggered release")
	released := time.Now()
	for i, c := range clears {
		if err := c(ctx); err != nil {
			return err
		}
		if i < len(clears)-1 {
			storm(p.Wave)
		}
	}
	s.Logf("staggered release took %v (git timeout %v)", time.Since(released), s.Settings.GitTimeout)
	explain := fmt.Sprintf("%d of %d refresh calls answered an error", len(errs), calls)
	if len(errs) > 0 {
		explain += fmt.Sprintf(" (first: %v)", errs[0])
	}
	s.rec.EQ(webhookNoneRejected, float64(len(errs)), 0, explain)
	_, so := s.scopes.Served(ctx, ids, want, 5*time.Second+2*s.Settings.GitTimeout)
	if err := s.settleInFlight(ctx, 5*time.Second+2*s.Settings.GitTimeout); err != nil {
		return fmt.Errorf("webhook-storm: %w", err)
	}
	to, tasksKnown := s.statsZero(ctx, 2*time.Second, target.StatWebhookTasks)
	if tasksKnown {
		s.rec.True(webhookTasksZero, to.OK, to.Describe(), "webhook_tasks == 0", fmt.Sprintf("after %d refresh calls finished, with no further webhook", calls))
	} else {
		s.rec.Skip(webhookTasksZero, "the target's stats have no webhook_tasks key")
	}
	s.trailingWebhook(ctx, repos[0], ids[0], calls)
	worst, where := 0.0, ""
	for _, r := range repos {
		c, err := r.Host.Admin.Counters(ctx, r.Name)
		if err != nil {
			return fmt.Errorf("counters of %s: %w", r.Name, err)
		}
		if float64(c.MaxInFlight) > worst {
			worst, where = float64(c.MaxInFlight), fmt.Sprintf("%s/%s: %d git requests served, at most %d at once", r.Host.Name, r.Name, c.InfoRefs+c.UploadPacks, c.MaxInFlight)
		}
	}
	s.rec.LE(webhookSingleFlight, worst, 1, where)
	s.rec.True(webhookNewestAfter, so.OK, so.Describe(), "every scope on its newest commit", "the storm's fetches hung in the git server, then were released one scope at a time")
	s.rec.Add(webhookContent, s.scopes.contentCheck(ctx))
	return nil
}

// trailingWebhook sends one more refresh, whose fetch hangs, after every
// earlier task finished: the list may then hold only that running task
// (a list swept by remove-while-iterating keeps about half the finished ones).
func (s *S) trailingWebhook(ctx context.Context, r Repo, id string, before int) {
	st, ok, err := s.Stats(ctx)
	if _, has := st[target.StatWebhookTasks]; err != nil || !ok || !has {
		s.rec.Skip(webhookTrailing, "the target's stats have no webhook_tasks key")
		return
	}
	idle := st[target.StatWebhookTasks]
	clear, err := s.faults.Inject(ctx, r.Host, r.Name, fault("hang"))
	if err != nil {
		s.rec.Error(webhookTrailing, err)
		return
	}
	defer func() { _ = clear(ctx) }()
	s.rec.Mark(result.MarkerPhase, "trailing webhook")
	if err := s.Client.Refresh(ctx, id); err != nil {
		s.rec.Error(webhookTrailing, fmt.Errorf("trailing refresh of %s: %v", id, err))
		return
	}
	if out, _ := s.waitHeld(ctx, []Repo{r}, 1, 5*time.Second, 5*time.Millisecond); !out.OK {
		s.rec.Error(webhookTrailing, fmt.Errorf("the trailing refresh's fetch never reached the git server: %s", out.Describe()))
		return
	}
	st, ok, err = s.Stats(ctx)
	if err != nil || !ok {
		s.rec.Error(webhookTrailing, fmt.Errorf("stats after the trailing refresh: %v", err))
		return
	}
	s.rec.LE(webhookTrailing, st[target.StatWebhookTasks], 1,
		fmt.Sprintf("webhook_tasks after one refresh (its fetch hangs: 1 task running) once all %d earlier tasks had finished; %g before it", before, idle))
}

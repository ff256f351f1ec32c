package scenarios

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
)

// WebhookStormParams size the webhook-storm gate.
type WebhookStormParams struct {
	Scopes   int          `json:"scopes" yaml:"scopes"`       // scopes, one repo each, one host each (at most 3)
	PerScope int          `json:"per_scope" yaml:"per_scope"` // refresh calls per scope, all at once
	Spec     repogen.Spec `json:"spec" yaml:"spec"`
}

func (p *WebhookStormParams) setScopes(n int) { p.Scopes = min(n, 3) }

// webhookStormScenario fires many refresh calls at once while each scope's fetch
// hangs in the git server, then lets the fetches finish: the task list
// returns to zero, no two fetches of one repo ever ran side by side, and
// every scope ends on the newest commit.
var webhookStormScenario = register(&Scenario{
	Name:   "webhook-storm",
	Doc:    "webhook storm: task list back to zero; single flight per source; newest commit served",
	Hosts:  3,
	Params: func() any { return &WebhookStormParams{Scopes: 3, PerScope: 15, Spec: repogen.DefaultSpec()} },
	Run:    runWebhookStorm,
})

func runWebhookStorm(ctx context.Context, s *S, pp any) error {
	p := pp.(*WebhookStormParams)
	if p.Scopes < 1 || p.Scopes > 3 || p.PerScope < 2 {
		return fmt.Errorf("webhook-storm: scopes %d (want 1..3) per_scope %d (want >= 2)", p.Scopes, p.PerScope)
	}
	var repos []repo
	var ids, urls []string
	for i := range p.Scopes {
		r, err := s.CreateRepos(ctx, s.Host(i), i, 1, p.Spec)
		if err != nil {
			return err
		}
		repos = append(repos, r[0])
		ids, urls = append(ids, s.ScopeID(i)), append(urls, r[0].URL())
	}
	if err := s.PutScopes(ctx, ids, urls); err != nil {
		return err
	}
	if _, out := s.served(ctx, ids, nil, 30*time.Second); !out.OK {
		return fmt.Errorf("webhook-storm: scopes never served: %s", out.describe())
	}
	want := map[string]string{}
	var clears []func(context.Context) error
	for i := range repos {
		if err := repos[i].Host.Admin.ResetCounters(ctx); err != nil {
			return fmt.Errorf("reset counters: %w", err)
		}
		if err := s.Push(ctx, &repos[i]); err != nil {
			return err
		}
		want[ids[i]] = repos[i].Head
		c, err := s.RepoFault(ctx, repos[i].Host, repos[i].Name, gitserver.Fault{Mode: gitserver.FaultHang})
		if err != nil {
			return err
		}
		clears = append(clears, c)
	}
	s.Mark("phase", "storm")
	var wg sync.WaitGroup
	errs := make(chan error, p.Scopes*p.PerScope)
	for k := range p.PerScope {
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.C.Refresh(ctx, id); err != nil {
					errs <- fmt.Errorf("refresh %s (#%d): %w", id, k, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	nerr := 0
	var firstErr error
	for err := range errs {
		if firstErr == nil {
			firstErr = err
		}
		nerr++
	}
	explain := fmt.Sprintf("%d of %d concurrent refresh calls answered an error", nerr, p.Scopes*p.PerScope)
	if firstErr != nil {
		explain += fmt.Sprintf(" (first: %v)", firstErr)
	}
	s.CheckEQ("refresh calls rejected", float64(nerr), 0, unitCount, explain)
	// Let the fetches reach the hang, then release it well within the git timeout.
	out := s.waitHeld(ctx, repos, s.Settings.GitTimeout/2, 5*time.Millisecond)
	s.Logf("storm: %s", out.describe())
	for _, c := range clears {
		if err := c(ctx); err != nil {
			return err
		}
	}
	to, tasksKnown := s.statsZero(ctx, 5*time.Second+2*s.Settings.GitTimeout, "webhook_tasks")
	if tasksKnown {
		s.CheckTrue("task list returns to zero", to.OK, to.describe(), "webhook_tasks == 0", fmt.Sprintf("after %d refresh calls and their fetches finished", p.Scopes*p.PerScope))
	} else {
		s.Skip("task list returns to zero", "the target's stats have no webhook_tasks key")
	}
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
	s.CheckLE("single flight per source under the storm", worst, 1, unitCount, where)
	_, so := s.served(ctx, ids, want, 5*time.Second+2*s.Settings.GitTimeout)
	s.CheckTrue("newest commit served after the storm", so.OK, so.describe(), "every scope on its newest commit", "the storm's fetches hung in the git server, then were released")
	return nil
}

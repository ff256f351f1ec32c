package scenarios

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/target"
)

// DeleteHangParams size the delete-during-a-hang gate.
type DeleteHangParams struct {
	Scopes       int           `json:"scopes" yaml:"scopes"`               // scopes whose fetch hangs when deleted
	DeleteBudget time.Duration `json:"delete_budget" yaml:"delete_budget"` // each DELETE answers within this
	Spec         repogen.Spec  `json:"spec" yaml:"spec"`
}

func (p *DeleteHangParams) setScopes(n int) { p.Scopes = n }

// deleteHangScenario deletes scopes whose fetch hangs inside the git server: each
// delete returns promptly, and after the hang ends no clone dir, cache
// entry or scope comes back.
var deleteHangScenario = register(&Scenario{
	Name:  "delete-hang",
	Doc:   "delete during a hang: deletes return promptly; nothing comes back after the hang ends",
	Hosts: 1,
	Params: func() any {
		return &DeleteHangParams{Scopes: 2, DeleteBudget: 500 * time.Millisecond, Spec: repogen.DefaultSpec()}
	},
	Run: runDeleteHang,
})

func runDeleteHang(ctx context.Context, s *S, pp any) error {
	p := pp.(*DeleteHangParams)
	if p.Scopes < 1 {
		return fmt.Errorf("delete-hang: scopes %d: want >= 1", p.Scopes)
	}
	h := s.Host(0)
	repos, err := s.CreateRepos(ctx, h, 0, p.Scopes, p.Spec)
	if err != nil {
		return err
	}
	var ids, urls []string
	for i, r := range repos {
		ids, urls = append(ids, s.ScopeID(i)), append(urls, r.URL())
	}
	if err := s.PutScopes(ctx, ids, urls); err != nil {
		return err
	}
	if _, out := s.served(ctx, ids, nil, 30*time.Second); !out.OK {
		return fmt.Errorf("delete-hang: scopes never served: %s", out.describe())
	}
	if err := h.Admin.ResetCounters(ctx); err != nil {
		return fmt.Errorf("reset counters: %w", err)
	}
	var clears []func(context.Context) error
	for i := range repos {
		if err := s.Push(ctx, &repos[i]); err != nil {
			return err
		}
		c, err := s.RepoFault(ctx, h, repos[i].Name, gitserver.Fault{Mode: gitserver.FaultHang})
		if err != nil {
			return err
		}
		clears = append(clears, c)
	}
	if err := s.C.RefreshAll(ctx); err != nil {
		return fmt.Errorf("refresh all: %w", err)
	}
	// Wait until every fetch hangs inside the server.
	out := s.waitHeld(ctx, repos, 10*time.Second, 10*time.Millisecond)
	if !out.OK {
		return fmt.Errorf("delete-hang: fetches never reached the hang: %s", out.describe())
	}
	s.Mark("phase", "delete while hanging")
	worst := time.Duration(0)
	var slow []string
	for _, id := range ids {
		t0 := time.Now()
		err := s.C.Do(ctx, http.MethodDelete, "/scopes/"+id, nil, nil)
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("delete %s during the hang: %w", id, err)
		}
		worst = max(worst, d)
		if d > p.DeleteBudget {
			slow = append(slow, fmt.Sprintf("%s %v", id, d.Round(time.Millisecond)))
		}
	}
	explain := fmt.Sprintf("slowest of %d deletes while their fetch hangs in the git server (git timeout %v)", len(ids), s.Settings.GitTimeout)
	if len(slow) > 0 {
		explain += ": " + strings.Join(slow, ", ")
	}
	s.CheckLE("delete returns promptly during a hang", worst.Seconds(), p.DeleteBudget.Seconds(), unitSeconds, explain)

	// End the hang, then watch for a while: nothing may come back.
	for _, c := range clears {
		if err := c(ctx); err != nil {
			return err
		}
	}
	watch := s.Settings.GitTimeout + time.Second
	end := time.Now().Add(watch)
	var back []string
	for time.Now().Before(end) && ctx.Err() == nil && len(back) == 0 {
		back = s.leftovers(ctx, ids)
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	if len(back) == 0 {
		back = s.leftovers(ctx, ids)
	}
	s.CheckEQ("nothing comes back after the hang ends", float64(len(back)), 0, unitCount,
		orDefault(strings.Join(back, "; "), fmt.Sprintf("no scope, cache entry or clone dir seen for %v after the hang ended", watch)))
	return nil
}

// leftovers lists what of deleted scopes is still (or again) there.
func (s *S) leftovers(ctx context.Context, ids []string) []string {
	var out []string
	for _, id := range ids {
		if _, err := s.C.Scope(ctx, id); err == nil {
			out = append(out, "scope "+id+" exists")
		} else if !target.IsStatus(err, http.StatusNotFound) {
			out = append(out, fmt.Sprintf("scope %s: %v", id, err))
		}
	}
	if st, ok, err := s.Stats(ctx); err == nil && ok {
		for _, k := range CacheKeys {
			if st[k] != 0 {
				out = append(out, fmt.Sprintf("%s=%g", k, st[k]))
			}
		}
	}
	if dirs, known := s.CloneDirs(); known && len(dirs) > 0 {
		out = append(out, "clone dirs "+joinIDs(dirs))
	}
	return out
}

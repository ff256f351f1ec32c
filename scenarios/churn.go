package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
)

// ChurnParams size the churn gate.
type ChurnParams struct {
	Cycles  int                `json:"cycles" yaml:"cycles"`             // put → sync → refresh → delete cycles
	Scopes  int                `json:"scopes" yaml:"scopes"`             // distinct scopes (and repos) per cycle
	Budgets map[string]float64 `json:"budgets,omitempty" yaml:"budgets"` // per-cycle budgets overriding flat's defaults
	Spec    repogen.Spec       `json:"spec" yaml:"spec"`
}

func (p *ChurnParams) setScopes(n int) { p.Scopes = n }

// churnScenario is the upstream leak gate: cycles of put N distinct scopes → wait
// served → push → refresh all → wait newest → delete all; after every
// cycle the three caches are empty and no clone dir is left, and fds,
// goroutines, heap, RSS and disk stay flat across cycles.
var churnScenario = register(&Scenario{
	Name:   "churn",
	Doc:    "scope churn: caches drain to zero every cycle; fds, goroutines, heap, RSS, disk flat",
	Hosts:  1,
	Params: func() any { return &ChurnParams{Cycles: 12, Scopes: 8, Spec: repogen.DefaultSpec()} },
	Run:    runChurn,
})

func runChurn(ctx context.Context, s *S, pp any) error {
	p := pp.(*ChurnParams)
	if p.Cycles < 11 || p.Scopes < 1 {
		return fmt.Errorf("churn: cycles %d (want >= 11: 3 warm-up, 3 floor, 5 judged) and scopes %d (want >= 1)", p.Cycles, p.Scopes)
	}
	repos, err := s.CreateRepos(ctx, s.Host(0), 0, p.Scopes, p.Spec)
	if err != nil {
		return err
	}
	series := newCycleSeries()
	worstCaches, worstDirs := 0.0, 0
	var cacheWhy, dirWhy string
	statsOK := true
	for c := range p.Cycles {
		s.Mark("cycle", fmt.Sprintf("cycle %d", c))
		ids := make([]string, p.Scopes)
		urls := make([]string, p.Scopes)
		for i := range ids {
			ids[i] = s.ScopeID(c*p.Scopes + i)
			urls[i] = repos[i].URL()
		}
		if err := s.PutScopes(ctx, ids, urls); err != nil {
			return err
		}
		if _, out := s.served(ctx, ids, nil, 30*time.Second); !out.OK {
			s.CheckTrue("scopes served every cycle", false, out.describe(), "all within 30 s", fmt.Sprintf("cycle %d: scopes never served", c))
			return nil
		}
		want := map[string]string{}
		for i := range repos {
			if err := s.Push(ctx, &repos[i]); err != nil {
				return err
			}
			want[ids[i]] = repos[i].Head
		}
		if err := s.C.RefreshAll(ctx); err != nil {
			return fmt.Errorf("cycle %d: refresh all: %w", c, err)
		}
		if _, out := s.served(ctx, ids, want, 30*time.Second); !out.OK {
			s.CheckTrue("refresh serves the newest commit", false, out.describe(), "all within 30 s", fmt.Sprintf("cycle %d", c))
			return nil
		}
		for _, id := range ids {
			if err := s.C.DeleteScope(ctx, id); err != nil {
				return fmt.Errorf("cycle %d: delete %s: %w", c, id, err)
			}
		}
		// Caches and clone dirs must drain to exactly zero (once they have
		// failed to, later cycles only take a quick look).
		drain := 5 * time.Second
		if cacheWhy != "" {
			drain = 250 * time.Millisecond
		}
		out := Eventually(ctx, drain, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			st, ok, err := s.Stats(ctx)
			if err != nil || !ok {
				statsOK = ok
				return !ok, "no stats endpoint", err
			}
			var parts []string
			total := 0.0
			for _, k := range CacheKeys {
				v, has := st[k]
				if !has {
					return false, "stats lack " + k, nil
				}
				total += v
				parts = append(parts, fmt.Sprintf("%s=%g", k, v))
			}
			return total == 0, strings.Join(parts, " "), nil
		})
		if statsOK && !out.OK {
			if tot := cacheTotal(out.Observed); tot > worstCaches || cacheWhy == "" {
				worstCaches, cacheWhy = tot, fmt.Sprintf("cycle %d after deleting every scope: %s", c, out.describe())
			}
		}
		if dirs, known := s.CloneDirs(); known && len(dirs) > worstDirs {
			worstDirs, dirWhy = len(dirs), fmt.Sprintf("cycle %d: clone dirs left: %s", c, joinIDs(dirs))
		}
		smp, err := s.settledSample(ctx)
		if err != nil {
			return fmt.Errorf("cycle %d: sample: %w", c, err)
		}
		series.add(smp)
	}
	if statsOK {
		s.CheckLE("caches drain to zero after delete", worstCaches, 0, unitCount, orDefault(cacheWhy, fmt.Sprintf("repo_locks, repos and repos_last_fetched were 0 after each of %d cycles", p.Cycles)))
	} else {
		s.Skip("caches drain to zero after delete", "target has no "+"/internal/git-fetcher-cache-stats endpoint")
	}
	if _, known := s.CloneDirs(); known {
		s.CheckLE("clone dirs removed after delete", float64(worstDirs), 0, unitCount, orDefault(dirWhy, "no clone dir left after any cycle"))
	} else {
		s.Skip("clone dirs removed after delete", "target's base dir unknown")
	}
	s.judge(series, "churn cycles", p.Budgets)
	return nil
}

// cacheTotal sums "k=v" pairs of an observation.
func cacheTotal(obs string) float64 {
	total := 0.0
	for _, f := range strings.Fields(obs) {
		var v float64
		if i := strings.IndexByte(f, '='); i > 0 {
			if _, err := fmt.Sscanf(f[i+1:], "%g", &v); err == nil {
				total += v
			}
		}
	}
	return total
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

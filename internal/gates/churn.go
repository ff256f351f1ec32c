package gates

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// The churn gate's checks.
var (
	churnScopesServed = declare("churn", "scopes-served", "scopes served every cycle", "",
		"every cycle's scopes are served (the churn cannot be judged otherwise)").
		sometimes("only when a cycle's scopes are never served: it fails and churn stops")
	churnRefreshNewest = declare("churn", "refresh-newest", "refresh serves the newest commit", "",
		"refresh all brings every scope of the cycle to its newest commit").
		sometimes("only when a cycle's refresh does not bring the newest commit: it fails and churn stops")
	churnCachesDrain = declare("churn", "caches-drain", "caches drain to zero after delete", unitCount,
		"deleting every scope empties repo_locks, repos and repos_last_fetched (no cache left behind)")
	churnDirsRemoved = declare("churn", "dirs-removed", "clone dirs removed after delete", unitCount,
		"deleting every scope removes its clone dir")
	churnFlat = declarePerMetric("churn", "flat", "%s flat across churn cycles", leakMetrics, perUnit("cycle"),
		"%s do not grow with scope churn (nothing a deleted scope held is kept)")
)

// ChurnParams size the churn gate.
type ChurnParams struct {
	Cycles int `json:"cycles" yaml:"cycles"` // put → sync → refresh → delete cycles
	// MaxCycles caps an adaptive run: after Cycles, churn goes on until
	// every leak verdict is decisive or MaxCycles ran (0:
	// DefaultMaxCycles; equal to Cycles: a fixed length).
	MaxCycles int                `json:"max_cycles,omitempty" yaml:"max_cycles"`
	Scopes    int                `json:"scopes" yaml:"scopes"`             // distinct scopes (and repos) per cycle
	Budgets   map[string]float64 `json:"budgets,omitempty" yaml:"budgets"` // per-cycle budgets overriding flat's defaults
	// ScopeBudgets are budgets per deleted scope (bytes, fds, threads,
	// processes per scope), times Scopes per cycle; Budgets win; unset
	// metrics use flat.ScopeBudgets.
	ScopeBudgets map[string]float64 `json:"scope_budgets,omitempty" yaml:"scope_budgets"`
	Spec         repogen.Spec       `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("churn").
func (ChurnParams) GateName() string { return "churn" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *ChurnParams) Validate() error {
	c := paramCheck{gate: "churn"}
	c.atLeast("cycles", p.Cycles, 11, "3 warm-up, 3 floor, 5 judged")
	c.atLeast("max_cycles", p.MaxCycles, 0, "0: the default cap")
	c.atLeast("scopes", p.Scopes, 1, "")
	c.budgets("budgets", p.Budgets)
	c.budgets("scope_budgets", p.ScopeBudgets)
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *ChurnParams) setScopes(n int) { p.Scopes = n }

// This scenario is the upstream leak gate: cycles of put N distinct scopes → wait
// served → push → refresh all → wait newest → delete all; after every
// cycle the three caches are empty and no clone dir is left, and fds,
// goroutines, heap, RSS and disk stay flat across cycles.
var churnGate = &Gate{
	Name:   "churn",
	Doc:    "scope churn: caches drain to zero every cycle; fds, goroutines, heap, RSS, disk flat",
	Hosts:  4, // repos spread so a per-host cap lets the whole pool work
	Params: func() any { return &ChurnParams{Cycles: 12, Scopes: 8, Spec: repogen.DefaultSpec()} },
	Run:    runChurn,
}

func runChurn(ctx context.Context, s *S, pp any) error {
	p := pp.(*ChurnParams)
	repos, err := s.scopes.SpreadRepos(ctx, p.Scopes, p.Spec)
	if err != nil {
		return err
	}
	series := newCycleSeries()
	worstCaches, worstDirs, maxServedDirs := 0.0, 0, 0
	var cacheWhy, dirWhy string
	cacheMissing := "" // why the caches cannot be judged
	judge := leakJudge{checks: churnFlat, budgets: p.Budgets, scopeBudgets: p.ScopeBudgets, scopes: p.Scopes,
		min: p.Cycles, max: capCycles(p.Cycles, p.MaxCycles)}
	stop, cycles := "", 0
	held := newHeldWatch()
	for c := 0; stop == ""; c++ {
		s.rec.Mark(result.MarkerCycle, fmt.Sprintf("cycle %d", c))
		ids := make([]string, p.Scopes)
		urls := make([]string, p.Scopes)
		for i := range ids {
			ids[i] = s.scopes.ID(c*p.Scopes + i)
			urls[i] = repos[i].URL()
		}
		if err := s.scopes.Put(ctx, ids, urls); err != nil {
			return err
		}
		if _, out := s.scopes.Ready(ctx, ids, nil); !out.OK {
			s.rec.True(churnScopesServed, false, out.Describe(), "all within 30 s", fmt.Sprintf("cycle %d: scopes never served", c))
			return nil
		}
		s.scopes.learnClones(repos)
		want := map[string]string{}
		for i := range repos {
			if err := s.scopes.Push(ctx, &repos[i]); err != nil {
				return err
			}
			want[ids[i]] = repos[i].Head
		}
		if err := s.Client.RefreshAll(ctx); err != nil {
			return fmt.Errorf("cycle %d: refresh all: %w", c, err)
		}
		if _, out := s.scopes.Ready(ctx, ids, want); !out.OK {
			s.rec.True(churnRefreshNewest, false, out.Describe(), "all within 30 s", fmt.Sprintf("cycle %d", c))
			return nil
		}
		if dirs, _ := s.CloneDirs(); len(dirs) > maxServedDirs {
			maxServedDirs = len(dirs)
		}
		for _, id := range ids {
			if err := s.scopes.Delete(ctx, id); err != nil {
				return fmt.Errorf("cycle %d: delete %s: %w", c, id, err)
			}
		}
		// Caches and clone dirs must drain to exactly zero (once they have
		// failed to, later cycles only take a quick look).
		drain := 5 * time.Second
		if cacheWhy != "" {
			drain = 250 * time.Millisecond
		}
		if cacheMissing == "" {
			total := 0.0
			out := eventually.Poll(ctx, drain, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
				st, ok, err := s.Stats(ctx)
				if err != nil {
					return false, "", err
				}
				if why := lacksCaches(st, ok); why != "" {
					cacheMissing = why
					return true, why, nil // nothing to wait for: the check is skipped
				}
				var parts []string
				total = 0
				for _, k := range target.CacheKeys {
					total += st[k]
					parts = append(parts, fmt.Sprintf("%s=%g", k, st[k]))
				}
				return total == 0, strings.Join(parts, " "), nil
			})
			if cacheMissing == "" && !out.OK && (total > worstCaches || cacheWhy == "") {
				worstCaches, cacheWhy = total, fmt.Sprintf("cycle %d after deleting every scope: %s", c, out.Describe())
			}
		}
		if dirs, known := s.CloneDirs(); known && len(dirs) > worstDirs {
			worstDirs, dirWhy = len(dirs), fmt.Sprintf("cycle %d: clone dirs left: %s", c, joinIDs(dirs))
		}
		held.at(ctx, s, c, fmt.Sprintf("cycle %d", c))
		smp, err := s.settledSample(ctx)
		if err != nil {
			return fmt.Errorf("cycle %d: sample: %w", c, err)
		}
		series.add(smp)
		cycles = c + 1
		if ok, why := s.done(ctx, series, judge, cycles); ok {
			stop = why
		}
	}
	if cacheMissing == "" {
		s.rec.LE(churnCachesDrain, worstCaches, 0, orDefault(cacheWhy, fmt.Sprintf("repo_locks, repos and repos_last_fetched were 0 after each of %d cycles", cycles)))
	} else {
		s.rec.Skip(churnCachesDrain, cacheMissing)
	}
	switch _, known := s.CloneDirs(); {
	case !known:
		s.rec.Skip(churnDirsRemoved, "target's base dir unknown")
	case maxServedDirs == 0:
		s.rec.Skip(churnDirsRemoved, fmt.Sprintf("no clone dir ever appeared under %s while scopes were served: the target keeps its clones elsewhere", filepath.Join(s.Target.BaseDir(), "git_sources")))
	default:
		s.rec.LE(churnDirsRemoved, float64(worstDirs), 0, orDefault(dirWhy, fmt.Sprintf("no clone dir left after any cycle (up to %d while scopes were served)", maxServedDirs)))
	}
	s.judge(series, judge, stop)
	s.rec.Add(churnNothingHeld, held.result())
	held.decideByIdentity(s, churnFlat)
	held.annotate(s, churnFlat)
	return nil
}

// lacksCaches says why the caches cannot be judged from a stats reading
// ("" when they can): no stats endpoint, or one without some of
// target.CacheKeys (a missing key is not a zero).
func lacksCaches(st map[string]float64, ok bool) string {
	if !ok {
		return "target has no " + target.StatsPath + " endpoint"
	}
	var missing []string
	for _, k := range target.CacheKeys {
		if _, has := st[k]; !has {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	have := make([]string, 0, len(st))
	for k := range st {
		have = append(have, k)
	}
	sort.Strings(have)
	return fmt.Sprintf("the stats endpoint lacks %s (it has: %s): a missing cache is not an empty one", strings.Join(missing, ", "), orDefault(strings.Join(have, ", "), "nothing"))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

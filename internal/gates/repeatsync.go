package gates

import (
	"context"
	"fmt"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/metric"
	"github.com/gitchaos/gitchaos/harness/result"
)

// The repeat-sync gate's checks. Its per-round series leave disk out
// (runRepeatSync's newCycleSeries), so its flatness family does too.
// repeatSyncMetrics are the leak metrics repeat-sync judges: every round
// pushes, so what grows with fetches (disk use) is left out.
var repeatSyncMetrics = metric.Names(func(r metric.Row) bool { return r.Leak && !r.GrowsWithFetches })

var (
	repeatSyncNewest = declare("repeat-sync", "newest-every-round", "newest commit served every round", unitCount,
		"every refresh-all round brings every scope to its newest commit")
	repeatSyncFetchedOnce = declare("repeat-sync", "fetched-once", "each source fetched once per refresh-all", unitCount,
		"refresh all fetches each shared source once (pass one), not once per scope")
	repeatSyncContent = declare("repeat-sync", "content-matches", "served files match their revision", unitCount,
		"every bundle read is the repo's files at the bundle's hash, not stale files under a new revision label")
	repeatSyncFlat = declarePerMetric("repeat-sync", "flat", "%s flat across refresh-all rounds",
		repeatSyncMetrics, perUnit("round"),
		"%s do not grow with repeated refresh-all rounds")
)

// RepeatSyncParams size the repeat-sync gate.
type RepeatSyncParams struct {
	Scopes int `json:"scopes" yaml:"scopes"` // scopes, spread over Repos (sharing sources)
	Repos  int `json:"repos" yaml:"repos"`   // distinct repos
	Rounds int `json:"rounds" yaml:"rounds"` // refresh-all rounds (the minimum)
	// MaxRounds caps an adaptive run: after Rounds, rounds go on until
	// every leak verdict is decisive or MaxRounds ran (0:
	// DefaultMaxCycles; equal to Rounds: a fixed length).
	MaxRounds int                `json:"max_rounds,omitempty" yaml:"max_rounds"`
	Budgets   map[string]float64 `json:"budgets,omitempty" yaml:"budgets"` // per-round budgets overriding flat's defaults
	Spec      repogen.Spec       `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("repeat-sync").
func (RepeatSyncParams) GateName() string { return "repeat-sync" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *RepeatSyncParams) Validate() error {
	c := paramCheck{gate: "repeat-sync"}
	c.atLeast("rounds", p.Rounds, 11, "3 warm-up, 3 floor, 5 judged")
	c.atLeast("max_rounds", p.MaxRounds, 0, "0: the default cap")
	c.atLeast("repos", p.Repos, 1, "")
	if p.Scopes < p.Repos {
		c.fail("scopes", p.Scopes, fmt.Sprintf(">= repos (%d)", p.Repos))
	}
	c.budgets("budgets", p.Budgets)
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *RepeatSyncParams) setMaxCycles(n int) { p.MaxRounds = n }

func (p *RepeatSyncParams) setScopes(n int) {
	p.Scopes = n
	p.Repos = min(p.Repos, n)
}

// This scenario keeps N scopes and runs R rounds of push → refresh all →
// newest served. Every round each distinct source is fetched at most once
// (pass one dedupes sources, pass two is local), and fds, goroutines,
// heap and RSS stay flat across rounds: a fetcher that reopens a
// repository per sync without closing the old handle grows fds here.
var repeatSyncGate = &Gate{
	Name:  "repeat-sync",
	Doc:   "R refresh-all rounds over N scopes sharing sources: one fetch per source per round; fds, goroutines, heap, RSS flat",
	Hosts: 1,
	Params: func() any {
		return &RepeatSyncParams{Scopes: 8, Repos: 4, Rounds: 12, Spec: repogen.DefaultSpec()}
	},
	Run: runRepeatSync,
}

func runRepeatSync(ctx context.Context, s *S, pp any) error {
	p := pp.(*RepeatSyncParams)
	h := s.scopes.Host(0)
	repos, err := s.scopes.CreateRepos(ctx, h, 0, p.Repos, p.Spec)
	if err != nil {
		return err
	}
	ids := make([]string, p.Scopes)
	urls := make([]string, p.Scopes)
	for i := range ids {
		ids[i], urls[i] = s.scopes.ID(i), repos[i%len(repos)].URL()
	}
	s.scopes.watchContent()
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, ids, nil); !out.OK {
		s.rec.True(repeatSyncNewest, false, out.Describe(), "all within 30 s", "scopes never served after put")
		return nil
	}
	// Disk use is not judged: every round's fetch adds the pushed objects.
	series := newCycleSeries(repeatSyncMetrics...)
	series.each("round")
	worstFetches, worstWhy := 0.0, ""
	servedRounds := 0
	judge := leakJudge{checks: repeatSyncFlat, budgets: p.Budgets, min: p.Rounds, max: capCycles(p.Rounds, p.MaxRounds)}
	stop, rounds := "", 0
	kept := &keptWatch{}
	for r := 0; stop == ""; r++ {
		s.rec.Mark(result.MarkerCycle, fmt.Sprintf("round %d", r))
		want := map[string]string{}
		for i := range repos {
			if err := s.scopes.Push(ctx, &repos[i]); err != nil {
				return err
			}
		}
		for i, id := range ids {
			want[id] = repos[i%len(repos)].Head
		}
		if err := h.Admin.ResetCounters(ctx); err != nil {
			return fmt.Errorf("round %d: reset counters: %w", r, err)
		}
		if err := s.Client.RefreshAll(ctx); err != nil {
			return fmt.Errorf("round %d: refresh all: %w", r, err)
		}
		if _, out := s.scopes.Served(ctx, ids, want, 30*time.Second); !out.OK {
			s.rec.True(repeatSyncNewest, false, out.Describe(), "all within 30 s", fmt.Sprintf("round %d: refresh all did not bring the newest commit", r))
			return nil
		}
		servedRounds++
		// Wait for the round's tasks to end before reading counters, so a
		// late duplicate fetch is counted in this round.
		if out := s.waitIdle(ctx, 10*time.Second); !out.OK {
			s.Logf("round %d: target not idle: %s", r, out.Describe())
		}
		all, err := h.Admin.AllCounters(ctx)
		if err != nil {
			return fmt.Errorf("round %d: counters: %w", r, err)
		}
		for _, rp := range repos {
			c := all[rp.Name]
			if v := float64(c.Fetches()); v > worstFetches {
				worstFetches = v
				worstWhy = fmt.Sprintf("round %d: %s fetched %d times (%d ref advertisements, %d upload-packs, %d requests abandoned by the client) for %d scopes sharing it", r, rp.Name, c.Fetches(), c.InfoRefs, c.UploadPacks, c.Abandoned, p.Scopes/p.Repos)
			}
		}
		smp, err := s.settledSample(ctx)
		if err != nil {
			return fmt.Errorf("round %d: sample: %w", r, err)
		}
		series.add(smp)
		kept.at(ctx, s, r, fmt.Sprintf("round %d", r))
		s.scopes.verifyContent(ctx) // each round, after its sample: nothing kept across rounds
		rounds = r + 1
		if ok, why := s.done(ctx, series, judge, rounds); ok {
			stop = why
		}
	}
	s.rec.EQ(repeatSyncNewest, float64(servedRounds), float64(rounds),
		fmt.Sprintf("rounds in which all %d scopes (over %d repos) served the commit just pushed, within 30 s of refresh all", p.Scopes, p.Repos))
	s.rec.LE(repeatSyncFetchedOnce, worstFetches, 1,
		orDefault(worstWhy, fmt.Sprintf("max ref advertisements of one repo in one round, %d scopes over %d repos", p.Scopes, p.Repos)))
	s.judge(series, judge, stop)
	kept.decide(s, repeatSyncFlat, "round")
	s.rec.Add(repeatSyncContent, s.scopes.contentCheck(ctx))
	return nil
}

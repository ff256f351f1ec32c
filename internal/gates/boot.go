package gates

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// BootParams size the boot gate.
type BootParams struct {
	Scopes       int           `json:"scopes" yaml:"scopes"`               // healthy scopes (spread over Repos, sharing sources)
	Repos        int           `json:"repos" yaml:"repos"`                 // healthy repos, spread over 3 hosts
	Offline      int           `json:"offline" yaml:"offline"`             // scopes on their own repos on a blackholed host
	Latency      time.Duration `json:"latency" yaml:"latency"`             // latency injected on the healthy hosts
	FirstBudget  time.Duration `json:"first_budget" yaml:"first_budget"`   // time to the first healthy scope served (0: derived from the settings, boot_budget.go)
	AllBudget    time.Duration `json:"all_budget" yaml:"all_budget"`       // time to every healthy scope served (0: derived from the settings)
	FailedBudget time.Duration `json:"failed_budget" yaml:"failed_budget"` // time until offline scopes are reported failed (0: max(3 × git timeout + 1 s, the derived boot-sync bound))
	Spec         repogen.Spec  `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("boot").
func (BootParams) GateName() string { return "boot" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *BootParams) Validate() error {
	c := paramCheck{gate: "boot"}
	c.atLeast("repos", p.Repos, 1, "")
	if p.Scopes < p.Repos {
		c.fail("scopes", p.Scopes, fmt.Sprintf(">= repos (%d)", p.Repos))
	}
	c.atLeast("offline", p.Offline, 0, "")
	c.positive("latency", p.Latency)
	if p.Latency%time.Millisecond != 0 {
		c.fail("latency", p.Latency, "a whole number of milliseconds (toxiproxy's unit)")
	}
	c.nonNegative("first_budget", p.FirstBudget)
	c.nonNegative("all_budget", p.AllBudget)
	c.nonNegative("failed_budget", p.FailedBudget)
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *BootParams) setScopes(n int) {
	p.Scopes = n
	p.Repos = min(p.Repos, n)
}

// This scenario is a cold start: scopes persisted, clones gone, one host dead. It
// records the progress curve, times to first and all healthy scopes
// served, checks offline scopes are reported failed, and that each
// distinct source was fetched exactly once (server counters).
var bootGate = &Gate{
	Name:  "boot",
	Doc:   "cold boot of N scopes over M repos with k on a blackholed host: progress, times, one fetch per source",
	Hosts: 4,
	Params: func() any {
		// Budgets 0: derived from the settings (boot_budget.go).
		return &BootParams{Scopes: 24, Repos: 12, Offline: 3, Latency: 100 * time.Millisecond, Spec: repogen.DefaultSpec()}
	},
	Run: runBoot,
}

// The boot gate's checks.
var (
	bootFirstAnswer = declare("boot", "first-answer", "time to first answer on /healthcheck", unitSeconds,
		"a cold-started server answers its health check within the all-scopes budget")
	bootFirstHealthy = declare("boot", "first-healthy", "time to first healthy scope served", unitSeconds,
		"boot serves a first scope within the time a correct boot sync of any shape takes (a server that syncs before it listens serves nothing earlier); the budget is derived from the settings")
	bootAllHealthy = declare("boot", "all-healthy", "time to all healthy scopes served", unitSeconds,
		"boot syncs scopes in parallel (not one after another) and a dead host does not hold it up")
	bootOfflineFailed = declare("boot", "offline-failed", "offline scopes reported failed", unitSeconds,
		"scopes on an unreachable host are reported failed (clones time out) instead of hanging boot")
	bootFetchedOnce = declare("boot", "fetched-once", "each distinct source fetched once", unitCount,
		"boot fetches each source shared by several scopes once, not once per scope")
	bootRefreshAfter = declare("boot", "refresh-after-start", "a push and a refresh after the cold start serve the newest commit", unitSeconds,
		"after the cold start the server still does git work: a refresh fetches (its git pool runs, e.g. not one inherited dead across a fork)")
	bootNewScopeAfter = declare("boot", "new-scope-after-start", "a scope put after the cold start clones and serves", unitSeconds,
		"after the cold start a new scope on a new source is cloned (the git pool runs work submitted after the boot sync)")
	bootChecks = []*Check{bootFirstAnswer, bootFirstHealthy, bootAllHealthy, bootOfflineFailed, bootFetchedOnce, bootRefreshAfter, bootNewScopeAfter}
)

// healthAt is when a target first answered /healthcheck.
type healthAt struct {
	ok   bool
	at   time.Duration // since the spawn
	last string        // the last error, when it never answered
}

// firstHealth polls /healthcheck until it answers (refused connections
// are "not yet") and reports when, measured from spawn.
func (s *S) firstHealth(ctx context.Context, spawn time.Time, timeout time.Duration) <-chan healthAt {
	ch := make(chan healthAt, 1)
	go func() {
		out := eventually.Poll(ctx, timeout, 10*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			if _, err := s.Client.Health(ctx); err != nil {
				return false, err.Error(), nil
			}
			return true, "", nil
		})
		ch <- healthAt{ok: out.OK, at: time.Since(spawn), last: out.Describe()}
	}()
	return ch
}

func runBoot(ctx context.Context, s *S, pp any) error {
	p := pp.(*BootParams)
	if !s.Fresh {
		for _, c := range bootChecks {
			s.rec.Skip(c, "boot needs a target the harness starts and restarts (in-process or --target-cmd)")
		}
		return nil
	}
	healthy := s.Testbed.Hosts()[:3]
	dead := s.scopes.Host(3)
	var repos []Repo
	for i := range p.Repos {
		r, err := s.scopes.CreateRepos(ctx, healthy[i%3], i, 1, p.Spec)
		if err != nil {
			return err
		}
		repos = append(repos, r...)
	}
	offRepos, err := s.scopes.CreateRepos(ctx, dead, p.Repos, p.Offline, p.Spec)
	if err != nil {
		return err
	}
	// The repo of the scope put after the cold start (restartwork.go).
	newRepo, err := s.scopes.CreateRepos(ctx, healthy[0], p.Repos+p.Offline, 1, p.Spec)
	if err != nil {
		return err
	}
	cs, ok := s.Target.(target.ColdStarter)
	if !ok {
		for _, c := range bootChecks {
			s.rec.Skip(c, s.Target.Describe()+" cannot be started cold by the harness")
		}
		return nil
	}
	var ids, urls, offIDs []string
	want := map[string]string{}
	for i := range p.Scopes {
		id := s.scopes.ID(i)
		r := repos[i%len(repos)]
		ids, urls = append(ids, id), append(urls, r.URL())
		want[id] = r.Head
	}
	for i, r := range offRepos {
		id := s.scopes.ID(p.Scopes + i)
		offIDs = append(offIDs, id)
		urls = append(urls, r.URL())
	}
	if err := s.scopes.Put(ctx, append(append([]string{}, ids...), offIDs...), urls); err != nil {
		return err
	}

	// Cold start: stop the target (syncs it still runs in the background
	// die with it), remove its clone state, then, while it is down, make
	// one host dead and the others slow and zero the server counters;
	// start it and start the clock at the spawn.
	s.rec.Mark(result.MarkerPhase, "cold start")
	bootStart, err := cs.ColdStart(ctx, func(ctx context.Context) error {
		if dirs, _ := s.CloneDirs(); len(dirs) > 0 {
			return fmt.Errorf("boot: %d clone dirs exist after the target stopped and its clone state was removed (%s)", len(dirs), joinIDs(dirs))
		}
		if _, err := s.faults.Inject(ctx, dead, "", fault("blackhole")); err != nil {
			return err
		}
		for _, h := range healthy {
			if _, err := s.faults.Inject(ctx, h, "", fault(fmt.Sprintf("latency:latency=%s", s.linkLatency(p.Latency)))); err != nil {
				return err
			}
			if err := h.Admin.ResetCounters(ctx); err != nil {
				return fmt.Errorf("reset counters on %s: %w", h.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boot: cold start: %w", err)
	}
	firstB, allB, failedB := bootBudgets(p, s.Settings)
	health := s.firstHealth(ctx, bootStart, max(3*allB.d, 30*time.Second))
	at, out := s.scopes.ServedFrom(ctx, ids, want, max(3*allB.d, 30*time.Second), bootStart, 0)
	s.progressSeries(at, 0)
	if h := <-health; h.ok {
		s.rec.LE(bootFirstAnswer, h.at.Seconds(), allB.d.Seconds(),
			fmt.Sprintf("first answer of /healthcheck %v after the process was spawned (a server that syncs before it listens answers only after its boot sync; budget: the all-scopes budget, %s)", h.at.Round(time.Millisecond), allB.how))
	} else {
		s.rec.True(bootFirstAnswer, false, h.last, "<= "+allB.d.String(), "the restarted target never answered /healthcheck")
	}
	var times []time.Duration
	for _, d := range at {
		times = append(times, d)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) == 0 {
		s.rec.True(bootFirstHealthy, false, out.Describe(), "<= "+firstB.d.String(), "no healthy scope was ever served")
	} else {
		s.rec.LE(bootFirstHealthy, times[0].Seconds(), firstB.d.Seconds(), fmt.Sprintf("first of %d healthy scopes served %v after the process was spawned; budget %s (a server that syncs before it listens serves its first scope only when its boot sync ends)", len(ids), times[0].Round(time.Millisecond), firstB.how))
	}
	if out.OK {
		s.rec.LE(bootAllHealthy, times[len(times)-1].Seconds(), allB.d.Seconds(),
			fmt.Sprintf("since the spawn: %d scopes over %d repos on 3 hosts with %v latency, %d scopes on a blackholed host; git timeout %v, %d workers, sync concurrency %d; budget %s",
				len(ids), len(repos), s.linkLatency(p.Latency), p.Offline, s.Settings.GitTimeout, s.Settings.MaxWorkers, s.Settings.SyncConcurrency, allB.how))
	} else {
		s.rec.True(bootAllHealthy, false, out.Describe(), "<= "+allB.d.String(), "not every healthy scope was served")
	}

	// Offline scopes are reported failed, and the boot finishes.
	failedBudget := failedB.d
	var sawKey bool
	fo := eventually.Poll(ctx, failedBudget+5*time.Second, 25*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		h, err := s.Client.Health(ctx)
		if err != nil {
			return false, "", err
		}
		f, ok := h[target.HealthScopesFailed].(float64)
		sawKey = ok
		if !ok {
			return true, "health has no scopes_failed", nil
		}
		return int(f) >= p.Offline, fmt.Sprintf("scopes_failed=%g of %d offline", f, p.Offline), nil
	})
	switch {
	case !sawKey && fo.OK:
		s.rec.Skip(bootOfflineFailed, "the health endpoint has no scopes_failed key")
	case fo.OK:
		s.rec.LE(bootOfflineFailed, time.Since(bootStart).Seconds(), failedBudget.Seconds(), fo.Observed+" (seconds since the cold start); budget "+failedB.how)
	default:
		s.rec.True(bootOfflineFailed, false, fo.Describe(), fmt.Sprintf("%d failed within %v", p.Offline, failedBudget), "boot never reported the scopes on the dead host as failed")
	}

	// Each distinct source was fetched exactly once. A conversation the
	// client gave up on (a clone that timed out, then retried) is not a
	// second fetch (gitserver.Counters.Fetches).
	worst, worstRepo := 0.0, ""
	for _, r := range repos {
		c, err := r.Host.Admin.Counters(ctx, r.Name)
		if err != nil {
			return fmt.Errorf("counters of %s: %w", r.Name, err)
		}
		if float64(c.Fetches()) > worst {
			worst, worstRepo = float64(c.Fetches()), fmt.Sprintf("%s/%s: %d fetches (%d ref advertisements, %d upload-packs, %d requests abandoned by the client)", r.Host.Name, r.Name, c.Fetches(), c.InfoRefs, c.UploadPacks, c.Abandoned)
		}
	}
	s.rec.LE(bootFetchedOnce, worst, 1,
		orDefault(worstRepo, "")+fmt.Sprintf(" (max over %d repos shared by %d scopes)", len(repos), len(ids)))

	// Work after the cold start: a refresh fetches, a new scope clones.
	refresh, newScope, err := restartWork{refreshID: ids[0], refreshOn: &repos[0], newID: s.scopes.ID(p.Scopes + p.Offline), newRepo: newRepo[0],
		when: "the cold start"}.run(ctx, s)
	if err != nil {
		return err
	}
	s.rec.Add(bootRefreshAfter, refresh)
	s.rec.Add(bootNewScopeAfter, newScope)
	return nil
}

// progressSeries records scopes served over time since the restart.
func (s *S) progressSeries(at map[string]time.Duration, offset time.Duration) {
	ts := make([]time.Duration, 0, len(at))
	for _, d := range at {
		ts = append(ts, d)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	pts := []result.Point{{X: 0, Y: 0}}
	for i, d := range ts {
		pts = append(pts, result.Point{X: (d + offset).Seconds(), Y: float64(i + 1)})
	}
	s.rec.Series(result.Series{Name: "scopes served", Metric: "scopes_served", Unit: "scopes", XUnit: "s", Points: pts})
}

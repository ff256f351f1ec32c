package gates

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// The soak's checks (gitchaos soak; the soak is not a gate of the suite).
var (
	soakFullDuration = declare("soak", "full-duration", "soak ran its full duration", unitCount,
		"the soak ran every planned window (an interrupted soak judged less)")
	soakNoStepError = declare("soak", "no-step-error", "no step error", unitCount,
		"every step and quiet point of the soak ran without an error")
	soakCachesBaseline = declare("soak", "caches-baseline", "caches back to baseline at every quiet point", unitCount,
		"the caches return to their baseline at every quiet point of the soak")
	soakDirsBaseline = declare("soak", "dirs-baseline", "clone dirs back to baseline at every quiet point", unitCount,
		"only the baseline scopes' clone dirs exist at every quiet point of the soak")
	soakBaselineServed = declare("soak", "baseline-served", "baseline scopes served at every quiet point", unitCount,
		"the baseline scopes serve their commit at every quiet point of the soak")
	soakNothingHeld = declare("soak", "nothing-held", "nothing of a deleted scope is still held at any quiet point", unitCount,
		"at every quiet point of the soak no fd, mapping, child cwd or file of a deleted extra scope's clone is held (decided at the first point something is, no statistics)")
	soakContent = declare("soak", "content-matches", "baseline files match their revision at every quiet point", unitCount,
		"the baseline scopes' bundles read at the quiet points are the repo's files at the bundle's hash")
	soakFlat = declarePerMetric("soak", "flat", "%s flat across soak windows", leakMetrics, perUnit("window"),
		"%s do not grow from soak window to soak window")
	soakTotal = declarePerMetric("soak", "total", "%s total growth over the soak", leakMetrics, totalUnit,
		"%s grow less than the total budget over the whole soak, however long").
		sometimes("only for a measured metric with a total budget, by default heap_bytes and rss_bytes, RSS not on an in-process target")
)

// soakScope is a live extra scope.
type soakScope struct {
	id   string
	repo *Repo
	num  int // its scope number (schedule.yaml)
}

// activeFault is a fault on until a step number.
type activeFault struct {
	key   string // "h1" for network faults, "h1/repo" for repo faults
	until int    // recovered before this step runs
	undo  func(context.Context) error
}

// soak is a running soak.
type soak struct {
	*S
	o     SoakOptions
	start time.Time
	plan  *soakPlan

	baseIDs   []string
	baseWant  map[string]string
	baseStats map[string]float64
	baseDirs  int
	pool      [][]*Repo // per host
	extras    []soakScope
	nextID    int
	faults    []activeFault
	restartAt bool // a restart step asked for a restart at the next quiet point
	held      *heldWatch

	// replay, when set, is the schedule this run executes instead of the
	// plan; base is then the settled sample after setup (quiet point 0 of
	// the short leak verdict).
	replay     *Schedule
	base       probe.Sample
	hasBase    bool
	executed   []SchedStep // the executed schedule
	quietAfter []int       // the step each quiet point came after

	series  *cycleSeries
	offset  map[string]float64 // stitching across restarts
	quietMu sync.Mutex         // held while the quiet point samples; the timeline waits

	// report state
	ran, skipped int // planned steps by outcome (errors: stepErrs)
	stepErrs     int
	firstErrs    []string
	cacheWorst   float64
	cacheWhy     string
	statsOK      bool
	statsWhy     string // why the caches are not judged (stats lack them)
	dirsWorst    int
	dirsWhy      string
	unserved     int
	unservedWhy  string
	restarts     int
	restartLog   []string
	sharer       sharerTally // the delete-sharer steps (soak_sharer.go)

	mu       sync.Mutex // guards what the timeline goroutine reads
	steps    int
	windows  int
	last     string
	verdict  result.Verdict
	failing  []string
	timeline map[string][]result.Point
	scopesTL []result.Point
	stepsTL  []result.Point // a replay's executed steps over time
	live     int
}

// RunSoak runs a seeded random mix of steps and faults against one target
// on one testbed for opts.Duration, sampling the target throughout and
// judging the per-window settled values for flatness. Cancelling ctx ends
// it cleanly: faults are recovered, target and testbed closed, and the
// partial run is returned with what was judged so far. The error is for
// bad options only.
func RunSoak(ctx context.Context, opts SoakOptions) (*result.Run, error) {
	opts.soakDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	run := newRun(opts.Options) // Kind "soak": soakDefaults
	res := &result.Scenario{Name: "soak", Seed: opts.Seed, Started: run.Started, Params: map[string]any{
		"duration": opts.Duration.String(), "window": opts.Window.String(), "hosts": opts.Hosts,
		"baseline_scopes": opts.Baseline, "pool_repos_per_host": opts.Pool, "max_extra_scopes": opts.MaxExtra,
		"sample_interval": opts.SampleInterval.String(), "steps_per_window": opts.StepsPerWindow,
	}}
	run.Scenarios = []*result.Scenario{res}
	start := time.Now()
	defer func() {
		res.Duration = result.Secs(time.Since(start))
		run.Duration = res.Duration
	}()
	if opts.Strict {
		defer res.Strict()
	}
	sched := runSoak(ctx, opts, res, start, nil)
	if opts.Executed != nil && sched != nil {
		sched.Failed = failedChecks(res)
		opts.Executed(sched)
	}
	return run, nil
}

// runSoak runs a soak, or with replay set a replay of that schedule, and
// returns the executed schedule (nil when setup failed).
func runSoak(ctx context.Context, opts SoakOptions, res *result.Scenario, start time.Time, replay *Schedule) *Schedule {
	var sched *Schedule
	setupCtx, cancelSetup := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelSetup()
	runOn(ctx, setupCtx, "soak", opts.Hosts, opts.Settings, opts.Options, start, res, func(s *S) error {
		k := &soak{S: s, o: opts, start: start, plan: newSoakPlan(opts.Seed, opts.Hosts, opts.Pool, opts.Window, opts.StepsPerWindow),
			series: newCycleSeries().each("window"), offset: map[string]float64{}, statsOK: true, verdict: result.Skip,
			timeline: map[string][]result.Point{}, replay: replay, held: newHeldWatch()}
		s.scopes.extra = func(cctx context.Context) {
			for _, e := range k.extras {
				if err := s.Client.DeleteScope(cctx, e.id); err != nil && !target.IsStatus(err, http.StatusNotFound) {
					s.Logf("cleanup: delete scope %s: %v", e.id, err)
				}
			}
		}
		if err := k.setup(setupCtx); err != nil {
			if ctx.Err() != nil {
				k.interrupted(time.Since(start))
				return nil
			}
			return fmt.Errorf("setup: %w", err)
		}
		cancelSetup()

		sctx, stopSampling := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.sampleTimeline(sctx)
		}()
		stop := func() { stopSampling(); wg.Wait() }
		defer stop() // on a panic too: the sampler never outlives the target
		if replay != nil {
			k.replayLoop(ctx)
		} else {
			k.loop(ctx)
		}
		stop()
		k.finish(ctx)
		sched = k.schedule()
		return nil
	})
	return sched
}

// setup creates the repos, puts the baseline scopes and records the
// baseline caches.
func (k *soak) setup(ctx context.Context) error {
	spec := repogen.DefaultSpec()
	hosts := k.Testbed.Hosts()
	var base []Repo
	for i := range k.o.Baseline {
		h := hosts[i%len(hosts)]
		rs, err := k.scopes.CreateRepos(ctx, h, i, 1, spec)
		if err != nil {
			return err
		}
		base = append(base, rs...)
	}
	for hi, h := range hosts {
		first := k.o.Baseline + hi*k.o.Pool
		rs, err := k.scopes.CreateRepos(ctx, h, first, k.o.Pool, spec)
		if err != nil {
			return err
		}
		ps := make([]*Repo, len(rs))
		for i := range rs {
			ps[i] = &rs[i]
		}
		k.pool = append(k.pool, ps)
	}
	k.baseWant = map[string]string{}
	var urls []string
	for i, r := range base {
		id := k.scopes.ID(i)
		k.baseIDs = append(k.baseIDs, id)
		urls = append(urls, r.URL())
		k.baseWant[id] = r.Head
	}
	k.nextID = len(base)
	k.scopes.watchContent()
	if err := k.scopes.Put(ctx, k.baseIDs, urls); err != nil {
		return err
	}
	if _, out := k.scopes.Served(ctx, k.baseIDs, k.baseWant, 60*time.Second); !out.OK {
		return fmt.Errorf("baseline scopes never served: %s", out.Describe())
	}
	k.scopes.learnClones(base)
	if err := k.settleInFlight(ctx, 30*time.Second); err != nil {
		return err
	}
	st, ok, err := k.Stats(ctx)
	if err != nil {
		return fmt.Errorf("baseline stats: %w", err)
	}
	k.statsOK = lacksCaches(st, ok) == ""
	k.statsWhy = lacksCaches(st, ok)
	if k.statsOK {
		k.baseStats = map[string]float64{}
		for _, key := range target.CacheKeys {
			k.baseStats[key] = st[key]
		}
	}
	if dirs, known := k.CloneDirs(); known {
		k.baseDirs = len(dirs)
	}
	k.setLive()
	k.rec.Mark(result.MarkerPhase, fmt.Sprintf("baseline: %d scopes served", len(k.baseIDs)))
	if k.replay != nil {
		k.baseSample(ctx)
	}
	return nil
}

// loop runs Duration/Window windows of StepsPerWindow steps each (or
// until ctx ends), with a quiet point at the end of every window. Which
// steps run, and what they resolve to, depends on the seed and the options
// only: no wall-clock time decides anything.
func (k *soak) loop(ctx context.Context) {
	windows := int(k.o.Duration / k.o.Window)
	for w := 0; w < windows; w++ {
		for range k.o.StepsPerWindow {
			if ctx.Err() != nil {
				break
			}
			k.recoverExpired(ctx, k.plan.n)
			st := k.plan.next()
			k.step(ctx, st)
			wait(ctx, st.Pause)
		}
		if ctx.Err() != nil {
			return
		}
		k.quietAfter = append(k.quietAfter, k.plan.n-1)
		k.quietPoint(ctx, w)
		if ctx.Err() != nil {
			return
		}
	}
}

// wait sleeps d or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (k *soak) setLive() {
	k.mu.Lock()
	k.live = len(k.baseIDs) + len(k.extras)
	k.mu.Unlock()
}

// interrupted records that the soak ended early.
func (k *soak) interrupted(after time.Duration) {
	k.rec.Skip(soakFullDuration, fmt.Sprintf("interrupted after %v of %v: judged %d of %d windows",
		after.Round(time.Second), k.o.Duration, len(k.series.values[probe.FDs]), k.planned()))
	k.rec.Mark(result.MarkerPhase, fmt.Sprintf("interrupted after %v", after.Round(time.Second)))
	k.mu.Lock()
	k.res.Params["interrupted_after"] = after.Round(time.Second).String()
	k.mu.Unlock()
}

// finish records the timeline, the per-window verdicts and the checks.
func (k *soak) finish(ctx context.Context) {
	elapsed := time.Since(k.start)
	// Cleanup of the extra scopes and faults happens in runSoak's defer
	// (recoverAll) and here for the scopes.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := k.S.faults.recoverAll(cctx); err != nil {
		k.stepErr(cctx, soakStep{N: -1, Kind: "final recover"}, err)
	}
	for _, e := range k.extras {
		_ = k.Client.DeleteScope(cctx, e.id)
	}
	k.extras = nil

	k.mu.Lock()
	k.res.Params["steps"] = k.steps
	k.res.Params["steps_ran"] = k.ran
	k.res.Params["steps_skipped"] = k.skipped
	k.res.Params["steps_per_window"] = k.o.StepsPerWindow
	k.res.Params["windows_judged"] = k.windows
	k.res.Params["restarts"] = k.restarts
	for _, m := range timelineMetrics {
		if pts := k.timeline[m]; len(pts) > 0 {
			k.res.Series = append(k.res.Series, result.Series{Name: m + " over time", Metric: m, Unit: flat.UnitOf(m), XUnit: "s", Points: pts})
		}
	}
	k.res.Series = append(k.res.Series, result.Series{Name: "scopes over time", Metric: "scopes", Unit: unitCount, XUnit: "s", Points: k.scopesTL})
	if k.replay != nil {
		// The schedule as a timeline: one point per executed step, fault
		// windows shaded behind it as on every time chart.
		k.res.Series = append([]result.Series{{Name: "schedule: steps over time", Metric: "steps", Unit: unitCount, XUnit: "s", Points: k.stepsTL}}, k.res.Series...)
	}
	k.mu.Unlock()
	if len(k.restartLog) > 0 {
		k.Logf("restarts: %s", strings.Join(k.restartLog, "; "))
	}

	if ctx.Err() != nil {
		k.interrupted(elapsed)
	} else {
		planned := k.planned()
		k.rec.GE(soakFullDuration, float64(k.windows), float64(planned),
			fmt.Sprintf("windows reached in %v of %v: %d steps (%d ran, %d skipped, %d errors) in %d windows of %d steps, %d restarts", elapsed.Round(time.Second), k.o.Duration, k.steps, k.ran, k.skipped, k.stepErrs, k.windows, k.o.StepsPerWindow, k.restarts))
	}
	windows := len(k.series.values[probe.FDs])
	k.rec.LE(soakNoStepError, float64(k.stepErrs), 0,
		orDefault(strings.Join(k.firstErrs, "; "), fmt.Sprintf("every one of %d steps and %d quiet points ran without an error", k.steps, windows)))
	if k.statsOK {
		k.rec.LE(soakCachesBaseline, k.cacheWorst, 0,
			orDefault(k.cacheWhy, fmt.Sprintf("repo_locks, repos and repos_last_fetched equalled their baseline (%s) at each of %d quiet points", statsLabel(k.baseStats), windows)))
	} else {
		k.rec.Skip(soakCachesBaseline, k.statsWhy)
	}
	if _, known := k.CloneDirs(); known {
		k.rec.LE(soakDirsBaseline, float64(k.dirsWorst), 0,
			orDefault(k.dirsWhy, fmt.Sprintf("%d baseline clone dirs and no other at each of %d quiet points", k.baseDirs, windows)))
	} else {
		k.rec.Skip(soakDirsBaseline, "target's base dir unknown")
	}
	k.rec.Add(soakNothingHeld, k.held.result())
	k.rec.LE(soakBaselineServed, float64(k.unserved), 0,
		orDefault(k.unservedWhy, fmt.Sprintf("all %d baseline scopes served their commit at each of %d quiet points", len(k.baseIDs), windows)))
	k.judgeSharers()
	k.rec.Add(soakContent, k.scopes.contentCheck(cctx))
	k.judgeWindows()
	k.judgeTotal()
}

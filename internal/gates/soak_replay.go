// Replaying a schedule: the soak's steps, quiet points and checks, with
// the steps read from a schedule instead of drawn from the plan, and a
// leak verdict a short schedule can support.

package gates

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// ReplayOptions configure RunReplay: the run's options (target, testbed,
// logger) and the schedule. Zero Settings take the schedule's; Seed and
// Scopes are the schedule's (its scope and repo names derive from them).
type ReplayOptions struct {
	Options
	Schedule *Schedule
	// Progress, if set, is called after each timeline sample.
	Progress func(SoakStatus)
	// Executed, if set, is called with the schedule as executed: the
	// same steps, each with its outcome in this run.
	Executed func(*Schedule)
	// PauseScale stretches every pause (0: 1): a reproducer whose
	// failure needs the target to finish some work within a pause (a
	// clone before a delete) needs slack on a slower machine or under
	// the race detector.
	PauseScale float64
}

// RunReplay runs one schedule against a fresh testbed and target and
// judges it as a soak is judged (scenario "soak", the same check IDs):
// every listed step in order, a fault recovered before step N+life, a
// quiet point after each QuietAfter step. A schedule of fewer windows
// than a flatness verdict needs gets the short leak verdict (judgeShort).
// The error is for bad options or an invalid schedule only.
func RunReplay(ctx context.Context, o ReplayOptions) (*result.Run, error) {
	if o.Schedule == nil {
		return nil, errors.New("replay: no schedule")
	}
	sc := o.Schedule
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("replay: invalid schedule: %w", err)
	}
	so := SoakOptions{Options: o.Options, Progress: o.Progress}
	so.Seed = sc.Seed
	so.Scopes = 0
	if so.Settings == (target.Settings{}) {
		so.Settings = sc.settings()
	}
	window := max(time.Duration(sc.Window), time.Second)
	so.SoakParams = SoakParams{
		Duration: window * time.Duration(len(sc.QuietAfter)), Window: window, StepsPerWindow: max(sc.StepsPerWindow, 1),
		Hosts: sc.Hosts, Baseline: sc.Baseline, Pool: sc.Pool, MaxExtra: sc.MaxExtra, SampleInterval: time.Duration(sc.SampleInterval),
	}
	so.soakDefaults()
	so.Kind = "replay"
	if err := so.validate(); err != nil {
		return nil, err
	}
	run := newRun(so.Options)
	res := &result.Scenario{Name: "soak", Seed: so.Seed, Started: run.Started, Params: map[string]any{
		"replay_steps": sc.Len(), "quiet_points": len(sc.QuietAfter), "hosts": sc.Hosts,
		"baseline_scopes": sc.Baseline, "pool_repos_per_host": sc.Pool, "sample_interval": so.SampleInterval.String(),
		"schedule_source": sc.Source,
	}}
	run.Scenarios = []*result.Scenario{res}
	start := time.Now()
	defer func() {
		res.Duration = result.Secs(time.Since(start))
		run.Duration = res.Duration
	}()
	if so.Strict {
		defer res.Strict()
	}
	if o.PauseScale > 0 && o.PauseScale != 1 {
		sc = sc.Clone()
		for i := range sc.Steps {
			sc.Steps[i].Pause = Dur(float64(sc.Steps[i].Pause) * o.PauseScale).round()
		}
		res.Params["pause_scale"] = o.PauseScale
	}
	ex := runSoak(ctx, so, res, start, sc)
	if o.Executed != nil && ex != nil {
		ex.Failed = failedChecks(res)
		ex.Source = sc.Source
		o.Executed(ex)
	}
	return run, nil
}

// replayLoop runs the schedule's steps and quiet points.
func (k *soak) replayLoop(ctx context.Context) {
	for w, steps := range k.replay.windows() {
		for _, st := range steps {
			if ctx.Err() != nil {
				return
			}
			k.recoverExpired(ctx, st.N)
			k.replayStep(ctx, st)
			wait(ctx, time.Duration(st.Pause))
		}
		if ctx.Err() != nil {
			return
		}
		k.quietAfter = append(k.quietAfter, k.replay.QuietAfter[w])
		k.quietPoint(ctx, w)
		if ctx.Err() != nil {
			return
		}
	}
}

// replayStep runs one listed step (a step the schedule lists as skipped
// is skipped again) and records it as a step marker.
func (k *soak) replayStep(ctx context.Context, st SchedStep) {
	k.mu.Lock()
	k.steps++
	k.last = st.String()
	k.stepsTL = append(k.stepsTL, result.Point{X: time.Since(k.start).Seconds(), Y: float64(k.steps)})
	k.mu.Unlock()
	skip := st.Skipped
	var err error
	if skip == "" {
		skip, err = k.exec(ctx, st)
	}
	rs := st
	rs.Skipped = skip
	rs.Outcome = k.outcome(ctx, st, skip, err)
	k.executed = append(k.executed, rs)
	k.rec.Mark(result.MarkerStep, st.String()+" → "+rs.Outcome)
}

// baseSample takes the settled sample after setup: quiet point 0 of the
// short leak verdict.
func (k *soak) baseSample(ctx context.Context) {
	k.closeIdle()
	k.quietMu.Lock()
	smp, err := k.settledSample(ctx)
	k.quietMu.Unlock()
	if err != nil {
		k.Logger.Warn("replay: no settled sample after setup: short leak verdicts skipped", "err", err)
		return
	}
	k.base, k.hasBase = smp, true
}

// planned is the number of windows the run plans.
func (k *soak) planned() int {
	if k.replay != nil {
		return len(k.replay.QuietAfter)
	}
	return int(k.o.Duration / k.o.Window)
}

// shortMetric reports whether metric m gets the short leak verdict: a
// count that a settled sample reads exactly (fds, goroutines, threads,
// processes, disk bytes), not heap or RSS, whose noise needs a trend.
func shortMetric(m string) bool { return m != probe.Heap && m != probe.RSS }

// judgeShort judges metric m of a replay with fewer windows than its
// trend needs, against the settled sample after setup: the floor of the
// quiet points' settled values minus the baseline's, per window, must
// not exceed the per-window budget. A leak that every window adds
// fails it from one window on; a value that comes back to the baseline
// at one quiet point passes. It reports false (not judged) for heap and
// RSS or without a baseline sample.
func (k *soak) judgeShort(m string) bool {
	if !k.hasBase || !shortMetric(m) {
		return false
	}
	b0, ok := k.base.Get(m)
	vals := k.series.values[m]
	if !ok || len(vals) == 0 {
		return false
	}
	budget := flat.Budgets[m]
	if b, ok := k.o.Budgets[m]; ok {
		budget = b
	}
	floor := slices.Min(vals)
	per := (floor - b0) / float64(len(vals))
	chk := soakFlat.of(m)
	ser := k.series.series(m)
	ser.Points = append([]result.Point{{X: 0, Y: b0}}, shiftX(ser.Points, 1)...)
	ser.Name = m + " per quiet point"
	v := result.Pass
	if per > budget {
		v = result.Fail
	}
	k.rec.Add(chk, result.Check{
		Measured: signed(flatFmt(m, per), per) + "/window", Budget: fmt.Sprintf("<= %s", result.FormatValue(budget, chk.Unit)),
		Value: per, Limit: budget, Unit: chk.Unit, Verdict: v, Series: ser.Name,
		Explanation: fmt.Sprintf("short replay: %d quiet points, fewer than the %d windows a trend needs; settled %s after setup %s, at the quiet points %s: floor %+g over %d windows",
			len(vals), k.need(m), m, flatFmt(m, b0), fmtVals(m, vals), floor-b0, len(vals)),
	})
	k.rec.Series(ser)
	return true
}

// signed prefixes a non-negative value's text with "+".
func signed(text string, v float64) string {
	if v >= 0 {
		return "+" + text
	}
	return text
}

func shiftX(pts []result.Point, by float64) []result.Point {
	out := make([]result.Point, len(pts))
	for i, p := range pts {
		out[i] = result.Point{X: p.X + by, Y: p.Y}
	}
	return out
}

func fmtVals(m string, vals []float64) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = flatFmt(m, v)
	}
	return fmt.Sprint(out)
}

// schedule is the executed schedule of this run.
func (k *soak) schedule() *Schedule {
	o := k.o
	sc := &Schedule{
		Format: ScheduleFormat, Gitchaos: orDefault(versions()["gitchaos"], "(devel)"),
		Source: fmt.Sprintf("soak seed %d", o.Seed), Target: scheduleTarget(o.Targets),
		Settings: ScheduleSettings{GitTimeout: Dur(o.Settings.GitTimeout), MaxWorkers: o.Settings.MaxWorkers,
			SyncConcurrency: o.Settings.SyncConcurrency, Shards: o.Settings.Shards},
		Testbed: o.TestbedKind, Engine: string(o.ServerEngine()), Transport: o.Transport, Seed: o.Seed, Hosts: o.Hosts,
		Baseline: o.Baseline, Pool: o.Pool, MaxExtra: o.MaxExtra, Window: Dur(o.Window),
		StepsPerWindow: o.StepsPerWindow, SampleInterval: Dur(o.SampleInterval),
		Steps: slices.Clone(k.executed), QuietAfter: slices.Clone(k.quietAfter),
	}
	if k.replay != nil {
		sc.Source = k.replay.Source
	}
	if n := len(sc.Steps); n > 0 && (len(sc.QuietAfter) == 0 || sc.Steps[n-1].N > sc.QuietAfter[len(sc.QuietAfter)-1]) {
		// Interrupted mid-window: the end of the run recovered and deleted
		// everything, as a quiet point does.
		sc.QuietAfter = append(sc.QuietAfter, sc.Steps[n-1].N)
	}
	if len(sc.QuietAfter) == 0 {
		sc.QuietAfter = []int{0}
	}
	sc.deriveFaults()
	return sc
}

// scheduleTarget describes the target factory for a schedule.
func scheduleTarget(f target.Factory) ScheduleTarget {
	t := ScheduleTarget{Kind: "in-process", Describe: f.Describe(), Mutants: mutantsOf(f)}
	switch x := f.(type) {
	case *target.Exec:
		t.Kind, t.Cmd, t.Env, t.Mutants = "cmd", x.Template, x.Env, nil
	case *target.URL:
		t.Kind, t.URL, t.Mutants = "url", x.BaseURL, nil
	}
	return t
}

// failedChecks are the failed (or errored) checks of res.
func failedChecks(res *result.Scenario) []SchedCheck {
	var out []SchedCheck
	for _, c := range res.Checks {
		if c.Verdict == result.Fail || c.Verdict == result.Error {
			out = append(out, SchedCheck{ID: c.ID, Measured: c.Measured, Budget: c.Budget, Value: c.Value, Explanation: c.Explanation})
		}
	}
	return out
}

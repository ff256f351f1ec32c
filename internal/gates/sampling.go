package gates

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/metric"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/race"
)

// leakMetrics are judged per cycle in the leak gates. fds, RSS, threads
// and processes of a process target are summed over its process tree
// (master, workers, git children); processes counts the tree but its
// root, zombies included.
var leakMetrics = metric.Leak()

// cycleSeries collects one settled value per metric per cycle.
type cycleSeries struct {
	per         string   // what one value is: "cycle" (default), "round", "window"
	metrics     []string // judged metrics (default leakMetrics)
	values      map[string][]float64
	unavailable map[string]string
	lastAdd     time.Time     // when the last value (or the series) was added
	longest     time.Duration // the longest time between two adds: a cycle's cost
}

func newCycleSeries(metrics ...string) *cycleSeries {
	if len(metrics) == 0 {
		metrics = leakMetrics
	}
	return &cycleSeries{per: "cycle", metrics: metrics, values: map[string][]float64{}, unavailable: map[string]string{}, lastAdd: time.Now()}
}

// settleMetrics are the counts a settled sample waits on.
var settleMetrics = metric.Settling()

// settledSample closes idle connections and samples the target until
// every count its probe measures (fds, goroutines, threads, processes)
// read the same 3 times in a row, or 2 s pass; it returns the last
// sample. One loop over whole samples: each read costs a stats request,
// a process-tree scan and a dir walk.
func (s *S) settledSample(ctx context.Context) (probe.Sample, error) {
	src := s.Target.Probe()
	if src == nil {
		return probe.Sample{}, fmt.Errorf("target %s has no probe", s.Target.Describe())
	}
	var last probe.Sample
	var lastErr error
	have, run := false, 0
	eventually.Poll(ctx, 2*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		s.Client.CloseIdleConnections()
		smp, err := src.Sample(ctx)
		if err != nil {
			lastErr = err
			return false, "", err
		}
		if have && sameCounts(last, smp) {
			run++
		} else {
			run = 1
		}
		last, have, lastErr = smp, true, nil
		return run >= 3, fmt.Sprintf("%d equal reads", run), nil
	})
	if !have {
		return probe.Sample{}, lastErr
	}
	return last, nil
}

// sameCounts reports whether a and b agree on every settle metric (a
// metric neither measures agrees).
func sameCounts(a, b probe.Sample) bool {
	for _, m := range settleMetrics {
		va, oka := a.Get(m)
		vb, okb := b.Get(m)
		if oka != okb || va != vb {
			return false
		}
	}
	return true
}

// add records a settled sample as one cycle.
func (c *cycleSeries) add(smp probe.Sample) {
	now := time.Now()
	c.longest = max(c.longest, now.Sub(c.lastAdd))
	c.lastAdd = now
	for _, m := range c.metrics {
		if v, ok := smp.Get(m); ok {
			c.values[m] = append(c.values[m], v)
		} else if why, ok := smp.Unavailable[m]; ok {
			c.unavailable[m] = why
		} else {
			c.unavailable[m] = "not measured by this target's probe"
		}
	}
}

// leakJudge says how a leak gate's per-cycle series are judged and how
// long the gate runs: at least min cycles, then on until every waited-for
// verdict is decisive (flat or leak) or max cycles ran.
type leakJudge struct {
	checks       perMetric          // the gate's flatness checks, one per metric ("fds flat across churn cycles")
	budgets      map[string]float64 // per cycle; win over scopeBudgets
	scopeBudgets map[string]float64 // per deleted scope (with scopes > 0)
	scopes       int                // scopes deleted per cycle (0: none)
	min, max     int                // cycles
	// soak: the soak's windows, whose count is the user's duration: the
	// old per-window rule (fixed warm-up; fail only on a lower bound above
	// the budget; an undecided interval passes, the text says UNDECIDED).
	soak bool
}

// DefaultMaxCycles is the cap of an adaptive leak gate (churn,
// repeat-sync) whose params leave it 0.
const DefaultMaxCycles = 60

// inProcessRSSScopeBudget is the RSS budget per deleted scope of an
// in-process target: its RSS is the whole harness process (testbed git
// servers and toxiproxy included), so it keeps the old 512 KiB/cycle at 8
// scopes; heap after GC, exact, is its memory signal.
const inProcessRSSScopeBudget = 64 << 10

// capCycles resolves a params' cycle cap: 0 means DefaultMaxCycles, and
// the cap is never below the minimum.
func capCycles(minCycles, maxCycles int) int {
	if maxCycles == 0 {
		maxCycles = DefaultMaxCycles
	}
	return max(minCycles, maxCycles)
}

// waited reports whether the adaptive length waits for m's verdict: not
// for RSS of an in-process target (the harness's own process; heap is
// judged exactly), not for a metric without values.
func (s *S) waited(c *cycleSeries, m string) bool {
	return len(c.values[m]) > 0 && !(m == probe.RSS && s.Target.InProcess())
}

// pending lists the waited-for metrics whose verdict over the cycles so
// far is not decisive (too few values, or an interval across the budget).
func (s *S) pending(c *cycleSeries, j leakJudge) []string {
	var out []string
	for _, m := range c.metrics {
		if !s.waited(c, m) || (m == probe.RSS && race.Enabled && s.Target.InProcess()) {
			continue
		}
		tr, err := flat.Trend(c.values[m], s.trendOptions(c, m, j))
		if err != nil || tr.Outcome == flat.Undecided {
			out = append(out, m)
		}
	}
	return out
}

// done reports whether a leak gate stops after n cycles, and the stop
// text every leak check then carries (how many cycles, why it stopped).
// Past the minimum it also stops, with the undecided verdicts skipped,
// when ctx's deadline (the scenario timeout) leaves less than two of the
// longest cycles so far: an ended run with its verdicts, not an error
// from a cycle cut off in the middle.
func (s *S) done(ctx context.Context, c *cycleSeries, j leakJudge, n int) (bool, string) {
	if n < j.min {
		return false, ""
	}
	per := c.per + "s"
	if n >= j.max && j.max == j.min {
		return true, fmt.Sprintf("fixed length: %d %s", n, per)
	}
	p := s.pending(c, j)
	switch {
	case n >= j.max && len(p) > 0:
		return true, fmt.Sprintf("stopped at the cap of %d %s with %s undecided", n, per, strings.Join(p, ", "))
	case n >= j.max:
		return true, fmt.Sprintf("decided after %d %s (the cap)", n, per)
	case len(p) == 0:
		return true, fmt.Sprintf("decided after %d %s (min %d, cap %d): every verdict waited for is decisive", n, per, j.min, j.max)
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < 2*c.longest {
			return true, fmt.Sprintf("stopped after %d %s with %s undecided: %v left of the scenario timeout, and a %s took up to %v (--scenario-timeout)", n, per, strings.Join(p, ", "), left.Round(time.Second), c.per, c.longest.Round(100*time.Millisecond))
		}
	}
	return false, ""
}

// judge turns each metric's per-cycle series into a flatness check and a
// series with its fit for the report. A leak fails; an interval wholly
// at or below the budget passes; one across the budget is "undecided":
// a skipped check (failed under --strict) when the gate stopped at its
// cap, a pass when its metric was not waited for (RSS of an in-process
// target). stop ends every explanation.
func (s *S) judge(c *cycleSeries, j leakJudge, stop string) {
	for _, m := range c.metrics {
		chk := j.checks.of(m)
		vals := c.values[m]
		if m == probe.RSS && race.Enabled && s.Target.InProcess() {
			s.rec.Skip(chk, "RSS of an in-process target is not judged under the race detector: its shadow memory grows with every allocation and is never returned (heap is judged)")
			continue
		}
		if len(vals) == 0 {
			s.rec.Skip(chk, fmt.Sprintf("%s unavailable on %s: %s", m, s.Target.Describe(), c.unavailable[m]))
			continue
		}
		series := c.series(m)
		tr, err := flat.Trend(vals, s.trendOptions(c, m, j))
		if err != nil {
			s.rec.Add(chk, result.Check{Verdict: result.Error, Explanation: err.Error(), Series: series.Name})
			s.rec.Series(series)
			continue
		}
		tr.Stop = stop
		if tr.Outcome == flat.Undecided && !s.waited(c, m) {
			tr.Stop += "; not waited for: RSS of an in-process target is the harness's own process (heap is judged)"
		}
		rc := tr.Check("")
		rc.Budget = "CI <= " + strings.TrimPrefix(rc.Budget, "lower bound <= ")
		if tr.Outcome == flat.Undecided && s.waited(c, m) && !j.soak {
			rc.Verdict = result.Skip
		}
		rc.Series = series.Name
		s.rec.Add(chk, rc)
		series.Fit = tr.Fit()
		s.rec.Series(series)
	}
}

// each names what one value of the series is ("round", "window") in
// check texts and series names.
func (c *cycleSeries) each(per string) *cycleSeries {
	c.per = per
	return c
}

// trendOptions are the flatness options of metric m over this series:
// the change-point warm-up (flat.AutoWarmup), a per-cycle budget from
// j.budgets if set, else a budget per deleted scope (j.scopeBudgets,
// then flat.ScopeBudgets with flat.ScopeBudgetFloors) when scopes are
// deleted per cycle, else flat's per-cycle default.
func (s *S) trendOptions(c *cycleSeries, m string, j leakJudge) flat.TrendOptions {
	o := flat.TrendOptions{Metric: m, Per: c.per, Warmup: flat.AutoWarmup}
	if j.soak {
		o.Warmup = 0
	}
	if b, ok := j.budgets[m]; ok {
		o.Budget = flat.PerCycle(b)
		return o
	}
	if j.scopes > 0 {
		b, ok := j.scopeBudgets[m]
		floor := 0.0 // a user's own budget per scope is taken as given
		if !ok {
			b, ok = flat.ScopeBudgets[m]
			floor = flat.ScopeBudgetFloors[m]
			if m == probe.RSS && s.Target.InProcess() {
				b = inProcessRSSScopeBudget
			}
		}
		if ok {
			o.Scopes, o.ScopeBudget, o.BudgetFloor = j.scopes, &b, floor
		}
	}
	return o
}

// series is metric m's values as a report series, one point per cycle
// (x unit "cycle" whatever a cycle is called: reports draw them alike).
func (c *cycleSeries) series(m string) result.Series {
	s := probe.CycleSeries(m, c.values[m])
	s.Name, s.Unit, s.Per = m+" per "+c.per, flat.UnitOf(m), c.per
	return s
}

package scenarios

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
)

// leakMetrics are judged per cycle in the leak gates.
var leakMetrics = []string{probe.FDs, probe.Goroutines, probe.Heap, probe.RSS, probe.Disk}

// cycleSeries collects one settled value per metric per cycle.
type cycleSeries struct {
	per         string   // what one value is: "cycle" (default), "round", "window"
	metrics     []string // judged metrics (default leakMetrics)
	values      map[string][]float64
	unavailable map[string]string
}

func newCycleSeries(metrics ...string) *cycleSeries {
	if len(metrics) == 0 {
		metrics = leakMetrics
	}
	return &cycleSeries{per: "cycle", metrics: metrics, values: map[string][]float64{}, unavailable: map[string]string{}}
}

// settledSample closes idle connections, waits until fds and goroutines
// are stable, and returns one sample of the target.
func (s *S) settledSample(ctx context.Context) (probe.Sample, error) {
	src := s.T.Probe()
	if src == nil {
		return probe.Sample{}, fmt.Errorf("target %s has no probe", s.T.Describe())
	}
	before := []func(context.Context){func(context.Context) { s.C.CloseIdleConnections() }}
	for _, m := range []string{probe.FDs, probe.Goroutines} {
		read := func(ctx context.Context) (float64, error) {
			smp, err := src.Sample(ctx)
			if err != nil {
				return 0, err
			}
			v, ok := smp.Get(m)
			if !ok {
				return 0, errUnavailable
			}
			return v, nil
		}
		// Budget +Inf: this loop only waits for the count to stop moving.
		_, _ = flat.Settle(ctx, read, flat.SettleOptions{Metric: m, Budget: math.Inf(1), Stable: 3, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Before: before})
	}
	return src.Sample(ctx)
}

var errUnavailable = fmt.Errorf("metric unavailable")

// add records a settled sample as one cycle.
func (c *cycleSeries) add(smp probe.Sample) {
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

// judge turns each metric's per-cycle series into a flatness check and a
// series with its fit for the report; budgets override flat's defaults.
func (s *S) judge(c *cycleSeries, what string, budgets map[string]float64) {
	for _, m := range c.metrics {
		name := fmt.Sprintf("%s flat across %s", m, what)
		vals := c.values[m]
		if m == probe.RSS && raceEnabled && s.T.InProcess() {
			s.Skip(name, "RSS of an in-process target is not judged under the race detector: its shadow memory grows with every allocation and is never returned (heap is judged)")
			continue
		}
		if len(vals) == 0 {
			s.Skip(name, fmt.Sprintf("%s unavailable on %s: %s", m, s.T.Describe(), c.unavailable[m]))
			continue
		}
		series := c.series(m)
		tr, err := flat.Trend(vals, c.trendOptions(m, budgets))
		if err != nil {
			s.AddCheck(result.Check{Name: name, Verdict: result.Error, Explanation: err.Error(), Series: series.Name})
			s.AddSeries(series)
			continue
		}
		chk := tr.Check(name)
		chk.Series = series.Name
		s.AddCheck(chk)
		series.Fit = tr.Fit()
		s.AddSeries(series)
	}
}

// each names what one value of the series is ("round", "window") in
// check texts and series names.
func (c *cycleSeries) each(per string) *cycleSeries {
	c.per = per
	return c
}

// trendOptions are the flatness options of metric m over this series;
// budgets (per cycle) override flat's defaults.
func (c *cycleSeries) trendOptions(m string, budgets map[string]float64) flat.TrendOptions {
	o := flat.TrendOptions{Metric: m, Per: c.per}
	if b, ok := budgets[m]; ok {
		o.Budget = flat.PerCycle(b)
	}
	return o
}

// series is metric m's values as a report series, one point per cycle
// (x unit "cycle" whatever a cycle is called: reports draw them alike).
func (c *cycleSeries) series(m string) result.Series {
	s := probe.CycleSeries(m, c.values[m])
	s.Name, s.Unit = m+" per "+c.per, flat.UnitOf(m)
	return s
}

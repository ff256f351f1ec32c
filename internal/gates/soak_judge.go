// The soak's verdicts: per-window trends, total growth over the run, and
// the provisional verdicts printed while it runs.

package gates

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// soakTotalFloor is how many windows at each end of the soak the total
// growth takes the minimum of (a cache freed every few windows reads as
// its floor, as in the per-window verdict).
const soakTotalFloor = 3

// judgeTotal judges each metric's growth over the whole soak against
// TotalBudgets: min of the last soakTotalFloor windows minus min of the
// first ones. RSS of an in-process target is left out (the harness's own
// process; heap is judged).
func (k *soak) judgeTotal() {
	budgets := k.o.TotalBudgets
	if budgets == nil {
		budgets = DefaultSoakTotalBudgets
	}
	for _, m := range k.series.metrics {
		b, ok := budgets[m]
		vals := k.series.values[m]
		if !ok || len(vals) == 0 || (m == probe.RSS && k.Target.InProcess()) {
			continue
		}
		chk := soakTotal.of(m)
		if len(vals) < 2 {
			k.rec.Skip(chk, fmt.Sprintf("%d window judged, need 2", len(vals)))
			continue
		}
		w := min(soakTotalFloor, len(vals)/2)
		first, last := slices.Min(vals[:w]), slices.Min(vals[len(vals)-w:])
		k.rec.LE(chk, last-first, b, fmt.Sprintf("floor of the last %d windows minus floor of the first %d, over %d windows: %s -> %s",
			w, w, len(vals), flatFmt(m, first), flatFmt(m, last)))
	}
}

// timelineMetrics are sampled throughout the soak.
var timelineMetrics = []string{probe.FDs, probe.RSS, probe.Goroutines, probe.Heap}

func flatFmt(metric string, v float64) string {
	if flat.UnitOf(metric) == "bytes" {
		return result.FormatValue(v, unitBytes)
	}
	return result.FormatValue(v, unitCount)
}

// trendOptions are the flatness options of a metric over soak windows.
func (k *soak) trendOptions(m string) flat.TrendOptions {
	return k.S.trendOptions(k.series, m, leakJudge{budgets: k.o.Budgets, soak: true})
}

// need is the number of windows flat.Trend needs for a metric.
func (k *soak) need(m string) int { return k.trendOptions(m).Needed() }

// provisional judges the windows so far, for the progress line.
func (k *soak) provisional() {
	var failing []string
	v := result.Skip
	for _, m := range k.series.metrics {
		vals := k.series.values[m]
		if len(vals) < k.need(m) {
			continue
		}
		tr, err := flat.Trend(vals, k.trendOptions(m))
		if err != nil {
			continue
		}
		if v == result.Skip {
			v = result.Pass
		}
		if tr.Leak {
			v = result.Fail
			slope := fmt.Sprintf("%+.3g", tr.Slope)
			if flat.UnitOf(m) == "bytes" {
				slope = "+" + result.FormatValue(tr.Slope, unitBytes)
			}
			failing = append(failing, fmt.Sprintf("%s %s/window", m, slope))
		}
	}
	if k.stepErrs > 0 || k.unserved > 0 || k.cacheWorst > 0 || k.dirsWorst > 0 {
		v = result.Fail
		if k.stepErrs > 0 {
			failing = append(failing, fmt.Sprintf("%d step errors", k.stepErrs))
		}
		if k.unserved > 0 {
			failing = append(failing, fmt.Sprintf("baseline unserved at %d quiet points", k.unserved))
		}
		if k.cacheWorst > 0 {
			failing = append(failing, "caches not drained")
		}
		if k.dirsWorst > 0 {
			failing = append(failing, "clone dirs left")
		}
	}
	k.mu.Lock()
	k.verdict, k.failing = v, failing
	k.mu.Unlock()
}

func statsLabel(m map[string]float64) string {
	var parts []string
	for _, key := range target.CacheKeys {
		parts = append(parts, fmt.Sprintf("%s=%g", key, m[key]))
	}
	return strings.Join(parts, " ")
}

// judgeWindows judges each metric's per-window series with flat.Trend;
// a metric with too few windows (a short or interrupted soak) is skipped
// with the count.
func (k *soak) judgeWindows() {
	enough := newCycleSeries(k.series.metrics...).each("window")
	enough.unavailable = k.series.unavailable
	for _, m := range k.series.metrics {
		vals := k.series.values[m]
		if len(vals) > 0 && len(vals) < k.need(m) && k.replay != nil && k.judgeShort(m) {
			continue
		}
		if len(vals) > 0 && len(vals) < k.need(m) {
			k.rec.Skip(soakFlat.of(m), fmt.Sprintf("%d windows judged, %s needs %d (warm-up %d, floor %d, min %d): run longer or use a shorter --window",
				len(vals), m, k.need(m), flat.DefaultWarmup, flat.Floors[m], flat.DefaultMinCycles))
			k.rec.Series(k.series.series(m))
			continue
		}
		enough.values[m] = vals
	}
	var ms []string
	for _, m := range enough.metrics {
		if _, has := enough.values[m]; has || len(k.series.values[m]) == 0 {
			ms = append(ms, m)
		}
	}
	enough.metrics = ms
	k.judge(enough, leakJudge{checks: soakFlat, budgets: k.o.Budgets, soak: true}, "")
}

package flat_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/flat"
)

// warmupSeries is RSS that grows fast and flattens (an allocator's arenas
// filling: about +400 KiB/cycle at first, halving every 3 cycles) with
// noise, plus leak bytes per cycle.
func warmupSeries(n int, leak float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	return series(n, func(i int) float64 {
		warm := 1700 * kib * (1 - math.Pow(0.5, float64(i)/3))
		return 27*mib + warm + leak*float64(i) + rng.NormFloat64()*8*kib
	})
}

func TestChangePointFindsWarmupNotLeak(t *testing.T) {
	// A warm-up that flattens: a break, and the segment after is flat.
	for seed := range uint64(10) {
		s := warmupSeries(24, 0, seed)
		r := trend(t, s, flat.TrendOptions{Metric: "rss_bytes", Warmup: flat.AutoWarmup, Budget: flat.PerCycle(128 * kib)})
		if r.Break < 0 || r.Outcome != flat.Flat {
			t.Errorf("seed %d: warm-up judged %s (break %d): %s", seed, r.Outcome, r.Break, r)
		}
		if !strings.Contains(r.String(), "warm-up ended at cycle") {
			t.Errorf("seed %d: text does not say where the warm-up ended: %s", seed, r)
		}
		// The fixed 3-cycle warm-up calls the same series a leak or
		// cannot decide: what the change point is for.
		if f := trend(t, s[:12], flat.TrendOptions{Metric: "rss_bytes", Budget: flat.PerCycle(128 * kib)}); f.Outcome == flat.Flat {
			t.Errorf("seed %d: the fixed warm-up decided flat at 12 cycles too: the series shows no warm-up: %s", seed, f)
		}
	}
	// A steady leak under the same warm-up keeps its slope: leak.
	for seed := range uint64(10) {
		s := warmupSeries(24, 512*kib, seed)
		r := trend(t, s, flat.TrendOptions{Metric: "rss_bytes", Warmup: flat.AutoWarmup, Budget: flat.PerCycle(256 * kib)})
		if r.Outcome != flat.Leaking || !r.Leak {
			t.Errorf("seed %d: leak of 512 KiB/cycle judged %s: %s", seed, r.Outcome, r)
		}
	}
}

func TestChangePointShapes(t *testing.T) {
	// A one-off step in an exact count: breaks at the step, flat after.
	step := series(16, func(i int) float64 {
		if i < 6 {
			return 10
		}
		return 11
	})
	if cp := flat.ChangePoint(step, 5); cp.Break != 6 {
		t.Errorf("step at 6: break %d", cp.Break)
	}
	r := trend(t, step, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup})
	if r.Outcome != flat.Flat || r.Break != 6 {
		t.Errorf("step: %s", r)
	}
	// A warm-up, then a one-off step (the in-process fetcher's threads,
	// recorded by the gate): cut twice, flat after the step; one break
	// alone leaves the step in the judged segment: undecided at a budget of
	// 0 (the default quarter thread per cycle lets the step through).
	threads := []float64{8, 9, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11}
	if r := trend(t, threads, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup}); r.Outcome != flat.Flat || r.Break != 6 {
		t.Errorf("warm-up then step: %s", r)
	}
	if r := trend(t, threads, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup, MaxBreaks: 1, Budget: flat.PerCycle(0)}); r.Outcome != flat.Undecided {
		t.Errorf("warm-up then step, one break: %s", r)
	}
	// A straight leak: no break.
	lin := series(16, func(i int) float64 { return 8 + 8*float64(i) })
	if cp := flat.ChangePoint(lin, 5); cp.Break != 0 {
		t.Errorf("linear: break %d", cp.Break)
	}
	// A leak that starts mid-run is steeper after: no warm-up cut.
	late := series(16, func(i int) float64 { return float64(max(0, i-8)) })
	if cp := flat.ChangePoint(late, 5); cp.Break != 0 {
		t.Errorf("late leak: break %d (%+v)", cp.Break, cp)
	}
	if r := trend(t, late, flat.TrendOptions{Metric: "fds", Warmup: flat.AutoWarmup}); r.Outcome != flat.Leaking {
		t.Errorf("late leak judged %s: %s", r.Outcome, r)
	}
	// Constant: nothing to cut, flat.
	if r := trend(t, series(12, func(int) float64 { return 7 }), flat.TrendOptions{Metric: "fds", Warmup: flat.AutoWarmup}); r.Outcome != flat.Flat || r.Break != -1 {
		t.Errorf("constant: %s", r)
	}
	// Too short to search.
	if cp := flat.ChangePoint([]float64{1, 2, 3, 4, 5}, 5); cp.Break != 0 {
		t.Errorf("short: %+v", cp)
	}
}

func TestOutcomeThreeWayAndPerScope(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := series(12, func(i int) float64 { return 27*mib + 100*kib*float64(i) + rng.NormFloat64()*400*kib })
	r := trend(t, noisy, flat.TrendOptions{Metric: "rss_bytes", Budget: flat.PerCycle(128 * kib), Floor: flat.NoFloor})
	if r.Outcome != flat.Undecided || r.Leak || !strings.HasPrefix(r.String(), "UNDECIDED") {
		t.Errorf("noisy series near the budget: %s", r)
	}
	b := 32.0 * kib
	s := series(12, func(i int) float64 { return 27*mib + 64*kib*8*float64(i) })
	r = trend(t, s, flat.TrendOptions{Metric: "rss_bytes", Scopes: 8, ScopeBudget: &b})
	if r.Budget != 256*kib || r.Outcome != flat.Leaking {
		t.Errorf("per scope: budget %v, %s", r.Budget, r)
	}
	if want := "+64.0 KiB per deleted scope) > budget 256 KiB/cycle (32 KiB per deleted scope × 8)"; !strings.Contains(r.String(), want) {
		t.Errorf("text %q lacks %q", r, want)
	}
	if _, err := flat.Trend(s, flat.TrendOptions{Metric: "rss_bytes", ScopeBudget: &b}); err == nil {
		t.Error("budget per scope without scopes: no error")
	}
}

// A lazily grown thread pool's staircase, late steps the change point
// cannot cut off (a Go target in churn, 7 → 9 threads over 15 cycles),
// stays under the default threads budget; one thread per deleted scope
// (8 a cycle) or one per cycle is a leak.
func TestThreadsBudgetStaircase(t *testing.T) {
	stairs := []float64{7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9}
	if r := trend(t, stairs, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup, Budget: flat.PerCycle(0)}); r.Outcome != flat.Leaking {
		t.Errorf("staircase at a budget of 0 (what the gate said before): %s", r)
	}
	if r := trend(t, stairs, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup}); r.Outcome != flat.Flat {
		t.Errorf("staircase: %s", r)
	}
	if r := trend(t, stairs, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup, Scopes: 8, ScopeBudget: flat.PerCycle(flat.ScopeBudgets["threads"])}); r.Outcome != flat.Flat {
		t.Errorf("staircase, per deleted scope: %s", r)
	}
	perScope := series(15, func(i int) float64 { return 7 + 8*float64(i) })
	if r := trend(t, perScope, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup, Scopes: 8, ScopeBudget: flat.PerCycle(flat.ScopeBudgets["threads"])}); r.Outcome != flat.Leaking {
		t.Errorf("one thread per deleted scope: %s", r)
	}
	for _, per := range []float64{1, 8} {
		leak := series(15, func(i int) float64 { return 7 + per*float64(i) })
		if r := trend(t, leak, flat.TrendOptions{Metric: "threads", Warmup: flat.AutoWarmup}); r.Outcome != flat.Leaking {
			t.Errorf("%g threads per cycle: %s", per, r)
		}
	}
}

// TestRSSFloorYoungProcess: a young process's RSS warm-up (recorded: the
// reference fetcher exec'd, freed pages given back before each sample,
// about +100 KiB/cycle for its first 25 cycles whatever the scope count;
// its first 20 here)
// is a leak at 32 KiB per deleted scope × 1 and flat once the per-cycle
// floor applies; memory kept per deleted scope (1 MiB, the Python
// target's switch) on top of the same warm-up is still a leak.
func TestRSSFloorYoungProcess(t *testing.T) {
	kib := []float64{15432, 15620, 15856, 15932, 16120, 16092, 16116, 16336, 16372, 16556, 16548, 16668, 16676, 16772, 16884, 16944, 16988, 17084, 17248, 17248}
	warm := make([]float64, len(kib))
	for i, v := range kib {
		warm[i] = v * 1024
	}
	perScope := flat.ScopeBudgets["rss_bytes"]
	opts := flat.TrendOptions{Metric: "rss_bytes", Warmup: flat.AutoWarmup, Scopes: 1, ScopeBudget: &perScope}
	if r := trend(t, warm, opts); r.Outcome != flat.Leaking {
		t.Errorf("warm-up without the floor (what the gate said before): %s", r)
	}
	opts.BudgetFloor = flat.ScopeBudgetFloors["rss_bytes"]
	r := trend(t, warm, opts)
	if r.Outcome != flat.Flat {
		t.Errorf("warm-up with the floor: %s", r)
	}
	if want := "(the floor: 32 KiB per deleted scope × 1 is less)"; !strings.Contains(r.String(), want) {
		t.Errorf("verdict text %q does not say %q", r, want)
	}
	leak := make([]float64, len(warm))
	for i, v := range warm {
		leak[i] = v + float64(i)*(1<<20)
	}
	if r := trend(t, leak, opts); r.Outcome != flat.Leaking {
		t.Errorf("1 MiB per deleted scope with the floor: %s", r)
	}
	// At 8 scopes the floor is the budget per scope's own product.
	opts.Scopes = 8
	if r := trend(t, warm, opts); r.Budget != 8*perScope || strings.Contains(r.String(), "the floor") {
		t.Errorf("8 scopes: budget %v, text %q; want %v from the budget per scope", r.Budget, r, 8*perScope)
	}
	if _, err := flat.Trend(warm, flat.TrendOptions{Metric: "rss_bytes", BudgetFloor: 1}); err == nil {
		t.Error("a budget floor with no budget per scope: no error")
	}
}

package flat_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/result"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

func series(n int, f func(i int) float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = f(i)
	}
	return s
}

func trend(t *testing.T, s []float64, o flat.TrendOptions) flat.TrendResult {
	t.Helper()
	r, err := flat.Trend(s, o)
	if err != nil {
		t.Fatalf("trend %s: %v", o.Metric, err)
	}
	return r
}

func TestTrendFlatAndLeaking(t *testing.T) {
	cases := []struct {
		name   string
		metric string
		s      []float64
		leak   bool
	}{
		{"constant fds", "fds", series(20, func(int) float64 { return 12 }), false},
		{"1 fd per cycle", "fds", series(20, func(i int) float64 { return 12 + float64(i) }), true},
		{"1 fd every 6 cycles", "fds", series(20, func(i int) float64 { return 10 + float64(i/6) }), true},
		{"one step of +1", "fds", series(20, func(i int) float64 { return 10 + b2f(i >= 11) }), false},
		{"falling goroutines", "goroutines", series(20, func(i int) float64 { return 40 - float64(i) }), false},
		{"256 KiB/cycle heap", "heap_bytes", series(20, func(i int) float64 { return 10*mib + float64(i)*256*kib }), true},
		{"48 KiB/cycle heap (under budget)", "heap_bytes", series(20, func(i int) float64 { return 10*mib + float64(i)*48*kib }), false},
		{"1 MiB/cycle rss", "rss_bytes", series(20, func(i int) float64 { return 30*mib + float64(i)*mib }), true},
		{"disk 4 KiB/cycle", "disk_bytes", series(20, func(i int) float64 { return float64(i) * 4 * kib }), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := trend(t, c.s, flat.TrendOptions{Metric: c.metric})
			if r.Leak != c.leak {
				t.Errorf("leak %v, want %v: %s", r.Leak, c.leak, r)
			}
			if r.Low > r.Slope || r.Slope > r.High {
				t.Errorf("slope outside its interval: %s", r)
			}
			if r.Cycles != len(c.s)-r.FromCycle || r.ToCycle != len(c.s)-1 {
				t.Errorf("cycles %d from %d to %d of %d", r.Cycles, r.FromCycle, r.ToCycle, len(c.s))
			}
		})
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Memory freed every few cycles (a cache flushed every k cycles) is a
// sawtooth: not a leak, whatever its period (up to the 4-cycle floor)
// and phase. A slow leak under the same sawtooth is.
func TestTrendSawtooth(t *testing.T) {
	for _, period := range []int{2, 3, 4, 5, 6} {
		for phase := range period {
			saw := func(i int) float64 { return 10*mib + float64((i+phase)%period)*mib }
			r := trend(t, series(20, saw), flat.TrendOptions{Metric: "heap_bytes"})
			if r.Leak {
				t.Errorf("sawtooth period %d phase %d flagged: %s", period, phase, r)
			}
			if period <= 4 {
				// Within the floor window the floor is exactly flat.
				if r.Slope != 0 || r.High != 0 {
					t.Errorf("sawtooth period %d phase %d: floor not flat: %s", period, phase, r)
				}
			}
			// Raw least squares on the same series is fooled often
			// enough that the floor matters: check only it is computed.
			if math.IsNaN(r.LeastSquares.Slope) {
				t.Errorf("least squares NaN")
			}
			leaky := func(i int) float64 { return saw(i) + float64(i)*96*kib }
			r = trend(t, series(20, leaky), flat.TrendOptions{Metric: "heap_bytes"})
			if period <= 4 && !r.Leak {
				t.Errorf("96 KiB/cycle under a sawtooth of period %d phase %d not flagged: %s", period, phase, r)
			}
		}
	}
}

// Random noise around a flat level is not flagged; the same noise on a
// leak above budget is, in (nearly) every seed.
func TestTrendNoise(t *testing.T) {
	var falsePos, missed int
	const runs = 200
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 1))
		noise := func(int) float64 { return 20*mib + rng.NormFloat64()*100*kib }
		r := trend(t, series(20, noise), flat.TrendOptions{Metric: "heap_bytes"})
		if r.Leak {
			falsePos++
		}
		leak := func(i int) float64 { return 20*mib + float64(i)*256*kib + rng.NormFloat64()*100*kib }
		if r := trend(t, series(20, leak), flat.TrendOptions{Metric: "heap_bytes"}); !r.Leak {
			missed++
		}
	}
	t.Logf("gaussian noise sd 100 KiB, 20 cycles: %d/%d false positives, %d/%d 256 KiB/cycle leaks missed", falsePos, runs, missed, runs)
	if falsePos > runs/20 {
		t.Errorf("%d/%d false positives, want <= 5%%", falsePos, runs)
	}
	if missed > 0 {
		t.Errorf("%d/%d leaks missed", missed, runs)
	}
}

func TestTrendMethodsAndOptions(t *testing.T) {
	s := series(20, func(i int) float64 { return 100 + 2*float64(i) })
	s[12] = 10 // one wild outlier
	ts := trend(t, s, flat.TrendOptions{Metric: "x", Budget: flat.PerCycle(1)})
	ls := trend(t, s, flat.TrendOptions{Metric: "x", Budget: flat.PerCycle(1), Method: flat.LeastSquares})
	both := trend(t, s, flat.TrendOptions{Metric: "x", Budget: flat.PerCycle(1), Method: flat.Both})
	if !ts.Leak || ts.Slope != 2 {
		t.Errorf("theil-sen should shrug off one outlier: %s", ts)
	}
	if ls.Slope == 2 || ls.Method != flat.LeastSquares || !strings.Contains(ls.String(), "least-squares") {
		t.Errorf("least squares: %s", ls)
	}
	if both.Low != math.Min(ts.Low, ls.Low) || both.Leak != (both.Low > 1) {
		t.Errorf("both: %s (theil-sen low %v, ls low %v)", both, ts.Low, ls.Low)
	}
	// Warm-up: a rising start is dropped.
	warm := series(20, func(i int) float64 { return 50 + 10*math.Min(float64(i), 3) })
	if r := trend(t, warm, flat.TrendOptions{Metric: "fds", Warmup: 4}); r.Leak || r.FromCycle != 4 || r.First != 80 {
		t.Errorf("warm-up 4: %s (from %d)", r, r.FromCycle)
	}
	if r := trend(t, warm, flat.TrendOptions{Metric: "fds", Warmup: flat.NoWarmup}); r.FromCycle != 0 {
		t.Errorf("no warm-up: from %d", r.FromCycle)
	}
	// Budgets map override.
	if r := trend(t, s, flat.TrendOptions{Metric: "repos", Budgets: map[string]float64{"repos": 5}}); r.Leak || r.Budget != 5 {
		t.Errorf("budget from Budgets: %s", r)
	}

	bad := []flat.TrendOptions{
		{},
		{Metric: "unknown_metric"},
		{Metric: "fds", Warmup: -3},
		{Metric: "fds", Floor: -2},
		{Metric: "fds", Level: 1},
		{Metric: "fds", Method: "median"},
		{Metric: "fds", MinCycles: 2},
		{Metric: "fds", Budget: flat.PerCycle(-1)},
	}
	for _, o := range bad {
		if _, err := flat.Trend(s, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := flat.Trend(s[:7], flat.TrendOptions{Metric: "fds"}); err == nil || !strings.Contains(err.Error(), "need at least 8") {
		t.Errorf("short series: %v", err)
	}
	if _, err := flat.Trend([]float64{1, 2, 3, 4, math.NaN(), 6, 7, 8, 9}, flat.TrendOptions{Metric: "fds"}); err == nil {
		t.Error("NaN: no error")
	}
}

func TestTrendTextAndCheck(t *testing.T) {
	s := series(20, func(i int) float64 { return 10*mib + float64(i)*256*kib })
	r := trend(t, s, flat.TrendOptions{Metric: "heap_bytes"})
	want := "LEAK heap_bytes: +256.0 KiB/cycle (95% CI +256.0 KiB..+256.0 KiB/cycle) > budget 64 KiB/cycle over 14 cycles (first 10.8 MiB, last 14.0 MiB)"
	if r.String() != want {
		t.Errorf("text\n got %s\nwant %s", r, want)
	}
	c := r.Check("")
	if c.Verdict != result.Fail || c.Name != "heap_bytes flat per cycle" || c.Value != 256*kib || c.Limit != 64*kib || c.Unit != "bytes/cycle" || c.Explanation != want {
		t.Errorf("check %+v", c)
	}
	f := r.Fit()
	if f.Method != "theil-sen" || f.Slope != 256*kib || f.FromX != 6 || f.ToX != 19 || f.Budget != 64*kib {
		t.Errorf("fit %+v", f)
	}
	fds := trend(t, series(20, func(int) float64 { return 7 }), flat.TrendOptions{Metric: "fds"})
	if got := fds.String(); got != "flat fds: +0 fds/cycle (95% CI +0..+0 fds/cycle) <= budget 0 fds/cycle over 17 cycles (first 7 fds, last 7 fds)" {
		t.Errorf("fds text %q", got)
	}
	if c := fds.Check("fds churn"); c.Verdict != result.Pass || c.Unit != "fds/cycle" || c.Name != "fds churn" {
		t.Errorf("fds check %+v", c)
	}
}

func TestUnits(t *testing.T) {
	for m, u := range map[string]string{"fds": "fds", "heap_bytes": "bytes", "foo_bytes": "bytes", "repos": "", "rss_kb": "KiB"} {
		if got := flat.UnitOf(m); got != u {
			t.Errorf("UnitOf(%q) = %q, want %q", m, got, u)
		}
	}
	for m, b := range map[string]float64{"fds": 0, "goroutines": 0, "heap_bytes": 64 * kib, "rss_bytes": 512 * kib} {
		if flat.Budgets[m] != b {
			t.Errorf("Budgets[%q] = %v, want %v", m, flat.Budgets[m], b)
		}
	}
}

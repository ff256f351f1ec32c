package flat

import (
	"fmt"
	"math"
	"strings"

	"github.com/gitchaos/gitchaos/harness/result"
)

// Method names which estimator decides a Trend verdict.
type Method string

// Estimators.
const (
	// TheilSen (default) decides on the Theil–Sen slope's rank-based
	// interval: the median of pairwise slopes ignores a few outlying
	// cycles (a GC that ran late, one slow cycle) that drag a
	// least-squares line.
	TheilSen Method = "theil-sen"
	// LeastSquares decides on the ordinary least-squares slope's t interval.
	LeastSquares Method = "least-squares"
	// Both flags a leak only when both lower bounds exceed the budget.
	Both Method = "both"
)

// TrendResult is a leak verdict over a per-cycle series.
type TrendResult struct {
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Method Method  `json:"method"` // the estimator that decided
	Level  float64 `json:"level"`
	// Slope, Intercept, Low and High are the deciding estimator's (for
	// Both: Theil–Sen's slope with the larger of the two lower bounds).
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	// TheilSen and LeastSquares are both estimators' fits.
	TheilSen     Fit     `json:"theil_sen"`
	LeastSquares Fit     `json:"least_squares"`
	Budget       float64 `json:"budget"` // per cycle
	First        float64 `json:"first"`  // first value used
	Last         float64 `json:"last"`   // last value used
	Cycles       int     `json:"cycles"` // values used
	FromCycle    int     `json:"from_cycle"`
	ToCycle      int     `json:"to_cycle"` // inclusive, 0-based index in the input
	Warmup       int     `json:"warmup"`
	Floor        int     `json:"floor,omitempty"`
	Leak         bool    `json:"leak"`
	Per          string  `json:"per,omitempty"` // what one value is ("" = cycle)
	// Outcome is the three-way verdict: Leaking iff Leak, Flat when the
	// interval lies wholly at or below the budget, else Undecided.
	Outcome Outcome `json:"outcome"`
	// AutoWarmup: the warm-up ChangePoint found. Break is the first judged
	// cycle (0-based index in the input) when a warm-up was cut off, else
	// -1; BreakSlope is the warm-up's least-squares slope.
	AutoWarmup bool    `json:"auto_warmup,omitempty"`
	Break      int     `json:"break"`
	BreakSlope float64 `json:"break_slope,omitempty"`
	// Scopes deleted per cycle (0: not a per-scope verdict).
	Scopes int `json:"scopes,omitempty"`
	// ScopeBudget is the budget per deleted scope when Budget came from
	// it; Budget is more when the floor raised it.
	ScopeBudget float64 `json:"scope_budget,omitempty"`
	// Stop, set by an adaptive caller, says how many cycles ran and why
	// it stopped; it ends the verdict text.
	Stop string `json:"stop,omitempty"`
}

// Trend judges a per-cycle series (one value per cycle: the cycle's
// minimum or its value after settle). It drops the warm-up cycles,
// optionally takes a sliding floor, fits least squares and Theil–Sen with
// confidence intervals, and flags a leak iff the deciding estimator's
// LOWER bound exceeds the budget per cycle. An exactly constant series
// has a zero-width interval at 0 and passes a budget of 0; a single step
// (+1 once) leaves most pairwise slopes at 0, so its Theil–Sen lower bound
// stays 0 (a baseline check catches the step itself).
func Trend(series []float64, opts TrendOptions) (TrendResult, error) {
	if err := opts.Validate(); err != nil {
		return TrendResult{}, err
	}
	o := opts.withDefaults()
	for i, v := range series {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return TrendResult{}, fmt.Errorf("flat: trend %s: value %d is %v", o.Metric, i, v)
		}
	}
	start := max(o.Warmup, 0)
	floor := max(o.Floor, 1)
	if need := opts.Needed(); len(series) < need { // opts: withDefaults is not idempotent
		return TrendResult{}, fmt.Errorf("flat: trend %s: %d cycles, need at least %d (warm-up %d, floor %d, min %d)",
			o.Metric, len(series), need, o.Warmup, o.Floor, o.MinCycles)
	}
	var x, y []float64
	for i := start + floor - 1; i < len(series); i++ {
		v := series[i]
		for j := i - floor + 1; j < i; j++ {
			v = math.Min(v, series[j])
		}
		x = append(x, float64(i))
		y = append(y, v)
	}
	r := TrendResult{Break: -1, Scopes: o.Scopes}
	if o.ScopeBudget != nil && o.Scopes > 0 {
		r.ScopeBudget = *o.ScopeBudget
	}
	if o.Warmup == AutoWarmup {
		r.AutoWarmup = true
		for range o.MaxBreaks {
			cp := ChangePoint(y, o.MinCycles)
			if cp.Break == 0 {
				break
			}
			r.BreakSlope = cp.Before
			x, y = x[cp.Break:], y[cp.Break:]
			r.Break = int(x[0])
		}
	}
	r = TrendResult{
		Metric: o.Metric, Unit: o.Unit, Method: o.Method, Level: o.Level,
		Budget: *o.Budget, First: y[0], Last: y[len(y)-1], Cycles: len(y),
		FromCycle: int(x[0]), ToCycle: int(x[len(x)-1]), Warmup: max(o.Warmup, 0), Floor: o.Floor, Per: o.Per,
		AutoWarmup: r.AutoWarmup, Break: r.Break, BreakSlope: r.BreakSlope, Scopes: r.Scopes, ScopeBudget: r.ScopeBudget,
		TheilSen:     theilSen(x, y, o.Level),
		LeastSquares: leastSquares(x, y, o.Level),
	}
	switch o.Method {
	case LeastSquares:
		r.Slope, r.Intercept, r.Low, r.High = r.LeastSquares.Slope, r.LeastSquares.Intercept, r.LeastSquares.Low, r.LeastSquares.High
	case TheilSen:
		r.Slope, r.Intercept, r.Low, r.High = r.TheilSen.Slope, r.TheilSen.Intercept, r.TheilSen.Low, r.TheilSen.High
	case Both:
		r.Slope, r.Intercept, r.High = r.TheilSen.Slope, r.TheilSen.Intercept, r.TheilSen.High
		r.Low = math.Min(r.TheilSen.Low, r.LeastSquares.Low)
	}
	// A budget of 0 on a noise-free count: a zero-width interval at 0 or a
	// lower bound of 0 is not a leak; only a lower bound strictly above
	// the budget (plus float rounding) is.
	tol := 1e-9 * math.Max(1, math.Abs(r.Budget))
	r.Leak = r.Low > r.Budget+tol
	switch {
	case r.Leak:
		r.Outcome = Leaking
	case r.High <= r.Budget+tol:
		r.Outcome = Flat
	default:
		r.Outcome = Undecided
	}
	return r, nil
}

// String is the one-line verdict, e.g.
//
//	LEAK heap_bytes: +262.1 KiB/cycle (95% CI +250.3..+270.9 KiB/cycle) > budget 64 KiB/cycle over 17 cycles (first 10.2 MiB, last 14.6 MiB)
//
// With AutoWarmup it says where the warm-up ended ("warm-up ended at
// cycle 5 (+96.0 KiB/cycle before); +3.0 KiB/cycle after ..."), with
// Scopes the slope and budget per deleted scope too, with Stop why an
// adaptive run stopped. An interval across the budget reads UNDECIDED.
func (r TrendResult) String() string {
	word, cmp := "flat", "<="
	switch r.Outcome {
	case Leaking:
		word, cmp = "LEAK", ">"
	case Undecided:
		word, cmp = "UNDECIDED", "straddles"
	}
	if r.Leak { // a result built by hand
		word, cmp = "LEAK", ">"
	}
	u := r.Unit
	per := "/" + r.per()
	if u != "bytes" && u != "" {
		per = " " + u + per
		u = ""
	}
	slope := func(v float64) string { return result.FormatSigned(v, u) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", word, r.Metric)
	after := ""
	if r.AutoWarmup {
		if r.Break >= 0 {
			fmt.Fprintf(&b, "warm-up ended at %s %d (%s%s before); ", r.per(), r.Break, slope(r.BreakSlope), per)
			after = " after"
		} else {
			b.WriteString("no warm-up found; ")
		}
	}
	fmt.Fprintf(&b, "%s%s%s (%s CI %s..%s%s", slope(r.Slope), per, after,
		levelText(r.Level), slope(r.Low), slope(r.High), per)
	if r.Method != TheilSen {
		fmt.Fprintf(&b, ", %s", r.Method)
	}
	if r.Scopes > 0 {
		fmt.Fprintf(&b, "; %s%s per deleted scope", slope(r.Slope/float64(r.Scopes)), strings.TrimSuffix(per, "/"+r.per()))
	}
	fmt.Fprintf(&b, ") %s budget %s%s", cmp, result.FormatBudget(r.Budget, u), per)
	if r.Scopes > 0 {
		sb := r.ScopeBudget
		if sb == 0 { // a result built by hand, or one per-scope budget of 0
			sb = r.Budget / float64(r.Scopes)
		}
		perScope := fmt.Sprintf("%s%s per deleted scope × %d", result.FormatBudget(sb, u), strings.TrimSuffix(per, "/"+r.per()), r.Scopes)
		if sb*float64(r.Scopes) < r.Budget*(1-1e-9) {
			fmt.Fprintf(&b, " (the floor: %s is less)", perScope)
		} else {
			fmt.Fprintf(&b, " (%s)", perScope)
		}
	}
	fmt.Fprintf(&b, " over %d %ss (first %s, last %s)", r.Cycles, r.per(), result.FormatValue(r.First, r.Unit), result.FormatValue(r.Last, r.Unit))
	if r.Stop != "" {
		fmt.Fprintf(&b, "; %s", r.Stop)
	}
	return b.String()
}

// per is what one value of the series is: "cycle" unless Per says.
func (r TrendResult) per() string {
	if r.Per == "" {
		return "cycle"
	}
	return r.Per
}

func levelText(l float64) string {
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", l*100), "0"), ".") + "%"
}

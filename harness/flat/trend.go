package flat

import (
	"errors"
	"fmt"
	"math"
	"strings"
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

// Budgets are the default per-cycle budgets of well-known metrics (names
// as in harness/probe). Override per call with TrendOptions.Budget or
// TrendOptions.Budgets.
var Budgets = map[string]float64{
	"fds":        0,
	"goroutines": 0,
	"threads":    0,
	"heap_bytes": 64 << 10,
	"rss_bytes":  512 << 10,
	"disk_bytes": 0,
	"disk_files": 0,
}

// Floors are the default sliding-floor windows (TrendOptions.Floor) per
// metric: memory that a cache frees every few cycles reads as its floor.
var Floors = map[string]int{
	"heap_bytes": 4,
	"rss_bytes":  4,
}

// Defaults of TrendOptions.
const (
	DefaultWarmup    = 3
	DefaultLevel     = 0.95
	DefaultMinCycles = 5
	// NoWarmup as TrendOptions.Warmup keeps every cycle.
	NoWarmup = -1
	// NoFloor as TrendOptions.Floor uses raw per-cycle values.
	NoFloor = -1
)

// TrendOptions configure Trend. The zero value (plus Metric) uses the
// defaults: warm-up 3 cycles, 95% intervals, Theil–Sen decides, budget
// from Budgets.
type TrendOptions struct {
	// Metric names the series (e.g. "heap_bytes"); it picks the default
	// budget and unit.
	Metric string
	// Unit overrides UnitOf(Metric) ("bytes" formats as KiB/MiB).
	Unit string
	// Budget overrides the budget per cycle (see PerCycle); nil means
	// Budgets[Metric] (from the Budgets field if set, else the package map).
	Budget *float64
	// Budgets replaces the package-level Budgets map for the lookup.
	Budgets map[string]float64
	// Warmup cycles dropped from the front: 0 means DefaultWarmup,
	// NoWarmup keeps all.
	Warmup int
	// Floor, when > 1, replaces each value by the minimum of the last
	// Floor values (the first Floor-1 are dropped): memory that is freed
	// every few cycles (a cache flushed every k <= Floor cycles) then reads
	// as its floor, and only a rising floor counts. 0 means Floors[Metric]
	// (4 for heap and RSS, else none); NoFloor uses raw values.
	Floor int
	// Level of the confidence intervals: 0 means 0.95.
	Level float64
	// Method deciding the verdict: "" means TheilSen.
	Method Method
	// MinCycles needed after warm-up and floor: 0 means 5.
	MinCycles int
	// Per names what one value of the series is, in verdict texts and
	// units ("fds/window"): "" means "cycle".
	Per string
}

// PerCycle returns a budget for TrendOptions.Budget.
func PerCycle(v float64) *float64 { return &v }

// Validate reports a bad option.
func (o TrendOptions) Validate() error {
	var errs []error
	if o.Metric == "" {
		errs = append(errs, errors.New("metric name is empty"))
	}
	if o.Warmup < NoWarmup {
		errs = append(errs, fmt.Errorf("warmup %d: want >= 0 (or NoWarmup)", o.Warmup))
	}
	if o.Floor < NoFloor {
		errs = append(errs, fmt.Errorf("floor %d: want >= 0 (or NoFloor)", o.Floor))
	}
	if o.Level != 0 && (o.Level <= 0 || o.Level >= 1) {
		errs = append(errs, fmt.Errorf("level %v: want in (0, 1)", o.Level))
	}
	switch o.Method {
	case "", TheilSen, LeastSquares, Both:
	default:
		errs = append(errs, fmt.Errorf("method %q: want %q, %q or %q", o.Method, TheilSen, LeastSquares, Both))
	}
	if o.MinCycles != 0 && o.MinCycles < 3 {
		errs = append(errs, fmt.Errorf("min cycles %d: want >= 3", o.MinCycles))
	}
	if o.Budget != nil && (math.IsNaN(*o.Budget) || *o.Budget < 0) {
		errs = append(errs, fmt.Errorf("budget %v: want a number >= 0", *o.Budget))
	}
	if o.Budget == nil && o.Metric != "" {
		m := o.Budgets
		if m == nil {
			m = Budgets
		}
		if _, ok := m[o.Metric]; !ok {
			errs = append(errs, fmt.Errorf("no budget for metric %q: set TrendOptions.Budget", o.Metric))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flat: trend options: %w", err)
	}
	return nil
}

// Needed is the number of values Trend needs with these options: the
// warm-up, the floor's window and the minimum judged.
func (o TrendOptions) Needed() int {
	d := o.withDefaults()
	return d.Warmup + max(d.Floor, 1) - 1 + d.MinCycles
}

func (o TrendOptions) withDefaults() TrendOptions {
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	} else if o.Warmup == NoWarmup {
		o.Warmup = 0
	}
	if o.Floor == 0 {
		o.Floor = Floors[o.Metric]
	} else if o.Floor == NoFloor {
		o.Floor = 0
	}
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if o.Method == "" {
		o.Method = TheilSen
	}
	if o.MinCycles == 0 {
		o.MinCycles = DefaultMinCycles
	}
	if o.Unit == "" {
		o.Unit = UnitOf(o.Metric)
	}
	if o.Budget == nil {
		m := o.Budgets
		if m == nil {
			m = Budgets
		}
		b := m[o.Metric]
		o.Budget = &b
	}
	return o
}

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
}

// Trend judges a per-cycle series (one value per cycle: the cycle's
// minimum or its value after settle). It drops the warm-up cycles,
// optionally takes a sliding floor, fits least squares and Theil–Sen with
// confidence intervals, and flags a leak iff the deciding estimator's
// LOWER bound exceeds the budget per cycle. An exactly constant series
// has a zero-width interval at 0 and passes a budget of 0; a single step
// (+1 once) leaves most pairwise slopes at 0, so its Theil–Sen lower bound
// stays 0 (a Settle check catches the step itself).
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
	start := o.Warmup
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
	r := TrendResult{
		Metric: o.Metric, Unit: o.Unit, Method: o.Method, Level: o.Level,
		Budget: *o.Budget, First: y[0], Last: y[len(y)-1], Cycles: len(y),
		FromCycle: int(x[0]), ToCycle: int(x[len(x)-1]), Warmup: o.Warmup, Floor: o.Floor, Per: o.Per,
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
	r.Leak = r.Low > r.Budget+1e-9*math.Max(1, math.Abs(r.Budget))
	return r, nil
}

// String is the one-line verdict, e.g.
//
//	LEAK heap_bytes: +262.1 KiB/cycle (95% CI +250.3..+270.9 KiB/cycle) > budget 64 KiB/cycle over 17 cycles (first 10.2 MiB, last 14.6 MiB)
func (r TrendResult) String() string {
	word, cmp := "flat", "<="
	if r.Leak {
		word, cmp = "LEAK", ">"
	}
	u := r.Unit
	per := "/" + r.per()
	if u != "bytes" && u != "" {
		per = " " + u + per
		u = ""
	}
	slope := func(v float64) string { return formatValue(v, u, true) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s%s (%s CI %s..%s%s", word, r.Metric, slope(r.Slope), per,
		levelText(r.Level), slope(r.Low), slope(r.High), per)
	if r.Method != TheilSen {
		fmt.Fprintf(&b, ", %s", r.Method)
	}
	fmt.Fprintf(&b, ") %s budget %s%s over %d %ss (first %s, last %s)", cmp,
		formatBudget(r.Budget, u), per, r.Cycles, r.per(), formatValue(r.First, r.Unit, false), formatValue(r.Last, r.Unit, false))
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

package flat

import (
	"errors"
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

// Budgets are the default per-cycle budgets of well-known metrics (names
// as in harness/probe). Override per call with TrendOptions.Budget or
// TrendOptions.Budgets.
//
// Threads get a quarter of one per cycle (per deleted scope in
// ScopeBudgets) where every other count gets 0: a thread pool that starts
// its threads lazily (the Go runtime's OS threads, Python's
// ThreadPoolExecutor) adds one now and then until the load's peak has
// been met, late in a run as often as early (a Go target went 7 → 9
// threads over 15 churn cycles, +0.14/cycle, a staircase the change
// point cannot cut off), while a leak adds one per deleted scope or per
// sync.
var Budgets = map[string]float64{
	"fds":        0,
	"goroutines": 0,
	"threads":    0.25,
	"processes":  0,
	"heap_bytes": 64 << 10,
	"rss_bytes":  512 << 10,
	"disk_bytes": 0,
	"disk_files": 0,
}

// ScopeBudgets are the default budgets per deleted scope of the churn
// gate (TrendOptions.ScopeBudget with Scopes): nothing of a deleted scope
// may stay (fds, goroutines, processes, disk; threads a quarter, see
// Budgets), heap 8 KiB and
// RSS 32 KiB. At 8 scopes per cycle the heap budget is the per-cycle
// default (64 KiB); RSS is half of it (256 KiB/cycle): the change-point
// warm-up, not a loose budget, keeps a foreign server's arenas warming up
// from reading as a leak (BENCHMARKS.md, "Leak verdicts on a foreign
// server").
var ScopeBudgets = map[string]float64{
	"fds":        0,
	"goroutines": 0,
	"threads":    0.25,
	"processes":  0,
	"heap_bytes": 8 << 10,
	"rss_bytes":  32 << 10,
	"disk_bytes": 0,
	"disk_files": 0,
}

// ScopeBudgetFloors are the lowest per-cycle budgets that default budgets
// per deleted scope give (TrendOptions.BudgetFloor): RSS 256 KiB/cycle, the
// 8-scope budget. A young process's RSS warms up by an amount per cycle
// that does not shrink with the scopes a cycle deletes: the reference
// fetcher exec'd, its freed pages given back before each sample, rose
// about 100 KiB/cycle at 4 and at 8 scopes alike for 25 cycles, then held
// (+2.4 MiB, heap flat; BENCHMARKS.md, "RSS of a young Go process across
// churn"),
// so 32 KiB × 4 scopes read that warm-up as a leak.
var ScopeBudgetFloors = map[string]float64{
	"rss_bytes": 256 << 10,
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
	// NoWarmup keeps all, AutoWarmup finds the warm-up's end from the data
	// (ChangePoint).
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
	// Scopes, when > 0, is the number of scopes deleted per cycle: the
	// verdict text then also states the slope per deleted scope, and
	// ScopeBudget (if set) gives the budget per cycle as ScopeBudget ×
	// Scopes (a user who changes the scope count keeps the meaning).
	Scopes int
	// ScopeBudget is the budget per deleted scope (with Scopes > 0); it
	// wins over Budget.
	ScopeBudget *float64
	// BudgetFloor, with ScopeBudget, is the lowest per-cycle budget:
	// ScopeBudget × Scopes below it is raised to it (see
	// ScopeBudgetFloors).
	BudgetFloor float64
	// MaxBreaks bounds how many times AutoWarmup cuts (0 means
	// DefaultMaxBreaks): after a break, the rest is searched again, so a
	// warm-up followed by a one-off step (the Go runtime starting one more
	// thread) is judged after both.
	MaxBreaks int
}

// DefaultMaxBreaks is TrendOptions.MaxBreaks's default.
const DefaultMaxBreaks = 3

// PerCycle returns a budget for TrendOptions.Budget.
func PerCycle(v float64) *float64 { return &v }

// Validate reports a bad option.
func (o TrendOptions) Validate() error {
	var errs []error
	if o.Metric == "" {
		errs = append(errs, errors.New("metric name is empty"))
	}
	if o.Warmup < AutoWarmup {
		errs = append(errs, fmt.Errorf("warmup %d: want >= 0 (or NoWarmup, AutoWarmup)", o.Warmup))
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
	if o.ScopeBudget != nil && (math.IsNaN(*o.ScopeBudget) || *o.ScopeBudget < 0 || o.Scopes <= 0) {
		errs = append(errs, fmt.Errorf("budget per deleted scope %v with %d scopes: want a number >= 0 and scopes > 0", *o.ScopeBudget, o.Scopes))
	}
	if math.IsNaN(o.BudgetFloor) || o.BudgetFloor < 0 || (o.BudgetFloor > 0 && o.ScopeBudget == nil) {
		errs = append(errs, fmt.Errorf("budget floor %v: want a number >= 0, with a budget per deleted scope", o.BudgetFloor))
	}
	if o.Budget != nil && (math.IsNaN(*o.Budget) || *o.Budget < 0) {
		errs = append(errs, fmt.Errorf("budget %v: want a number >= 0", *o.Budget))
	}
	if o.Budget == nil && o.ScopeBudget == nil && o.Metric != "" {
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
	return max(d.Warmup, 0) + max(d.Floor, 1) - 1 + d.MinCycles
}

func (o TrendOptions) withDefaults() TrendOptions {
	switch o.Warmup {
	case 0:
		o.Warmup = DefaultWarmup
	case NoWarmup:
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
	if o.MaxBreaks <= 0 {
		o.MaxBreaks = DefaultMaxBreaks
	}
	if o.Unit == "" {
		o.Unit = UnitOf(o.Metric)
	}
	if o.ScopeBudget != nil && o.Scopes > 0 {
		b := max(*o.ScopeBudget*float64(o.Scopes), o.BudgetFloor)
		o.Budget = &b
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

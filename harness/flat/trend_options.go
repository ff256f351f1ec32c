package flat

import (
	"errors"
	"fmt"
	"math"
)

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

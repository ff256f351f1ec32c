package flat

import "github.com/gitchaos/gitchaos/harness/metric"

// Budgets are the default per-cycle budgets of well-known metrics, from
// harness/metric's table (Budget.PerCycle; change them there). Override
// per call with TrendOptions.Budget or TrendOptions.Budgets.
var Budgets = budgets(func(b metric.Budget) (float64, bool) { return b.PerCycle, true })

// ScopeBudgets are the default budgets per deleted scope of the churn
// gate (TrendOptions.ScopeBudget with Scopes), from harness/metric's table
// (Budget.PerScope).
var ScopeBudgets = budgets(func(b metric.Budget) (float64, bool) { return b.PerScope, true })

// ScopeBudgetFloors are the lowest per-cycle budgets that default budgets
// per deleted scope give (TrendOptions.BudgetFloor), from harness/metric's
// table (Budget.ScopeFloor, where set).
var ScopeBudgetFloors = budgets(func(b metric.Budget) (float64, bool) { return b.ScopeFloor, b.ScopeFloor > 0 })

// Floors are the default sliding-floor windows (TrendOptions.Floor) per
// metric, from harness/metric's table (Row.FloorWindow, where set): memory
// that a cache frees every few cycles reads as its floor.
var Floors = floors()

// budgets maps each metric with a default budget to the value pick takes
// from it (where pick says so).
func budgets(pick func(metric.Budget) (float64, bool)) map[string]float64 {
	out := map[string]float64{}
	for _, r := range metric.All() {
		if r.Budget == nil {
			continue
		}
		if v, ok := pick(*r.Budget); ok {
			out[r.Name] = v
		}
	}
	return out
}

func floors() map[string]int {
	out := map[string]int{}
	for _, r := range metric.All() {
		if r.FloorWindow > 0 {
			out[r.Name] = r.FloorWindow
		}
	}
	return out
}

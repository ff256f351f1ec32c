package flat

import (
	"github.com/gitchaos/gitchaos/harness/result"
)

// Fit converts the deciding fit to the result model (x in cycles).
func (r TrendResult) Fit() *result.Fit {
	m := r.Method
	if m == Both {
		m = TheilSen
	}
	return &result.Fit{
		Method: string(m), Slope: r.Slope, Intercept: r.Intercept,
		Low: r.Low, High: r.High,
		FromX: float64(r.FromCycle), ToX: float64(r.ToCycle), Budget: r.Budget,
	}
}

// Check converts the verdict to a result check named name (default
// "<metric> flat per cycle"): Value is the slope per cycle, Limit the
// budget, Verdict fail on a leak, Explanation the one-line verdict.
func (r TrendResult) Check(name string) result.Check {
	if name == "" {
		name = r.Metric + " flat per cycle"
	}
	u := r.Unit
	if u == "" {
		u = "count"
	}
	per := "/" + r.per()
	if r.Unit != "bytes" && r.Unit != "" {
		per = " " + r.Unit + per
	}
	su := r.Unit
	if su != "bytes" {
		su = ""
	}
	v := result.Pass
	if r.Leak {
		v = result.Fail
	}
	return result.Check{
		Name:     name,
		Measured: result.FormatSigned(r.Slope, su) + per + " (" + levelText(r.Level) + " CI " + result.FormatSigned(r.Low, su) + ".." + result.FormatSigned(r.High, su) + per + ")",
		Budget:   "lower bound <= " + result.FormatBudget(r.Budget, su) + per,
		Value:    r.Slope, Limit: r.Budget, Unit: u + "/" + r.per(),
		Verdict: v, Explanation: r.String(), Series: r.Metric,
	}
}

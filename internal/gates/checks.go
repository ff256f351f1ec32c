package gates

import (
	"github.com/gitchaos/gitchaos/harness/result"
)

// Units used by checks.
const (
	unitSeconds = "s"
	unitCount   = "count"
	unitBytes   = "bytes"
)

// CheckLE records "value <= limit".
func (s *S) CheckLE(name string, value, limit float64, unit, explain string) bool {
	ok := value <= limit
	s.addCmp(name, value, limit, unit, "<= ", ok, explain)
	return ok
}

// CheckGE records "value >= limit".
func (s *S) CheckGE(name string, value, limit float64, unit, explain string) bool {
	ok := value >= limit
	s.addCmp(name, value, limit, unit, ">= ", ok, explain)
	return ok
}

// CheckEQ records "value == limit".
func (s *S) CheckEQ(name string, value, limit float64, unit, explain string) bool {
	ok := value == limit
	s.addCmp(name, value, limit, unit, "== ", ok, explain)
	return ok
}

// CheckTrue records a yes/no check; measured is what was seen.
func (s *S) CheckTrue(name string, ok bool, measured, budget, explain string) bool {
	v := result.Pass
	if !ok {
		v = result.Fail
	}
	val := 0.0
	if ok {
		val = 1
	}
	s.AddCheck(result.Check{Name: name, Measured: measured, Budget: budget, Value: val, Limit: 1, Verdict: v, Explanation: explain})
	return ok
}

// Skip records a check that could not run on this target, with the reason.
func (s *S) Skip(name, reason string) {
	s.AddCheck(result.Check{Name: name, Measured: "n/a", Budget: "n/a", Verdict: result.Skip, Explanation: reason})
}

func (s *S) addCmp(name string, value, limit float64, unit, op string, ok bool, explain string) {
	v := result.Pass
	if !ok {
		v = result.Fail
	}
	s.AddCheck(result.Check{
		Name: name, Measured: result.FormatValue(value, unit), Budget: op + result.FormatValue(limit, unit),
		Value: value, Limit: limit, Unit: unit, Verdict: v, Explanation: explain,
	})
}

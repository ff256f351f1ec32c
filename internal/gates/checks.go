package gates

import (
	"context"
	"fmt"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/testbed"
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

// RepoFault sets a server-side fault on one repo and records it; it is
// cleared when the scenario ends if the scenario does not clear it first.
func (s *S) RepoFault(ctx context.Context, h *testbed.Host, repo string, f gitserver.Fault) (func(context.Context) error, error) {
	if err := h.Admin.SetFault(ctx, repo, f); err != nil {
		return nil, fmt.Errorf("server fault %s on %s/%s: %w", f.Mode, h.Name, repo, err)
	}
	s.logFault(h.Name, repo, "server:"+string(f.Mode), result.FaultInject)
	done := false
	undo := func(ctx context.Context) error {
		s.mu.Lock()
		if done {
			s.mu.Unlock()
			return nil
		}
		done = true
		s.mu.Unlock()
		err := h.Admin.ClearFault(ctx, repo)
		s.logFault(h.Name, repo, "server:"+string(f.Mode), result.FaultRecover)
		return err
	}
	s.mu.Lock()
	s.undo = append(s.undo, undo)
	s.mu.Unlock()
	return undo, nil
}

package gates

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
)

// TestDoneStopsBeforeTheDeadline: past its minimum an adaptive leak gate
// with an undecided verdict stops when the scenario timeout leaves less
// than two of its longest cycles (churn at 200 scopes ran into the 3 min
// timeout in the middle of a cycle and errored instead), and not before.
func TestDoneStopsBeforeTheDeadline(t *testing.T) {
	s := &S{} // fds only: the target is not asked (it is for RSS)
	j := leakJudge{checks: churnFlat, min: 12, max: 60}
	noisy := newCycleSeries(probe.FDs)
	for i := range 12 {
		noisy.values[probe.FDs] = append(noisy.values[probe.FDs], float64(10+6*(i%2)-3*(i%3)))
	}
	if p := s.pending(noisy, j); len(p) != 1 {
		t.Fatalf("pending %v, want the noisy fds series undecided", p)
	}
	noisy.longest = 10 * time.Second

	if ok, why := s.done(context.Background(), noisy, j, 12); ok {
		t.Errorf("no deadline: done (%s), want on until decisive or the cap", why)
	}
	far, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if ok, why := s.done(far, noisy, j, 12); ok {
		t.Errorf("an hour left: done (%s), want on", why)
	}
	near, cancel2 := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel2()
	if ok, _ := s.done(near, noisy, j, 11); ok {
		t.Errorf("below the minimum: done, want on")
	}
	ok, why := s.done(near, noisy, j, 12)
	if !ok || !strings.Contains(why, "fds undecided") || !strings.Contains(why, "scenario timeout") || !strings.Contains(why, "10s") {
		t.Errorf("15 s left with 10 s cycles: done=%v %q, want a stop naming the undecided metric, the timeout and the cycle time", ok, why)
	}
}

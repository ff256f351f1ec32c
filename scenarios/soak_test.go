package scenarios_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/scenarios"
)

// shortSoak runs a soak against the in-process reference fetcher with the
// given mutants.
func shortSoak(t *testing.T, ctx context.Context, d, window time.Duration, seed int64, progress func(scenarios.SoakStatus), mutants ...string) *result.Run {
	t.Helper()
	opts := scenarios.SoakOptions{
		Options: scenarios.Options{
			Targets: &target.InProcess{Mutants: mutants, TempDir: t.TempDir()},
			Seed:    seed,
			Mutants: mutants,
			Logger:  slog.New(slog.DiscardHandler),
		},
		Duration: d, Window: window, Progress: progress,
	}
	run, err := scenarios.RunSoak(ctx, opts)
	if err != nil {
		t.Fatalf("RunSoak: %v", err)
	}
	if len(run.Scenarios) != 1 || run.Scenarios[0].Name != "soak" {
		t.Fatalf("run has scenarios %v, want one named soak", run.Scenarios)
	}
	return run
}

func check(sc *result.Scenario, name string) (result.Check, bool) {
	for _, c := range sc.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return result.Check{}, false
}

func steps(sc *result.Scenario) []string {
	var out []string
	for _, m := range sc.Markers {
		if m.Kind == "step" {
			out = append(out, m.Label)
		}
	}
	return out
}

func hasTimeline(t *testing.T, sc *result.Scenario, metric string, minPoints int) {
	t.Helper()
	for _, s := range sc.Series {
		if s.Metric == metric && s.XUnit == "s" {
			if len(s.Points) < minPoints {
				t.Errorf("timeline %s has %d points, want >= %d", s.Name, len(s.Points), minPoints)
			}
			return
		}
	}
	t.Errorf("no %s timeline series", metric)
}

// TestSoakPassesOnCorrectFetcher: a short soak against the correct
// fetcher passes, with the fd flatness judged over the windows.
func TestSoakPassesOnCorrectFetcher(t *testing.T) {
	var calls atomic.Int64
	run := shortSoak(t, context.Background(), 40*time.Second, 4*time.Second, 1, func(scenarios.SoakStatus) { calls.Add(1) })
	sc := run.Scenarios[0]
	if v := sc.Verdict(); v != result.Pass {
		t.Fatalf("verdict %s, want pass:\n%s", v, scenarios.Explain(sc))
	}
	c, ok := check(sc, "fds flat across soak windows")
	if !ok || c.Verdict != result.Pass {
		t.Errorf("fds flatness check %+v (found %v), want a pass:\n%s", c, ok, scenarios.Explain(sc))
	}
	for _, m := range []string{"fds", "rss_bytes", "goroutines", "heap_bytes"} {
		hasTimeline(t, sc, m, 60)
	}
	if n := len(steps(sc)); n < 20 {
		t.Errorf("%d steps in 40 s, want >= 20", n)
	}
	if len(sc.Faults) < 2 {
		t.Errorf("%d fault events in 40 s, want faults injected and recovered", len(sc.Faults))
	}
	if calls.Load() < 10 {
		t.Errorf("progress called %d times, want >= 10", calls.Load())
	}
	t.Logf("steps %v, windows %v, restarts %v", sc.Params["steps"], sc.Params["windows_judged"], sc.Params["restarts"])
}

// TestSoakCatchesFDLeakOnDelete: the same soak against the
// fd-leak-on-delete mutant fails on fd flatness.
func TestSoakCatchesFDLeakOnDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	run := shortSoak(t, context.Background(), 40*time.Second, 4*time.Second, 1, nil, "fd-leak-on-delete")
	sc := run.Scenarios[0]
	if v := run.Verdict(); v != result.Fail {
		t.Fatalf("verdict %s, want fail:\n%s", v, scenarios.Explain(sc))
	}
	c, ok := check(sc, "fds flat across soak windows")
	if !ok || c.Verdict != result.Fail {
		t.Fatalf("fds flatness check %+v (found %v), want a failure:\n%s", c, ok, scenarios.Explain(sc))
	}
	if c.Value <= 0 {
		t.Errorf("fd slope %v, want > 0", c.Value)
	}
	t.Logf("fds check: %s — %s", c.Measured, c.Explanation)
}

// TestSoakSameSeedSameSteps: two soaks with one seed run the same steps
// in the same order (the shorter log is a prefix of the longer); another
// seed runs other steps.
func TestSoakSameSeedSameSteps(t *testing.T) {
	a := steps(shortSoak(t, context.Background(), 4*time.Second, 2*time.Second, 7, nil).Scenarios[0])
	b := steps(shortSoak(t, context.Background(), 4*time.Second, 2*time.Second, 7, nil).Scenarios[0])
	c := steps(shortSoak(t, context.Background(), 4*time.Second, 2*time.Second, 8, nil).Scenarios[0])
	n := min(len(a), len(b), len(c))
	if n < 5 {
		t.Fatalf("only %d/%d/%d steps ran, want >= 5 each", len(a), len(b), len(c))
	}
	for i := range n {
		if a[i] != b[i] {
			t.Fatalf("seed 7 step %d differs between runs: %q vs %q", i, a[i], b[i])
		}
	}
	if strings.Join(a[:n], "\n") == strings.Join(c[:n], "\n") {
		t.Errorf("seeds 7 and 8 ran the same %d steps: %v", n, a[:n])
	}
}

// TestSoakCancelReturnsPartialReport: cancelling mid-run ends the soak
// within seconds with a partial report that says it was interrupted.
func TestSoakCancelReturnsPartialReport(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled atomic.Bool
	var at time.Time
	run := shortSoak(t, ctx, 10*time.Minute, 2*time.Second, 3, func(st scenarios.SoakStatus) {
		if st.Windows >= 2 && !cancelled.Swap(true) {
			at = time.Now()
			cancel()
		}
	})
	if !cancelled.Load() {
		t.Fatal("soak ended before two windows")
	}
	if d := time.Since(at); d > 20*time.Second {
		t.Errorf("soak took %v to end after cancel, want < 20 s", d)
	}
	sc := run.Scenarios[0]
	c, ok := check(sc, "soak ran its full duration")
	if !ok || c.Verdict != result.Skip || !strings.Contains(c.Explanation, "interrupted after") {
		t.Errorf("duration check %+v (found %v), want a skip saying interrupted after", c, ok)
	}
	if sc.Params["interrupted_after"] == nil {
		t.Errorf("params lack interrupted_after: %v", sc.Params)
	}
	if v := run.Verdict(); v != result.Pass {
		t.Errorf("partial run verdict %s, want pass (nothing failed so far):\n%s", v, scenarios.Explain(sc))
	}
	if _, ok := check(sc, "fds flat across soak windows"); !ok {
		t.Errorf("no fds verdict in the partial report:\n%s", scenarios.Explain(sc))
	}
	hasTimeline(t, sc, "fds", 4)
	if sc.Error != "" {
		t.Errorf("scenario error %q after a clean cancel", sc.Error)
	}
}

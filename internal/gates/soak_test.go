package gates_test

import (
	"context"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// shortSoak runs a soak against the in-process reference fetcher with the
// given mutants.
func shortSoak(t *testing.T, ctx context.Context, d, window time.Duration, seed int64, progress func(gates.SoakStatus), mutants ...string) *result.Run {
	t.Helper()
	return shortSoakTotal(t, ctx, d, window, seed, progress, nil, mutants...)
}

// shortSoakTotal is shortSoak with total-growth budgets (nil: defaults).
func shortSoakTotal(t *testing.T, ctx context.Context, d, window time.Duration, seed int64, progress func(gates.SoakStatus), total map[string]float64, mutants ...string) *result.Run {
	t.Helper()
	// A 3 s git timeout (not the gates' 1 s): on a loaded machine (load 30
	// on 2 cores, measured 2026-12-03) baseline clones take over 1 s and the
	// soak would end in setup.
	settings := gates.DefaultSettings()
	settings.GitTimeout = 3 * time.Second
	opts := gates.SoakOptions{
		Options: gates.Options{
			Targets:  &inprocess.Factory{Mutants: mutants, TempDir: t.TempDir()},
			Seed:     seed,
			Settings: settings,
			Logger:   slog.New(slog.DiscardHandler),
		},
		SoakParams: gates.SoakParams{Duration: d, Window: window, TotalBudgets: total},
		Progress:   progress,
	}
	run, err := gates.RunSoak(ctx, opts)
	if err != nil {
		t.Fatalf("RunSoak: %v", err)
	}
	if len(run.Scenarios) != 1 || run.Scenarios[0].Name != "soak" {
		t.Fatalf("run has scenarios %v, want one named soak", run.Scenarios)
	}
	return run
}

func check(sc *result.Scenario, id string) (result.Check, bool) {
	for _, c := range sc.Checks {
		if c.ID == id {
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

// shortSoakDuration and shortSoakWindow size the two short soaks: 8
// windows (a count the logical schedule keeps on a slow machine too), the
// fewest that leave the fds verdict its 5 windows after the 3-window
// warm-up; memory, with its 4-window floor on top, is skipped as too
// short, and judged by its total growth.
const shortSoakDuration, shortSoakWindow = 24 * time.Second, 3 * time.Second

// TestSoakPassesOnCorrectFetcher: a short soak against the correct
// fetcher passes, with the fd flatness judged over the windows.
func TestSoakPassesOnCorrectFetcher(t *testing.T) {
	var calls atomic.Int64
	run := shortSoak(t, context.Background(), shortSoakDuration, shortSoakWindow, 1, func(gates.SoakStatus) { calls.Add(1) })
	sc := run.Scenarios[0]
	if v := sc.Verdict(); v != result.Pass {
		t.Fatalf("verdict %s, want pass:\n%s", v, gates.Explain(sc))
	}
	c, ok := check(sc, "soak.fds-flat")
	if !ok || c.Verdict != result.Pass {
		t.Errorf("fds flatness check %+v (found %v), want a pass:\n%s", c, ok, gates.Explain(sc))
	}
	if c, ok := check(sc, "soak.nothing-held"); !ok || c.Verdict != result.Pass {
		t.Errorf("nothing-held check %+v (found %v), want a pass", c, ok)
	}
	// A sample every 500 ms: 48 in 24 s, less what setup and the last
	// window's judging take.
	for _, m := range []string{"fds", "rss_bytes", "goroutines", "heap_bytes"} {
		hasTimeline(t, sc, m, 36)
	}
	if n := len(steps(sc)); n < 20 {
		t.Errorf("%d steps in %v, want >= 20", n, shortSoakDuration)
	}
	if len(sc.Faults) < 2 {
		t.Errorf("%d fault events in %v, want faults injected and recovered", len(sc.Faults), shortSoakDuration)
	}
	if calls.Load() < 10 {
		t.Errorf("progress called %d times, want >= 10", calls.Load())
	}
	t.Logf("steps %v, windows %v, restarts %v", sc.Params["steps"], sc.Params["windows_judged"], sc.Params["restarts"])
}

// TestSoakCatchesFDLeakOnDelete: the same soak against the
// fd-leak-on-delete mutant fails on fd flatness, and on fds' total growth
// over the run with a total budget of 0 fds.
func TestSoakCatchesFDLeakOnDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	run := shortSoakTotal(t, context.Background(), shortSoakDuration, shortSoakWindow, 1, nil, map[string]float64{"fds": 0, "heap_bytes": 16 << 20}, "fd-leak-on-delete")
	sc := run.Scenarios[0]
	if v := run.Verdict(); v != result.Fail {
		t.Fatalf("verdict %s, want fail:\n%s", v, gates.Explain(sc))
	}
	c, ok := check(sc, "soak.fds-flat")
	if !ok || c.Verdict != result.Fail {
		t.Fatalf("fds flatness check %+v (found %v), want a failure:\n%s", c, ok, gates.Explain(sc))
	}
	if c.Value <= 0 {
		t.Errorf("fd slope %v, want > 0", c.Value)
	}
	t.Logf("fds check: %s — %s", c.Measured, c.Explanation)
	if tc, ok := check(sc, "soak.fds-total"); !ok || tc.Verdict != result.Fail || tc.Value <= 0 {
		t.Errorf("fds total growth check %+v (found %v), want a failure with growth > 0", tc, ok)
	}
	// The held pack files of the deleted extra scopes are named at the
	// first quiet point after the deletes, whatever the slopes say.
	hc, ok := check(sc, "soak.nothing-held")
	if !ok || hc.Verdict != result.Fail {
		t.Errorf("nothing-held check %+v (found %v), want a failure", hc, ok)
	} else if !slices.ContainsFunc(hc.Objects, func(o result.Object) bool { return o.Kind == "fd" && strings.Contains(o.Signature, ".pack") }) {
		t.Errorf("nothing-held names %+v, want the held pack files", hc.Objects)
	} else {
		t.Logf("nothing-held: %s", hc.Explanation)
	}
	if hc, ok := check(sc, "soak.heap-bytes-total"); !ok || hc.Verdict != result.Pass {
		t.Errorf("heap total growth check %+v (found %v), want a pass (the mutant leaks fds)", hc, ok)
	}
}

// cpuHogs starts n busy-loop processes beside the test (a slower
// machine); stop kills and reaps them.
func cpuHogs(t *testing.T, n int) (stop func()) {
	t.Helper()
	var cmds []*exec.Cmd
	for range n {
		c := exec.Command("sh", "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, c := range cmds {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestSoakReplaysUnderLoad: two soaks with one seed execute the same
// steps with the same outcomes — the full executed lists, the second run
// with two busy loops slowing the machine — and another seed executes
// other steps. The schedule is logical (steps per window, fault lifetimes
// in steps), so the machine's speed decides nothing.
func TestSoakReplaysUnderLoad(t *testing.T) {
	const d, w = 4 * time.Second, 2 * time.Second
	want := int(d/w) * gates.DefaultStepsPerWindow(w)
	soak := func(seed int64) []string {
		t.Helper()
		// A generous git timeout: the baseline must be served on a loaded
		// machine too (the steps themselves do not depend on it).
		settings := gates.DefaultSettings()
		settings.GitTimeout = 10 * time.Second
		run, err := gates.RunSoak(context.Background(), gates.SoakOptions{
			Options: gates.Options{
				Targets: &inprocess.Factory{TempDir: t.TempDir()}, Seed: seed,
				Settings: settings, Logger: slog.New(slog.DiscardHandler),
			},
			SoakParams: gates.SoakParams{Duration: d, Window: w},
		})
		if err != nil {
			t.Fatalf("RunSoak: %v", err)
		}
		sc := run.Scenarios[0]
		if sc.Error != "" {
			t.Fatalf("seed %d: soak error: %s", seed, sc.Error)
		}
		return steps(sc)
	}
	a := soak(7)
	stop := cpuHogs(t, 2)
	b := soak(7)
	stop()
	c := soak(8)
	if len(a) != want || len(b) != want || len(c) != want {
		t.Fatalf("executed %d, %d (under load) and %d steps, want %d each", len(a), len(b), len(c), want)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 step %d differs under load: %q vs %q\nfirst run:\n%s\nunder load:\n%s", i, a[i], b[i], strings.Join(a, "\n"), strings.Join(b, "\n"))
		}
	}
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Errorf("seeds 7 and 8 executed the same %d steps", len(a))
	}
	kinds := map[string]int{}
	for _, s := range a {
		_, outcome, _ := strings.Cut(s, " → ")
		kinds[strings.SplitN(outcome, ":", 2)[0]]++
	}
	if kinds["ran"] == 0 || kinds["skipped"] == 0 || kinds["error"] != 0 {
		t.Errorf("outcomes %v: want steps that ran, steps skipped (with why), no errors on the correct fetcher", kinds)
	}
}

// TestSoakCancelReturnsPartialReport: cancelling mid-run ends the soak
// within seconds with a partial report that says it was interrupted.
func TestSoakCancelReturnsPartialReport(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled atomic.Bool
	var at time.Time
	run := shortSoak(t, ctx, 10*time.Minute, 2*time.Second, 3, func(st gates.SoakStatus) {
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
	c, ok := check(sc, "soak.full-duration")
	if !ok || c.Verdict != result.Skip || !strings.Contains(c.Explanation, "interrupted after") {
		t.Errorf("duration check %+v (found %v), want a skip saying interrupted after", c, ok)
	}
	if sc.Params["interrupted_after"] == nil {
		t.Errorf("params lack interrupted_after: %v", sc.Params)
	}
	if v := run.Verdict(); v != result.Pass {
		t.Errorf("partial run verdict %s, want pass (nothing failed so far):\n%s", v, gates.Explain(sc))
	}
	if _, ok := check(sc, "soak.fds-flat"); !ok {
		t.Errorf("no fds verdict in the partial report:\n%s", gates.Explain(sc))
	}
	hasTimeline(t, sc, "fds", 4)
	if sc.Error != "" {
		t.Errorf("scenario error %q after a clean cancel", sc.Error)
	}
}

package gates

import (
	"context"

	"github.com/gitchaos/gitchaos/harness/result"
)

// Beside starts names, scenarios of a suite run with opts that judge
// nothing process-wide, in another process (cmd/gitchaos runs a copy of
// itself, "gitchaos suite-part"), and returns once that process runs:
// its descriptors and its pid are held from then until wait returns, so
// that the process-wide gates this process runs meanwhile see them in
// their baselines and at their ends alike. progress is called as each of
// names starts and finishes there (Index into names), from any
// goroutine; wait returns their results in the order of names (nil where
// a scenario left none: the process died, the run was cancelled) and how
// the process ended.
//
// Why another process: a gate that judges this process's fds, heap, RSS
// or child processes (ProcessWide) must run with nothing else in the
// process, so the in-process reference fetcher's suite used to run those
// gates one after the other and the rest only before them. In a process
// of their own the rest overlap them and the process-wide series stay
// the target's own (goroutines are counted by the target's pprof label
// either way).
type Beside func(ctx context.Context, opts Options, names []string, progress func(SuiteEvent)) (wait func() ([]*result.Scenario, error), err error)

// besideStart starts the pooled scenarios (indices into names) beside
// this process when opts.Beside is set and there are process-wide
// scenarios (alone) for them to overlap. It returns nil when they are
// to run here: no Beside, nothing to overlap, or a Beside that failed to
// start (logged).
func besideStart(ctx context.Context, names []string, pooled, alone []int, opts Options, report func(SuiteEvent)) func() ([]*result.Scenario, error) {
	if opts.Beside == nil || len(pooled) == 0 || len(alone) == 0 {
		return nil
	}
	return besideRun(ctx, names, pooled, opts, report)
}

// besideRun starts the scenarios pooled (indices into names) in
// opts.Beside's process; nil when it cannot (logged).
func besideRun(ctx context.Context, names []string, pooled []int, opts Options, report func(SuiteEvent)) func() ([]*result.Scenario, error) {
	part := make([]string, len(pooled))
	for j, i := range pooled {
		part[j] = names[i]
	}
	wait, err := opts.Beside(ctx, opts, part, func(ev SuiteEvent) {
		if ev.Index < 0 || ev.Index >= len(pooled) {
			return
		}
		ev.Index, ev.Total = pooled[ev.Index], len(names)
		report(ev)
	})
	if err != nil {
		opts.Logger.Warn("scenarios not started beside this process: they run here", "scenarios", part, "err", err)
		return nil
	}
	return wait
}

// besideCollect puts the results of the scenarios that ran beside this
// process into out and returns the pooled indices left without one (the
// process died before them; none when the run was cancelled) and how the
// process ended.
func besideCollect(ctx context.Context, wait func() ([]*result.Scenario, error), pooled []int, out []*result.Scenario, opts Options) ([]int, error) {
	res, err := wait()
	var left []int
	for j, i := range pooled {
		if j < len(res) && res[j] != nil {
			out[i] = res[j]
		} else {
			left = append(left, i)
		}
	}
	if ctx.Err() != nil {
		return nil, err
	}
	if err != nil {
		opts.Logger.Warn("scenarios beside this process ended early", "err", err, "left", len(left))
	}
	return left, err
}

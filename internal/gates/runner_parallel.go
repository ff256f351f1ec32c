package gates

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/gitchaos/gitchaos/harness/metric"
	"github.com/gitchaos/gitchaos/harness/result"
)

// DefaultParallel is how many scenarios of a suite run at a time when
// Options.Parallel is 0: the gates that judge nothing process-wide (see
// ProcessWide) overlap this many at a time, each on its own testbed and
// target; the others run alone. Two, not all six: the in-process target
// answers its API on the harness's own Go runtime, so every scenario
// beside it adds scheduling delay to the latencies it judges. Six at
// once under a load average of 13 on 2 cores took offline's API p99 to
// 21–148 ms (budget 100 ms: one false failure in five runs); two at once
// 14–17 ms; one at a time 6–12 ms (BENCHMARKS.md, "Base against head").
const DefaultParallel = 2

// ProcessWide reports whether gate judges a metric that a target sharing
// the harness's process (the in-process reference fetcher) can only
// report for the whole process: a declared check of the gate measures a
// metric that harness/metric's table has read from this process (Self:
// fds, goroutines, threads, heap) or from its process tree (Tree:
// processes, where another scenario's child processes would count). Such
// a gate runs alone: a scenario beside it would add its own goroutines,
// fds and memory to the series it judges. Its other checks (a cache
// count, a latency) are the target's own.
func ProcessWide(gate string) bool {
	for _, c := range ChecksOf(gate) {
		if c.Metric == "" {
			continue
		}
		if r, ok := metric.Lookup(c.Metric); ok && r.ReadBy(metric.Self|metric.Tree) {
			return true
		}
	}
	return false
}

// runScenarios runs the scenarios names in a suite run and returns their
// results in the order of names. When the targets are fresh (a new one
// per scenario) and parallel > 1, the scenarios that judge nothing
// process-wide run parallel at a time, each with its own testbed and
// target: in opts.Beside's process while this one runs the process-wide
// ones alone, or, without a Beside, here first and the process-wide ones
// after them, one at a time with nothing beside them. Otherwise one at a
// time, in order. With opts.Isolate and a Beside the whole suite runs in
// the Beside's process. progress is called as each starts and finishes
// (serialised: never two calls at once).
func runScenarios(ctx context.Context, names []string, opts Options, progress func(SuiteEvent)) []*result.Scenario {
	out := make([]*result.Scenario, len(names))
	var mu sync.Mutex // progress
	report := func(ev SuiteEvent) {
		if progress != nil {
			mu.Lock()
			progress(ev)
			mu.Unlock()
		}
	}
	one := func(i int) {
		sc, _ := Lookup(names[i])
		report(SuiteEvent{Index: i, Total: len(names), Name: names[i]})
		res := RunOne(ctx, sc, opts)
		out[i] = res
		report(SuiteEvent{Index: i, Total: len(names), Name: names[i], Result: res})
	}
	parallel := opts.Parallel
	if parallel == 0 {
		parallel = DefaultParallel
	}
	var alone, pooled []int
	for i, n := range names {
		if parallel > 1 && opts.Targets.Fresh() && !ProcessWide(n) {
			pooled = append(pooled, i)
		} else {
			alone = append(alone, i)
		}
	}
	runPooled := func(idx []int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, parallel)
		for _, i := range idx {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				one(i)
			})
		}
		wg.Wait()
	}
	if opts.Isolate && opts.Beside != nil {
		// The whole suite in the other process (runner_beside.go).
		all := make([]int, len(names))
		for i := range all {
			all[i] = i
		}
		if wait := besideRun(ctx, names, all, opts, report); wait != nil {
			// What the process left undone is not run here: here it
			// would not be isolated (it errs, named, instead).
			left, err := besideCollect(ctx, wait, all, out, opts)
			for _, i := range left {
				out[i] = &result.Scenario{Name: names[i], Seed: opts.Seed,
					Error: fmt.Sprintf("not run: the process it was isolated in ended before it: %v", err)}
			}
			return slices.DeleteFunc(out, func(r *result.Scenario) bool { return r == nil })
		}
	}
	// The pooled scenarios run in another process beside the alone ones
	// when opts.Beside can start one (runner_beside.go), else here first.
	wait := besideStart(ctx, names, pooled, alone, opts, report)
	if wait == nil {
		if len(pooled) == 1 { // nothing to overlap with: keep the suite's order
			alone, pooled = append(alone, pooled...), nil
			slices.Sort(alone)
		}
		runPooled(pooled)
	}
	for _, i := range alone {
		if ctx.Err() != nil {
			break
		}
		one(i)
	}
	if wait != nil {
		left, _ := besideCollect(ctx, wait, pooled, out, opts)
		runPooled(left)
	}
	// A scenario never started (interrupted) leaves no result.
	return slices.DeleteFunc(out, func(r *result.Scenario) bool { return r == nil })
}

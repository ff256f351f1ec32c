package gates

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// newRun is the record of a run of opts.Kind (gate, matrix, soak) starting
// now.
func newRun(opts Options) *result.Run {
	now := time.Now().UTC()
	return &result.Run{
		ID:       fmt.Sprintf("%s-%d-%s", opts.Kind, opts.Seed, now.Format("20060102T150405Z")),
		Kind:     opts.Kind,
		Seed:     opts.Seed,
		Target:   opts.Targets.Describe(),
		Testbed:  opts.TestbedLabel(),
		Mutants:  mutantsOf(opts.Targets),
		Started:  now,
		Versions: versions(),
	}
}

// mutantsOf names the historical bugs f's targets have switched back on,
// for the report: the factory says, so the report cannot disagree with it.
func mutantsOf(f target.Factory) []string {
	if m, ok := f.(target.Mutated); ok {
		return m.MutantNames()
	}
	return nil
}

// SuiteEvent is a scenario of a suite run starting (Result nil) or
// finished.
type SuiteEvent struct {
	Index  int // 0-based position in the run
	Total  int // scenarios in the run
	Name   string
	Result *result.Scenario // nil when starting
}

// RunSuite runs the selected scenarios, each on a fresh testbed and
// target (those that judge nothing process-wide Options.Parallel at a
// time, the others alone: runScenarios), and returns the run's result,
// its scenarios in suite order. The error is for bad
// options only; everything else is in the result.
func RunSuite(ctx context.Context, opts Options) (*result.Run, error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	names := opts.Only
	if len(names) == 0 {
		names = Names()
	}
	t0 := time.Now() // monotonic: Started below is wall clock only
	run := newRun(opts)
	run.Scenarios = runScenarios(ctx, names, opts, opts.Progress)
	run.Duration = result.Secs(time.Since(t0))
	return run, nil
}

func versions() map[string]string {
	v := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v["go"] = bi.GoVersion
		v["gitchaos"] = bi.Main.Version
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/go-git/go-git/v5", "github.com/Shopify/toxiproxy/v2", "github.com/testcontainers/testcontainers-go":
				v[d.Path] = d.Version
			}
		}
	}
	return v
}

// RunOne runs one scenario on a fresh testbed and target.
func RunOne(ctx context.Context, sc *Gate, opts Options) *result.Scenario {
	opts.defaults()
	p, perr := params(sc, opts)
	res := &result.Scenario{Name: sc.Name, Seed: opts.Seed, Started: time.Now().UTC(), Params: paramsMap(p)}
	start := time.Now()
	defer func() { res.Duration = result.Secs(time.Since(start)) }()
	if opts.Strict {
		defer res.Strict() // last: after teardown's checks
	}
	if perr != nil {
		res.Error = perr.Error()
		return res
	}
	if opts.Testbeds == nil || opts.nilTestbed {
		res.Error = opts.Validate().Error()
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	settings := opts.Settings
	if sc.Settings != nil {
		settings = sc.Settings(settings)
	}
	runOn(ctx, ctx, sc.Name, max(sc.Hosts, 1), settings, opts, start, res, func(s *S) error {
		return sc.Run(ctx, s, p)
	})
	return res
}

// runOn is the lifecycle every run shares, a gate's or the soak's: it
// starts a testbed of hosts and a target with settings (both bounded by
// startCtx), runs body on the run's S, then tears down: faults recovered,
// scopes deleted from a target that outlives the run, the target closed,
// the testbed closed. Every failure, and a panic of body, lands in
// res.Error.
func runOn(ctx, startCtx context.Context, name string, hosts int, settings target.Settings, opts Options, start time.Time, res *result.Scenario, body func(*S) error) {
	logger := opts.Logger.With("scenario", name)
	tb, err := opts.Testbeds(startCtx, testbed.Options{Hosts: hosts, Seed: opts.Seed, Engine: opts.ServerEngine(), Logger: logger, Transport: opts.Transport})
	if err != nil {
		res.Error = fmt.Sprintf("start testbed: %v", err)
		return
	}
	defer func() {
		if err := tb.Close(); err != nil {
			res.Error = joinErr(res.Error, fmt.Sprintf("close testbed: %v", err))
		}
	}()
	t, err := opts.Targets.New(startCtx, settings)
	if err != nil {
		res.Error = fmt.Sprintf("start target: %v", err)
		return
	}
	s := newS(name, tb, t, opts, logger, start, res)
	defer s.teardown(ctx, t)
	defer func() {
		if r := recover(); r != nil {
			res.Error = joinErr(res.Error, fmt.Sprintf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	if err := body(s); err != nil {
		res.Error = joinErr(res.Error, err.Error())
	}
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// hashName is the FNV-1a hash of s: a scenario's random stream is
// seeded by the run's seed and its name.
func hashName(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// newS is the state of a scenario running on tb against t.
func newS(name string, tb testbed.Testbed, t target.Target, opts Options, logger *slog.Logger, start time.Time, res *result.Scenario) *S {
	s := &S{
		Name: name, Testbed: tb, Target: t, Client: t.Client(), Seed: opts.Seed,
		Rand:     rand.New(rand.NewPCG(uint64(opts.Seed), hashName(name))),
		Logger:   logger,
		Settings: t.Settings(), Crash: opts.Crash, Fresh: opts.Targets.Fresh(),
		start: start, res: res, rec: newRecorder(name, start, res),
	}
	s.scopes = &scopeSet{s: s}
	s.faults = newFaultStack(s.logFault)
	return s
}

// teardown ends a scenario: faults first (a target whose git work hangs
// forever, a mutant without timeouts, can only stop once its hosts answer
// again), then, on a target that outlives the run, the scopes it put
// (scopeSet.deleteAll), then the
// target is closed and its logs kept. Errors go to the scenario's result.
func (s *S) teardown(ctx context.Context, t target.Target) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := s.faults.recoverAll(cctx); err != nil {
		s.res.Error = joinErr(s.res.Error, fmt.Sprintf("recover faults: %v", err))
	}
	if !s.Fresh {
		s.scopes.deleteAll(cctx)
	}
	s.exitCheck(t)
	if err := t.Close(); err != nil {
		s.res.Error = joinErr(s.res.Error, fmt.Sprintf("close target: %v", err))
	}
	if l, ok := t.(target.LogKeeper); ok {
		s.res.Logs = append(s.res.Logs, keptFiles(l.Logs())...)
	}
}

// exitCheck fails the scenario when a process target exited without the
// harness stopping it, quoting the last lines of its logs (the logs stay
// run artifacts).
func (s *S) exitCheck(t target.Target) {
	er, ok := t.(target.ExitReporter)
	if !ok {
		return
	}
	if why := er.Exited(); why != "" {
		s.rec.Add(runnerTargetUp, result.Check{Measured: firstLine(why), Budget: "runs until the harness stops it",
			Verdict: result.Fail, Explanation: why})
	}
}

// The runner's own checks, recorded in any gate's scenario.
var (
	runnerTargetUp = declare("runner", "target-up", "target process stays up", "",
		"a process target does not exit or crash while the harness drives it").
		sometimes("only when a process target exited without the harness stopping it")
	// runnerNoCheck is result.Scenario.Strict's check (result.StrictNoCheckID).
	runnerNoCheck = declare("runner", "no-check", result.StrictNoCheckTitle, "",
		"under --strict, a scenario that recorded no check fails instead of passing quietly").
		sometimes("only under --strict, when the scenario recorded no check and no error")
)

// keptFiles are the paths that still exist (a target's logs outlive it
// only in an artifact dir).
func keptFiles(paths []string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

package scenarios

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// DefaultSettings are the target settings the gate suite runs with: small
// enough that timeouts cost about a second, large enough for real
// concurrency.
func DefaultSettings() target.Settings {
	return target.Settings{GitTimeout: time.Second, MaxWorkers: 8, SyncConcurrency: 8, Shards: 1}
}

// Options configure a suite run.
type Options struct {
	Targets     target.Factory // required
	Testbeds    TestbedFactory // nil: the local testbed
	TestbedKind string         // for the report ("local" when Testbeds is nil)
	// Engine is the local testbed's git server engine ("": the one the
	// target's client works best with, see ServerEngine).
	Engine    gitserver.Engine
	Settings  target.Settings // zero: DefaultSettings
	Seed      int64
	Only      []string       // scenario names (nil: the whole suite)
	Params    map[string]any // scenario name -> params struct (nil entries: defaults)
	Scopes    int            // overrides the scopes parameter of scenarios that have one
	MaxCycles int            // overrides the cycle cap of the adaptive leak gates (churn, repeat-sync)
	Crash     target.Factory // killable process targets for crash-restart (nil: skipped)
	Logger    *slog.Logger
	Kind      string        // gate, matrix, soak (for the report)
	Mutants   []string      // for the report
	Timeout   time.Duration // per scenario (0: DefaultTimeout(Scopes))
	// Progress, when set, is called as each scenario of RunSuite starts
	// (Result nil) and as it finishes, from the goroutine running the suite.
	Progress func(SuiteEvent)

	nilTestbed bool // WithTestbed was given a nil factory
	// Strict turns every skipped check into a failure (--strict): a
	// gate whose input is missing then fails instead of passing quietly.
	Strict bool
}

func (o *Options) defaults() {
	if o.Settings == (target.Settings{}) {
		o.Settings = DefaultSettings()
	}
	if o.Testbeds == nil && !o.nilTestbed && (o.TestbedKind == "" || o.TestbedKind == "local") {
		o.Testbeds = testbed.NewLocal
		if o.TestbedKind == "" {
			o.TestbedKind = "local"
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout(o.Scopes)
	}
	if o.Kind == "" {
		o.Kind = "gate"
	}
}

// DefaultTimeout is how long a scenario may run before it is given up on:
// 3 min, or 4 s per scope when scopes (Options.Scopes) asks for more. The
// leak gates' cycles put, clone, refresh and delete every scope: churn at
// 200 scopes takes about 25 s a cycle on a 2-core machine, and at least 12
// cycles.
func DefaultTimeout(scopes int) time.Duration {
	return max(3*time.Minute, time.Duration(scopes)*4*time.Second)
}

// Validate reports what is wrong with the options.
func (o *Options) Validate() error {
	if o.Targets == nil {
		return errors.New("scenarios: no target factory")
	}
	if o.nilTestbed || o.Testbeds == nil {
		return fmt.Errorf("scenarios: testbed %q has a nil factory (WithTestbed(%q, nil)): pass the factory that starts it, e.g. scenarios.WithTestbed(\"docker\", docker.New) with package github.com/gitchaos/gitchaos/harness/testbed/docker", o.TestbedKind, o.TestbedKind)
	}
	for _, n := range o.Only {
		if _, err := Lookup(n); err != nil {
			return fmt.Errorf("scenarios: --only: %w", err)
		}
	}
	for n := range o.Params {
		if _, err := Lookup(n); err != nil {
			return fmt.Errorf("scenarios: params: %w", err)
		}
	}
	if o.Scopes < 0 {
		return fmt.Errorf("scenarios: scopes %d: must be >= 1", o.Scopes)
	}
	if err := o.Engine.Validate(); err != nil {
		return fmt.Errorf("scenarios: git server %w", err)
	}
	if o.Engine == gitserver.EngineHTTPBackend && o.TestbedKind == "docker" {
		return fmt.Errorf("scenarios: git server engine %q: the docker testbed serves %q only", o.Engine, gitserver.EngineGoGit)
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

// RunSuite runs the selected scenarios one after another, each on a fresh
// testbed and target, and returns the run's result. The error is for bad
// options only; everything else is in the result.
func RunSuite(ctx context.Context, opts Options) (*result.Run, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	names := opts.Only
	if len(names) == 0 {
		names = Names()
	}
	t0 := time.Now() // monotonic: Started below is wall clock only
	run := &result.Run{
		ID:       fmt.Sprintf("%s-%d-%s", opts.Kind, opts.Seed, time.Now().UTC().Format("20060102T150405Z")),
		Kind:     opts.Kind,
		Seed:     opts.Seed,
		Target:   opts.Targets.Describe(),
		Testbed:  opts.TestbedLabel(),
		Mutants:  opts.Mutants,
		Started:  time.Now().UTC(),
		Versions: versions(),
	}
	for i, n := range names {
		if ctx.Err() != nil {
			break
		}
		sc, _ := Lookup(n)
		if opts.Progress != nil {
			opts.Progress(SuiteEvent{Index: i, Total: len(names), Name: n})
		}
		res := RunOne(ctx, sc, opts)
		run.Scenarios = append(run.Scenarios, res)
		if opts.Progress != nil {
			opts.Progress(SuiteEvent{Index: i, Total: len(names), Name: n, Result: res})
		}
	}
	run.Duration = result.Secs(time.Since(t0))
	return run, nil
}

// ServerEngine is the git server engine of the local testbed for a run
// of o: Engine when set; else go-git's own server for the in-process
// reference fetcher, whose client is go-git (a clone takes 2.8 ms against
// it and 12–14 ms against `git http-backend`, which forks a git process
// pair per request: churn's 8 scopes × 12 cycles ran 1,650 of them, three
// quarters of the CPU), and git's own server (`git http-backend`) for
// every other target: the git command and libgit2 speak protocol v2 with
// it (61–69 ms a clone, 105–119 ms against go-git's server;
// BENCHMARKS.md). "" on any other testbed (docker serves go-git only).
func (o Options) ServerEngine() gitserver.Engine {
	if o.Engine != "" || (o.TestbedKind != "" && o.TestbedKind != "local") {
		return o.Engine
	}
	if _, ok := o.Targets.(*target.InProcess); ok {
		return gitserver.EngineGoGit
	}
	return gitserver.EngineHTTPBackend
}

// TestbedLabel names the testbed for reports: its kind, and on the local
// testbed the git server engine ("local (go-git server)").
func (o Options) TestbedLabel() string {
	kind := o.TestbedKind
	if kind == "" {
		kind = "local"
	}
	if e := o.ServerEngine(); e != "" && kind == "local" {
		return fmt.Sprintf("%s (%s server)", kind, e)
	}
	return kind
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

// params returns the scenario's params: its defaults with every non-zero
// field of the caller's params (WithParams) laid over them, then the scopes
// and cycle-cap overrides applied. Params of another scenario's type are an
// error naming both types.
func params(sc *Scenario, opts Options) (any, error) {
	p := sc.Params()
	var err error
	switch user := opts.Params[sc.Name].(type) {
	case nil:
	case partialParams:
		p, err = overlay(p, user.p)
	default: // complete: decoded onto the defaults (a suite file)
		if p != nil && reflect.TypeOf(user) != reflect.TypeOf(p) {
			err = fmt.Errorf("got %T, want %T", user, p)
		}
		p = user
	}
	if err != nil {
		return nil, fmt.Errorf("params of %s: %w", sc.Name, err)
	}
	if opts.Scopes > 0 {
		if sp, ok := p.(interface{ setScopes(int) }); ok {
			sp.setScopes(opts.Scopes)
		}
	}
	if opts.MaxCycles > 0 {
		if sp, ok := p.(interface{ setMaxCycles(int) }); ok {
			sp.setMaxCycles(opts.MaxCycles)
		}
	}
	return p, nil
}

// partialParams are params given through WithParams: their zero fields
// take the scenario's defaults. A suite file's params are decoded onto the
// defaults and used as they are, explicit zeros included.
type partialParams struct{ p any }

// overlay returns a copy of def (a pointer to a params struct) with every
// exported field that is non-zero in user (the same pointer type) taken
// from user: a partly filled params struct keeps the defaults it leaves
// out (&BootParams{Scopes: 48} keeps its budgets).
func overlay(def, user any) (any, error) {
	if def == nil {
		return user, nil
	}
	dv, uv := reflect.ValueOf(def), reflect.ValueOf(user)
	if uv.Type() != dv.Type() {
		return nil, fmt.Errorf("got %T, want %T", user, def)
	}
	if uv.IsNil() {
		return def, nil
	}
	out := reflect.New(dv.Type().Elem())
	out.Elem().Set(dv.Elem())
	for i := range uv.Elem().NumField() {
		f := uv.Elem().Field(i)
		if dv.Type().Elem().Field(i).IsExported() && !f.IsZero() {
			out.Elem().Field(i).Set(f)
		}
	}
	return out.Interface(), nil
}

// RunOne runs one scenario on a fresh testbed and target.
func RunOne(ctx context.Context, sc *Scenario, opts Options) *result.Scenario {
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
	tb, err := opts.Testbeds(ctx, testbed.Options{Hosts: max(sc.Hosts, 1), Seed: opts.Seed, Engine: opts.ServerEngine(), Logger: opts.Logger.With("scenario", sc.Name)})
	if err != nil {
		res.Error = fmt.Sprintf("start testbed: %v", err)
		return res
	}
	defer func() {
		if err := tb.Close(); err != nil {
			res.Error = joinErr(res.Error, fmt.Sprintf("close testbed: %v", err))
		}
	}()
	t, err := opts.Targets.New(ctx, settings)
	if err != nil {
		res.Error = fmt.Sprintf("start target: %v", err)
		return res
	}
	s := newS(sc.Name, tb, t, opts, opts.Logger.With("scenario", sc.Name), start, res)
	defer s.teardown(ctx, t, nil)
	func() {
		defer func() {
			if r := recover(); r != nil {
				res.Error = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		if err := sc.Run(ctx, s, p); err != nil {
			res.Error = err.Error()
		}
	}()
	return res
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
	return &S{
		Name: name, TB: tb, T: t, C: t.Client(), Seed: opts.Seed,
		Rand:     rand.New(rand.NewPCG(uint64(opts.Seed), hashName(name))),
		Logger:   logger,
		Settings: t.Settings(), Crash: opts.Crash, Fresh: opts.Targets.Fresh(),
		start: start, res: res,
	}
}

// teardown ends a scenario: faults first (a target whose git work hangs
// forever, a mutant without timeouts, can only stop once its hosts answer
// again), then, on a target that outlives the run, the scopes it put
// (cleanup runs first for scopes the scenario tracks itself), then the
// target is closed and its logs kept. Errors go to the scenario's result.
func (s *S) teardown(ctx context.Context, t target.Target, cleanup func(context.Context)) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := s.recoverAll(cctx); err != nil {
		s.res.Error = joinErr(s.res.Error, fmt.Sprintf("recover faults: %v", err))
	}
	if !s.Fresh {
		if cleanup != nil {
			cleanup(cctx)
		}
		s.deleteScopes(cctx)
	}
	s.exitCheck(t)
	if err := t.Close(); err != nil {
		s.res.Error = joinErr(s.res.Error, fmt.Sprintf("close target: %v", err))
	}
	if l, ok := t.(interface{ Logs() []string }); ok {
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
		s.AddCheck(result.Check{Name: "target process stays up", Measured: firstLine(why), Budget: "runs until the harness stops it",
			Verdict: result.Fail, Explanation: why})
	}
}

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

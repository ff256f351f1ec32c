package gates

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
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
	Transport string          // the git hosts' transport: "http" ("") or "ssh" (transport.go)
	Settings  target.Settings // zero: DefaultSettings
	Seed      int64
	Only      []string       // scenario names (nil: the whole suite)
	Params    map[string]any // scenario name -> params struct (nil entries: defaults)
	Scopes    int            // overrides the scopes parameter of scenarios that have one
	MaxCycles int            // overrides the cycle cap of the adaptive leak gates (churn, repeat-sync)
	Crash     target.Factory // killable process targets for crash-restart (nil: skipped)
	Logger    *slog.Logger
	Kind      string        // gate, matrix, soak (for the report)
	Timeout   time.Duration // per scenario (0: DefaultTimeout(Scopes))
	// Progress, when set, is called as each scenario of RunSuite starts
	// (Result nil) and as it finishes; never two calls at once, but from
	// the goroutine of the scenario when scenarios overlap.
	Progress func(SuiteEvent)
	// Parallel is how many scenarios that judge nothing process-wide
	// (ProcessWide) RunSuite runs at a time on fresh targets (0:
	// DefaultParallel; 1: every scenario alone, in suite order).
	Parallel int
	// Beside, when set, runs the scenarios that judge nothing
	// process-wide in another process while this one runs the
	// process-wide gates alone (runner_beside.go); nil, or a Beside that
	// cannot start, runs them here first.
	Beside Beside
	// Isolate, with Beside, runs the whole suite in the other process
	// (its process-wide gates alone there, the rest first): a matrix
	// row isolated so is judged on its own process's fds and memory and
	// may run beside other rows. Without a Beside, or one that cannot
	// start, it has no effect.
	Isolate bool

	nilTestbed bool // WithTestbed was given a nil factory
	sshHanded  bool // handSSH gave the targets the host key
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
	_ = o.handSSH() // an error surfaces where a scope is made
}

// DefaultTimeout is how long a scenario may run before it is given up on:
// 3 min, or 4 s per scope when scopes (Options.Scopes) asks for more. The
// leak gates' cycles put, clone, refresh and delete every scope: churn at
// 200 scopes takes about 25 s a cycle on a 2-core machine, and at least 12
// cycles.
func DefaultTimeout(scopes int) time.Duration {
	return max(3*time.Minute, time.Duration(scopes)*4*time.Second)
}

// Validate reports what is wrong with the options, their defaults
// applied (a nil testbed factory is the local testbed unless SetTestbed
// named another), and with the params of every gate they run: RunSuite
// and RunOne start nothing when it fails.
func (o *Options) Validate() error {
	c := *o
	c.defaults()
	return c.validate()
}

// validate is Validate on options whose defaults are applied.
func (o *Options) validate() error {
	if err := o.validateRun(); err != nil {
		return err
	}
	return o.validateParams()
}

// validateRun checks what every run needs (gate or soak): a target
// factory that validates (an Exec's command, a URL), valid target
// settings, a testbed factory, known scenario names, the scopes override
// and the git server engine.
func (o *Options) validateRun() error {
	if o.Targets == nil {
		return errors.New("scenarios: no target factory")
	}
	for _, f := range []target.Factory{o.Targets, o.Crash} {
		if v, ok := f.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return fmt.Errorf("scenarios: %w", err)
			}
		}
	}
	if err := o.Settings.Validate(); err != nil {
		return fmt.Errorf("scenarios: settings: %w", err)
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
	if err := testbed.ValidateTransport(o.Transport); err != nil {
		return fmt.Errorf("scenarios: %w", err)
	}
	return nil
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
	if _, ok := o.Targets.(*inprocess.Factory); ok {
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

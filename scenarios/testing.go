package scenarios

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// Option adjusts a scenario run from a Go test.
type Option func(*Options)

// WithSeed sets the seed (default 1).
func WithSeed(seed int64) Option { return func(o *Options) { o.Seed = seed } }

// WithTestbed runs on another testbed (default: the local one); kind names
// it in the report. f starts it and must not be nil (the run fails with an
// error naming the problem): the docker testbed is
// WithTestbed("docker", docker.New) with package
// github.com/gitchaos/gitchaos/harness/testbed/docker.
func WithTestbed(kind string, f TestbedFactory) Option {
	return func(o *Options) { o.Testbeds, o.TestbedKind, o.nilTestbed = f, kind, f == nil }
}

// WithSettings sets the target settings budgets use (default
// DefaultSettings).
func WithSettings(s target.Settings) Option { return func(o *Options) { o.Settings = s } }

// WithParams sets the scenario's parameters: a pointer to its params
// struct (e.g. &scenarios.ChurnParams{Cycles: 20}). Fields left zero keep
// the scenario's defaults (a suite file can set an explicit zero); params
// of another type make the scenario an error naming both types.
func WithParams(name string, p any) Option {
	return func(o *Options) {
		if o.Params == nil {
			o.Params = map[string]any{}
		}
		o.Params[name] = partialParams{p}
	}
}

// WithTimeout bounds the scenario (default 3 min).
func WithTimeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// WithScopes overrides the scope count.
func WithScopes(n int) Option { return func(o *Options) { o.Scopes = n } }

// WithCrashTarget gives crash-restart a process target to kill.
func WithCrashTarget(f target.Factory) Option { return func(o *Options) { o.Crash = f } }

// Run runs one scenario against targets from a Go test and fails t (with
// every failed check's numbers) unless every check passed or was skipped.
// It returns the scenario's result for further assertions.
func Run(t testing.TB, name string, targets target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	res := RunResult(t, name, targets, opts...)
	if v := res.Verdict(); v == result.Fail || v == result.Error {
		t.Errorf("gate %s %s against %s:\n%s", name, strings.ToUpper(string(v)), targets.Describe(), Explain(res))
	}
	return res
}

// RunResult runs one scenario and returns its result without judging it
// (for tests that expect a gate to fail, e.g. against a mutant). Harness
// setup errors still fail t.
func RunResult(t testing.TB, name string, targets target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	sc, err := Lookup(name)
	if err != nil {
		t.Fatalf("scenarios.Run: %v", err)
	}
	o := Options{Targets: targets, Seed: 1, Logger: testLogger(t)}
	for _, opt := range opts {
		opt(&o)
	}
	o.defaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("scenarios.Run: %v", err)
	}
	ctx := context.Background()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, has := d.Deadline(); has {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
			defer cancel()
		}
	}
	return RunOne(ctx, sc, o)
}

// Explain renders a scenario's checks, failing ones with their numbers.
func Explain(res *result.Scenario) string {
	var b strings.Builder
	for _, c := range res.Checks {
		fmt.Fprintf(&b, "  %-5s %s: measured %s, budget %s", strings.ToUpper(string(c.Verdict)), c.Name, c.Measured, c.Budget)
		if c.Verdict != result.Pass && c.Explanation != "" {
			fmt.Fprintf(&b, " — %s", c.Explanation)
		}
		b.WriteByte('\n')
	}
	if res.Error != "" {
		fmt.Fprintf(&b, "  ERROR %s\n", res.Error)
	}
	return b.String()
}

// Boot runs the cold-boot gate from a Go test: see Run.
func Boot(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "boot", f, opts...)
}

// Offline runs the offline-isolation gate from a Go test: see Run.
func Offline(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "offline", f, opts...)
}

// Timeout runs the timeout-precision gate from a Go test: see Run.
func Timeout(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "timeout", f, opts...)
}

// Recovery runs the recovery-and-flapping gate from a Go test: see Run.
func Recovery(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "recovery", f, opts...)
}

// Churn runs the scope-churn leak gate from a Go test: see Run.
func Churn(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "churn", f, opts...)
}

// RepeatSync runs the repeat-sync leak gate from a Go test: see Run.
func RepeatSync(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "repeat-sync", f, opts...)
}

// DeleteHang runs the delete-during-a-hang gate from a Go test: see Run.
func DeleteHang(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "delete-hang", f, opts...)
}

// WebhookStorm runs the webhook-storm gate from a Go test: see Run.
func WebhookStorm(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "webhook-storm", f, opts...)
}

// CrashRestart runs the crash-and-restart gate (give it WithCrashTarget or a process target) from a Go test: see Run.
func CrashRestart(t testing.TB, f target.Factory, opts ...Option) *result.Scenario {
	t.Helper()
	return Run(t, "crash-restart", f, opts...)
}

// testLogger sends harness logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

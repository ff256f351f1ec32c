// Package scenarios runs gitchaos's gates from a Go test, against your own
// server or the reference fetcher: one function per gate, each taking its
// params by value, whose zero fields keep the gate's defaults.
//
//	func TestChurn(t *testing.T) {
//		srv := &target.Exec{Template: "python3 server.py --listen {addr} --base-dir {base_dir}"}
//		scenarios.Churn(t, srv, scenarios.ChurnParams{Cycles: 20})
//	}
//
// A gate fails t with every failed check's numbers and returns the
// result for further assertions; Measure runs one without judging it (a
// test that expects a gate to fail). Suite lists every gate with its
// defaults, in the order gitchaos gate runs them.
//
// Each gate starts its own testbed (git servers behind toxiproxy on
// loopback; WithTestbed for the docker one) and a fresh target from the
// factory, and leaves nothing running when it returns. A zero field cannot
// be asked for through a params struct (it means "the default"): a suite
// file (gitchaos gate -f) can set explicit zeros. The gates, their checks
// and budgets are described in docs/gates.md.
package scenarios

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// Gate is one gate with its params: every XxxParams type below is one.
type Gate interface {
	GateName() string
}

// The params of each gate (go doc github.com/gitchaos/gitchaos/internal/gates.ChurnParams
// lists a type's fields and their defaults).
type (
	BootParams         = gates.BootParams
	OfflineParams      = gates.OfflineParams
	TimeoutParams      = gates.TimeoutParams
	RecoveryParams     = gates.RecoveryParams
	ChurnParams        = gates.ChurnParams
	RepeatSyncParams   = gates.RepeatSyncParams
	DeleteHangParams   = gates.DeleteHangParams
	WebhookStormParams = gates.WebhookStormParams
	CrashRestartParams = gates.CrashRestartParams
	DiskFullParams     = gates.DiskFullParams // opt-in: not in Suite()
)

// SoakParams size a soak: Duration is required, other zero fields take
// their defaults (go doc github.com/gitchaos/gitchaos/internal/gates.SoakParams).
type SoakParams = gates.SoakParams

// TestbedFactory starts a testbed (WithTestbed).
type TestbedFactory = gates.TestbedFactory

// Suite returns every gate with its default params, in suite order.
func Suite() []Gate {
	out := make([]Gate, len(gates.Suite))
	for i, sc := range gates.Suite {
		out[i] = reflect.ValueOf(sc.Params()).Elem().Interface().(Gate)
	}
	return out
}

// DefaultSettings are the target settings the gates run with unless
// WithSettings says otherwise: a 1 s git timeout, 8 workers.
func DefaultSettings() target.Settings { return gates.DefaultSettings() }

// Check runs gate g against targets from f and fails t (with every failed
// check's numbers) unless every check passed or was skipped. It returns
// the result for further assertions.
func Check(t testing.TB, f target.Factory, g Gate, opts ...Option) *result.Scenario {
	t.Helper()
	res := Measure(t, f, g, opts...)
	failUnlessPassed(t, "gate "+res.Name, f, res)
	return res
}

// Measure runs gate g and returns its result without judging it (for a
// test that expects a gate to fail, e.g. against a mutant). A setup error
// (bad options, a nil factory) still fails t.
func Measure(t testing.TB, f target.Factory, g Gate, opts ...Option) *result.Scenario {
	t.Helper()
	if g == nil {
		t.Fatal("scenarios: no gate (pass its params, e.g. scenarios.ChurnParams{})")
	}
	sc, err := gates.Lookup(g.GateName())
	if err != nil {
		t.Fatalf("scenarios: %v", err)
	}
	o := runOptions(t, f, opts)
	o.Only = []string{sc.Name} // Validate checks this gate's params only
	if p := pointerTo(g); p != nil {
		o.Params = map[string]any{sc.Name: gates.PartialParams{P: p}}
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("scenarios: %v", err)
	}
	ctx, cancel := testContext(t)
	defer cancel()
	return gates.RunOne(ctx, sc, o)
}

// Soak runs a soak against targets from f: seeded steps (faults, scope
// churn, webhooks) for p.Duration, judged for flatness at each window's
// quiet point and in total (docs/soak.md). It fails t unless every check
// passed or was skipped and returns the result; WithTimeout does not apply
// (the soak's length is p.Duration).
func Soak(t testing.TB, f target.Factory, p SoakParams, opts ...Option) *result.Scenario {
	t.Helper()
	o := gates.SoakOptions{Options: runOptions(t, f, opts), SoakParams: p}
	ctx, cancel := testContext(t)
	defer cancel()
	run, err := gates.RunSoak(ctx, o)
	if err != nil {
		t.Fatalf("scenarios: soak: %v", err)
	}
	res := run.Scenarios[0]
	failUnlessPassed(t, "soak", f, res)
	return res
}

// runOptions are the options of a run from a Go test: targets from f
// (which must not be nil), seed 1, harness logs to t, then opts.
func runOptions(t testing.TB, f target.Factory, opts []Option) gates.Options {
	t.Helper()
	if f == nil {
		t.Fatal("scenarios: no target factory")
	}
	o := gates.Options{Targets: f, Seed: 1, Logger: testLogger(t)}
	for _, opt := range opts {
		opt.apply(&o)
	}
	return o
}

// failUnlessPassed fails t, with every failed check's numbers, when what
// (a gate or the soak) failed or could not finish against f's targets.
func failUnlessPassed(t testing.TB, what string, f target.Factory, res *result.Scenario) {
	t.Helper()
	if v := res.Verdict(); v == result.Fail || v == result.Error {
		t.Errorf("%s %s against %s:\n%s", what, strings.ToUpper(string(v)), f.Describe(), gates.Explain(res))
	}
}

// testContext ends 5 s before t's deadline, if it has one, so that a run
// cut short still reports what it measured.
func testContext(t testing.TB) (context.Context, context.CancelFunc) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, has := d.Deadline(); has {
			return context.WithDeadline(context.Background(), dl.Add(-5*time.Second))
		}
	}
	return context.WithCancel(context.Background())
}

// pointerTo returns a pointer to a copy of g's params (nil for a nil
// pointer: the defaults).
func pointerTo(g Gate) any {
	v := reflect.ValueOf(g)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	return p.Interface()
}

// Boot runs the cold-boot gate: see Check.
func Boot(t testing.TB, f target.Factory, p BootParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// Offline runs the offline-isolation gate: see Check.
func Offline(t testing.TB, f target.Factory, p OfflineParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// Timeout runs the timeout-precision gate: see Check.
func Timeout(t testing.TB, f target.Factory, p TimeoutParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// Recovery runs the recovery-and-flapping gate: see Check.
func Recovery(t testing.TB, f target.Factory, p RecoveryParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// Churn runs the scope-churn leak gate: see Check.
func Churn(t testing.TB, f target.Factory, p ChurnParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// RepeatSync runs the repeat-sync leak gate: see Check.
func RepeatSync(t testing.TB, f target.Factory, p RepeatSyncParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// DeleteHang runs the delete-during-a-hang gate: see Check.
func DeleteHang(t testing.TB, f target.Factory, p DeleteHangParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// WebhookStorm runs the webhook-storm gate: see Check.
func WebhookStorm(t testing.TB, f target.Factory, p WebhookStormParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// CrashRestart runs the crash-and-restart gate: see Check. It kills
// targets of f if they are processes (target.Killer), else those of
// WithCrashTarget; with neither its checks are skipped.
func CrashRestart(t testing.TB, f target.Factory, p CrashRestartParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
}

// DiskFull runs the opt-in disk-full gate (not in Suite(): it mounts a
// tmpfs, so it needs root; without, its checks are skipped): see Check.
func DiskFull(t testing.TB, f target.Factory, p DiskFullParams, opts ...Option) *result.Scenario {
	t.Helper()
	return Check(t, f, p, opts...)
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

package gates

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// TestParamsDefaultsValidate: every gate's params have Validate, and the
// defaults pass it, with and without the --scopes and --max-cycles
// overrides at their smallest.
func TestParamsDefaultsValidate(t *testing.T) {
	for _, sc := range append(Suite[:len(Suite):len(Suite)], OptIn...) {
		p := sc.Params()
		v, ok := p.(interface{ Validate() error })
		if !ok {
			t.Errorf("%s: params %T have no Validate", sc.Name, p)
			continue
		}
		if err := v.Validate(); err != nil {
			t.Errorf("%s: defaults invalid: %v", sc.Name, err)
		}
		if _, err := params(sc, Options{Scopes: 1, MaxCycles: 1}); err != nil {
			t.Errorf("%s: defaults with --scopes 1 --max-cycles 1 invalid: %v", sc.Name, err)
		}
	}
}

// TestParamsValidate: per params type, invalid values and the exact
// error: the gate, the field as suite files spell it, the value.
func TestParamsValidate(t *testing.T) {
	badSpec := repogen.Spec{RegoFiles: 0, Commits: 1}
	for _, tc := range []struct {
		gate string
		set  func(p any)
		want string
	}{
		{"boot", func(p any) { p.(*BootParams).Repos = 0 }, "boot: repos 0: want >= 1"},
		{"boot", func(p any) { p.(*BootParams).Scopes = 4 }, "boot: scopes 4: want >= repos (12)"},
		{"boot", func(p any) { p.(*BootParams).Offline = -1 }, "boot: offline -1: want >= 0"},
		{"boot", func(p any) { p.(*BootParams).Latency = 0 }, "boot: latency 0s: want > 0"},
		{"boot", func(p any) { p.(*BootParams).Latency = 1500 * time.Microsecond }, "boot: latency 1.5ms: want a whole number of milliseconds (toxiproxy's unit)"},
		{"boot", func(p any) { p.(*BootParams).FirstBudget = -time.Second }, "boot: first_budget -1s: want >= 0"},
		{"boot", func(p any) { p.(*BootParams).AllBudget = -time.Second }, "boot: all_budget -1s: want >= 0"},
		{"boot", func(p any) { p.(*BootParams).FailedBudget = -time.Second }, "boot: failed_budget -1s: want >= 0"},
		{"boot", func(p any) { p.(*BootParams).Spec = badSpec }, "boot: spec: repogen: invalid spec: rego_files must be in [1, 10000], got 0"},
		{"offline", func(p any) { p.(*OfflineParams).HungFactor = 0 }, "offline: hung_factor 0: want >= 1"},
		{"offline", func(p any) { p.(*OfflineParams).FillHosts = 5 }, "offline: fill_hosts 5: want 1..4 (the dead hosts beside the hung and the live host of 6)"},
		{"offline", func(p any) { p.(*OfflineParams).ServeBudget = 0 }, "offline: serve_budget 0s: want > 0"},
		{"offline", func(p any) { p.(*OfflineParams).P99Budget = 0 }, "offline: p99_budget 0s: want > 0"},
		{"offline", func(p any) { p.(*OfflineParams).Window = -time.Second }, "offline: window -1s: want >= 0"},
		{"timeout", func(p any) { p.(*TimeoutParams).Clones = -1 }, "timeout: clones -1: want >= 0"},
		{"timeout", func(p any) { p.(*TimeoutParams).Fetches = -1 }, "timeout: fetches -1: want >= 0"},
		{"timeout", func(p any) { p.(*TimeoutParams).Clones, p.(*TimeoutParams).Fetches = 0, 0 }, "timeout: clones 0: want >= 1 when fetches is 0 (the gate times hung clones and fetches)"},
		{"timeout", func(p any) { p.(*TimeoutParams).Grace = -time.Second }, "timeout: grace -1s: want >= 0"},
		{"timeout", func(p any) { p.(*TimeoutParams).Stall = badSpec }, "timeout: stall: repogen: invalid spec: rego_files must be in [1, 10000], got 0"},
		{"recovery", func(p any) { p.(*RecoveryParams).Scopes = 0 }, "recovery: scopes 0: want >= 1"},
		{"recovery", func(p any) { p.(*RecoveryParams).Flap = -time.Second }, "recovery: flap -1s: want >= 0"},
		{"recovery", func(p any) { p.(*RecoveryParams).FlapUp = 0 }, "recovery: flap_up 0s: want > 0"},
		{"recovery", func(p any) { p.(*RecoveryParams).FlapDown = 0 }, "recovery: flap_down 0s: want > 0"},
		{"recovery", func(p any) { p.(*RecoveryParams).Settle = 0 }, "recovery: settle 0s: want > 0"},
		{"churn", func(p any) { p.(*ChurnParams).Cycles = 0 }, "churn: cycles 0: want >= 11 (3 warm-up, 3 floor, 5 judged)"},
		{"churn", func(p any) { p.(*ChurnParams).MaxCycles = -1 }, "churn: max_cycles -1: want >= 0 (0: the default cap)"},
		{"churn", func(p any) { p.(*ChurnParams).Scopes = 0 }, "churn: scopes 0: want >= 1"},
		{"churn", func(p any) { p.(*ChurnParams).Budgets = map[string]float64{"fds": -1} }, "churn: budgets.fds -1: want >= 0"},
		{"churn", func(p any) { p.(*ChurnParams).ScopeBudgets = map[string]float64{"sockets": 1} }, "churn: scope_budgets.sockets 1: want a leak metric (" + strings.Join(leakMetrics, ", ") + ")"},
		{"repeat-sync", func(p any) { p.(*RepeatSyncParams).Rounds = 10 }, "repeat-sync: rounds 10: want >= 11 (3 warm-up, 3 floor, 5 judged)"},
		{"repeat-sync", func(p any) { p.(*RepeatSyncParams).MaxRounds = -1 }, "repeat-sync: max_rounds -1: want >= 0 (0: the default cap)"},
		{"repeat-sync", func(p any) { p.(*RepeatSyncParams).Repos = 0 }, "repeat-sync: repos 0: want >= 1"},
		{"repeat-sync", func(p any) { p.(*RepeatSyncParams).Scopes = 2 }, "repeat-sync: scopes 2: want >= repos (4)"},
		{"repeat-sync", func(p any) { p.(*RepeatSyncParams).Budgets = map[string]float64{"fds": -2} }, "repeat-sync: budgets.fds -2: want >= 0"},
		{"delete-hang", func(p any) { p.(*DeleteHangParams).Scopes = 0 }, "delete-hang: scopes 0: want >= 1"},
		{"delete-hang", func(p any) { p.(*DeleteHangParams).DeleteBudget = 0 }, "delete-hang: delete_budget 0s: want > 0"},
		{"webhook-storm", func(p any) { p.(*WebhookStormParams).Scopes = 4 }, "webhook-storm: scopes 4: want 1..3 (one host each)"},
		{"webhook-storm", func(p any) { p.(*WebhookStormParams).PerScope = 1 }, "webhook-storm: per_scope 1: want >= 2"},
		{"webhook-storm", func(p any) { p.(*WebhookStormParams).Wave = -1 }, "webhook-storm: wave -1: want >= 0"},
		{"crash-restart", func(p any) { p.(*CrashRestartParams).Healthy = -1 }, "crash-restart: healthy -1: want >= 0"},
		{"crash-restart", func(p any) { p.(*CrashRestartParams).MidClone = 0 }, "crash-restart: mid_clone 0: want >= 1"},
		{"crash-restart", func(p any) { p.(*CrashRestartParams).ServeBudget = -time.Second }, "crash-restart: serve_budget -1s: want >= 0"},
		{"disk-full", func(p any) { p.(*DiskFullParams).Scopes = 1 }, "disk-full: scopes 1: want >= 2 (one fetched into the full disk, one that keeps serving)"},
		{"disk-full", func(p any) { p.(*DiskFullParams).Size = 4096 }, "disk-full: size 4096: want in [1 MiB, 1073741824]"},
	} {
		sc, err := Lookup(tc.gate)
		if err != nil {
			t.Fatal(err)
		}
		p := sc.Params()
		tc.set(p)
		err = p.(interface{ Validate() error }).Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate = %v\n want %s", tc.gate, err, tc.want)
		}
	}
}

// TestParamsValidateReportsEveryField: two bad fields, two lines.
func TestParamsValidateReportsEveryField(t *testing.T) {
	p := &ChurnParams{Cycles: 2, Scopes: 0}
	want := "churn: cycles 2: want >= 11 (3 warm-up, 3 floor, 5 judged)\nchurn: scopes 0: want >= 1"
	if err := p.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate = %v\nwant %s", err, want)
	}
}

// TestSoakParamsValidate: the soak's params, their defaults applied.
func TestSoakParamsValidate(t *testing.T) {
	ok := SoakParams{Duration: time.Minute}
	if err := ok.Validate(); err != nil {
		t.Fatalf("duration 1m, defaults: %v", err)
	}
	for _, tc := range []struct {
		p    SoakParams
		want string
	}{
		{SoakParams{}, "soak: duration 0s: must be > 0"},
		{SoakParams{Duration: time.Minute, Window: 500 * time.Millisecond}, "soak: window 500ms: must be >= 1s"},
		{SoakParams{Duration: time.Second, Window: time.Minute}, "soak: duration 1s is shorter than one window (1m0s)"},
		{SoakParams{Duration: time.Minute, Hosts: 4}, "soak: hosts 4: want 1 to 3"},
		{SoakParams{Duration: time.Minute, Pool: -1}, "soak: baseline 3, pool -1, max extra 24: each must be >= 1"},
		{SoakParams{Duration: time.Minute, StepsPerWindow: -1}, "soak: steps per window -1: must be >= 1"},
		{SoakParams{Duration: time.Minute, Budgets: map[string]float64{"nope": 1}}, "soak: budgets.nope 1: want a leak metric (" + strings.Join(leakMetrics, ", ") + ")"},
		{SoakParams{Duration: time.Minute, TotalBudgets: map[string]float64{"heap_bytes": -1}}, "soak: total_budgets.heap_bytes -1: want >= 0"},
	} {
		if err := tc.p.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: Validate = %v\nwant %s", tc.p, err, tc.want)
		}
	}
}

// countingTargets is a target factory that counts its calls and starts
// nothing.
type countingTargets struct{ n *atomic.Int32 }

func (countingTargets) Describe() string { return "counting targets" }
func (countingTargets) Fresh() bool      { return true }
func (f countingTargets) New(context.Context, target.Settings) (target.Target, error) {
	f.n.Add(1)
	return nil, context.Canceled
}

// countingTestbeds is a testbed factory that counts its calls and starts
// nothing.
func countingTestbeds(n *atomic.Int32) TestbedFactory {
	return func(context.Context, testbed.Options) (testbed.Testbed, error) {
		n.Add(1)
		return nil, context.Canceled
	}
}

// TestSuiteBadParamFailsBeforeAnyTestbed: a suite file whose churn params
// are wrong fails at once, though boot runs first: RunSuite returns the
// error within a second and no testbed factory was called; RunOne of the
// gate reports the same error without a testbed.
func TestSuiteBadParamFailsBeforeAnyTestbed(t *testing.T) {
	st, err := ParseSuite("bad.yaml", []byte("scenarios:\n  - name: boot\n  - name: churn\n    params: {cycles: 5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var started atomic.Int32
	o := Options{Targets: countingTargets{&started}, Testbeds: countingTestbeds(&started), Only: st.Only, Params: st.Params}
	const want = "churn: cycles 5: want >= 11 (3 warm-up, 3 floor, 5 judged)"
	if err := o.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
	t0 := time.Now()
	run, err := RunSuite(context.Background(), o)
	if took := time.Since(t0); err == nil || err.Error() != want || run != nil || took > time.Second {
		t.Errorf("RunSuite = %v, %v after %v; want no run and %q within 1s", run, err, took, want)
	}
	sc, _ := Lookup("churn")
	if res := RunOne(context.Background(), sc, o); res.Error != want {
		t.Errorf("RunOne error = %q, want %q", res.Error, want)
	}
	if n := started.Load(); n != 0 {
		t.Errorf("testbed or target factory called %d times, want 0", n)
	}
	// --scopes applies before validation: boot's scopes 4 with the file's
	// repos 12 is wrong alone, right after --scopes 24.
	st, err = ParseSuite("scopes.yaml", []byte("scenarios:\n  - name: boot\n    params: {scopes: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	o = Options{Targets: countingTargets{&started}, Testbeds: countingTestbeds(&started), Only: st.Only, Params: st.Params}
	if err := o.Validate(); err == nil || err.Error() != "boot: scopes 4: want >= repos (12)" {
		t.Errorf("boot scopes 4: Validate = %v", err)
	}
	o.Scopes = 24
	if err := o.Validate(); err != nil {
		t.Errorf("boot scopes 4 with --scopes 24: Validate = %v, want nil", err)
	}
}

// TestOptionsValidateSettingsAndTargets: a Go test's settings and target
// factory are checked before anything starts, not at "start target".
func TestOptionsValidateSettingsAndTargets(t *testing.T) {
	var started atomic.Int32
	o := Options{Targets: countingTargets{&started}, Testbeds: countingTestbeds(&started), Settings: target.Settings{GitTimeout: time.Second}}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "scenarios: settings: max workers 0: must be >= 1") {
		t.Errorf("partial settings: Validate = %v", err)
	}
	o = Options{Targets: &target.Exec{Template: "server --base-dir {base_dir}"}, Testbeds: countingTestbeds(&started)}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "neither {addr} nor {port}") {
		t.Errorf("exec target without {addr}: Validate = %v", err)
	}
	if n := started.Load(); n != 0 {
		t.Errorf("factories called %d times, want 0", n)
	}
}

package gates

import (
	"context"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
)

// TestWithTestbedNil: a nil testbed factory is an error naming the
// problem, never a silent run on the local testbed labelled "docker".
func TestWithTestbedNil(t *testing.T) {
	for _, kind := range []string{"docker", "local"} {
		o := Options{Targets: &inprocess.Factory{}}
		o.SetTestbed(kind, nil)
		o.defaults()
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), "nil factory") || !strings.Contains(err.Error(), `"`+kind+`"`) {
			t.Errorf("WithTestbed(%q, nil): Validate = %v, want an error naming the nil factory of %q", kind, err, kind)
		}
		if _, err := RunSuite(context.Background(), o); err == nil {
			t.Errorf("WithTestbed(%q, nil): RunSuite ran", kind)
		}
		sc, lerr := Lookup("offline")
		if lerr != nil {
			t.Fatal(lerr)
		}
		if res := RunOne(context.Background(), sc, o); !strings.Contains(res.Error, "nil factory") {
			t.Errorf("WithTestbed(%q, nil): RunOne error = %q, want the nil factory named", kind, res.Error)
		}
	}
	// The default (no WithTestbed) is the local testbed.
	o := Options{Targets: &inprocess.Factory{}}
	o.defaults()
	if err := o.Validate(); err != nil || o.TestbedKind != "local" || o.Testbeds == nil {
		t.Fatalf("default options: kind %q, factory set %v, Validate %v; want local", o.TestbedKind, o.Testbeds != nil, err)
	}
}

// TestPartialParamsKeepDefaults: WithParams with a partly filled struct
// keeps the defaults it leaves out (boot's budgets stayed 0 before, which
// failed every boot), and params of another scenario's type are an error
// naming both types instead of a panic.
func TestPartialParamsKeepDefaults(t *testing.T) {
	boot := bootGate
	o := Options{}
	o.Params = map[string]any{"boot": PartialParams{&BootParams{Scopes: 48}}}
	p, err := params(boot, o)
	if err != nil {
		t.Fatal(err)
	}
	def := boot.Params().(*BootParams)
	got := p.(*BootParams)
	if got.Scopes != 48 || got.FirstBudget != def.FirstBudget || got.AllBudget != def.AllBudget || got.Repos != def.Repos || got.Spec != def.Spec {
		t.Fatalf("params = %+v, want Scopes 48 and the defaults %+v for the rest", got, def)
	}
	if def.Scopes == 48 {
		t.Fatal("the default scopes are 48: the test cannot tell the overlay from the defaults")
	}

	o = Options{}
	o.Params = map[string]any{"boot": PartialParams{&ChurnParams{Cycles: 3}}}
	if _, err := params(boot, o); err == nil || !strings.Contains(err.Error(), "*gates.ChurnParams") || !strings.Contains(err.Error(), "*gates.BootParams") {
		t.Fatalf("params with a ChurnParams for boot: %v, want an error naming both types", err)
	}
	res := RunOne(context.Background(), boot, o)
	if !strings.Contains(res.Error, "params of boot") {
		t.Fatalf("RunOne with wrong params: error %q, want it to name the params of boot", res.Error)
	}
}

// TestEveryStepHasARunner: each kind of step the soak plans has the
// function that runs it, and no runner is left without a planned kind.
func TestEveryStepHasARunner(t *testing.T) {
	planned := map[string]bool{}
	for _, w := range stepWeights {
		planned[w.kind] = true
		if stepRunners[w.kind] == nil {
			t.Errorf("step kind %q is planned but has no runner", w.kind)
		}
	}
	for kind := range stepRunners {
		if !planned[kind] {
			t.Errorf("step kind %q has a runner but is never planned", kind)
		}
	}
}

package scenarios

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// fatalTB records the first Fatal of a run in its own goroutine and ends
// that goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// countingTargets counts the targets asked of it and starts none.
type countingTargets struct{ n *atomic.Int32 }

func (countingTargets) Describe() string { return "counting targets" }
func (countingTargets) Fresh() bool      { return true }
func (f countingTargets) New(context.Context, target.Settings) (target.Target, error) {
	f.n.Add(1)
	return nil, context.Canceled
}

// TestParamsValidatedBeforeAnyTestbed: a gate's params from a Go test are
// validated before its testbed or target starts; the test fails at once
// naming the gate, the field and the value. The soak's params too.
func TestParamsValidatedBeforeAnyTestbed(t *testing.T) {
	var started atomic.Int32
	testbeds := func(context.Context, testbed.Options) (testbed.Testbed, error) {
		started.Add(1)
		return nil, context.Canceled
	}
	f := countingTargets{&started}
	for _, tc := range []struct {
		name string
		run  func(tb testing.TB)
		want string
	}{
		{"churn", func(tb testing.TB) { Churn(tb, f, ChurnParams{Cycles: 5}, WithTestbed("counting", testbeds)) },
			"scenarios: churn: cycles 5: want >= 11 (3 warm-up, 3 floor, 5 judged)"},
		{"webhook-storm", func(tb testing.TB) {
			WebhookStorm(tb, f, WebhookStormParams{Scopes: 5}, WithTestbed("counting", testbeds))
		},
			"scenarios: webhook-storm: scopes 5: want 1..3 (one host each)"},
		{"soak", func(tb testing.TB) {
			Soak(tb, f, SoakParams{Duration: time.Minute, Budgets: map[string]float64{"fds": -1}}, WithTestbed("counting", testbeds))
		}, "scenarios: soak: soak: budgets.fds -1: want >= 0"},
	} {
		tb := &fatalTB{TB: t}
		t0 := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			tc.run(tb)
		}()
		<-done
		if took := time.Since(t0); tb.msg != tc.want || took > time.Second {
			t.Errorf("%s: fatal %q after %v, want %q within 1s", tc.name, tb.msg, took, tc.want)
		}
	}
	if n := started.Load(); n != 0 {
		t.Errorf("testbed or target factory called %d times, want 0", n)
	}
}

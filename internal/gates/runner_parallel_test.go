package gates

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// The gates that run alone follow from the declared checks and the metric
// table: those judging a metric read from this process or its tree.
func TestProcessWide(t *testing.T) {
	var got []string
	for _, n := range Names() {
		if ProcessWide(n) {
			got = append(got, n)
		}
	}
	if want := []string{"timeout", "churn", "repeat-sync"}; !slices.Equal(got, want) {
		t.Errorf("process-wide gates %v, want %v", got, want)
	}
	if !ProcessWide("soak") {
		t.Error("soak judges fds and memory: process-wide")
	}
}

// Overlapping scenarios still come back in suite order, each start and
// end reported once, never two progress calls at once.
func TestRunScenariosOrder(t *testing.T) {
	opts := Options{Targets: &inprocess.Factory{}, Parallel: 6,
		Testbeds: func(context.Context, testbed.Options) (testbed.Testbed, error) {
			return nil, errors.New("no testbed in this test")
		}}
	opts.defaults()
	names := Names()
	var inside atomic.Int32
	starts, ends := map[string]int{}, map[string]int{}
	res := runScenarios(context.Background(), names, opts, func(ev SuiteEvent) {
		if inside.Add(1) != 1 {
			t.Error("two progress calls at once")
		}
		defer inside.Add(-1)
		if ev.Result == nil {
			starts[ev.Name]++
		} else {
			ends[ev.Name]++
		}
	})
	var got []string
	for _, r := range res {
		got = append(got, r.Name)
		if !strings.Contains(r.Error, "no testbed") {
			t.Errorf("%s: error %q", r.Name, r.Error)
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("results in order %v, want %v", got, names)
	}
	for _, n := range names {
		if starts[n] != 1 || ends[n] != 1 {
			t.Errorf("%s: %d starts, %d ends", n, starts[n], ends[n])
		}
	}
}

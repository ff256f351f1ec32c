package gates

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
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

// With a Beside, the scenarios that judge nothing process-wide go to it
// (started before the process-wide ones run here), their events come
// back with the suite's indices, and the results keep suite order. A
// Beside that cannot start leaves them to run here; one that ends early
// leaves the rest to run here after the process-wide ones.
func TestRunScenariosBeside(t *testing.T) {
	names := Names()
	var pooledWant, aloneWant []string
	for _, n := range names {
		if ProcessWide(n) {
			aloneWant = append(aloneWant, n)
		} else {
			pooledWant = append(pooledWant, n)
		}
	}
	noTestbed := func(context.Context, testbed.Options) (testbed.Testbed, error) {
		return nil, errors.New("no testbed in this test")
	}
	for _, tc := range []struct {
		name     string
		startErr error
		keep     int // results the Beside hands back (the rest: it died)
		waitErr  error
		besides  []string // want run beside
		here     []string // want run here
	}{
		{name: "beside", keep: len(pooledWant), besides: pooledWant, here: aloneWant},
		{name: "cannot start", startErr: errors.New("no binary"), here: names},
		{name: "died after two", keep: 2, waitErr: errors.New("signal: killed"), besides: pooledWant[:2],
			here: append(append([]string{}, aloneWant...), pooledWant[2:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var here, besides []string
			aloneStarted := false
			opts := Options{Targets: &inprocess.Factory{}, Parallel: 2, Testbeds: noTestbed}
			opts.Beside = func(ctx context.Context, o Options, part []string, progress func(SuiteEvent)) (func() ([]*result.Scenario, error), error) {
				if tc.startErr != nil {
					return nil, tc.startErr
				}
				if !slices.Equal(part, pooledWant) {
					t.Errorf("beside got %v, want %v", part, pooledWant)
				}
				return func() ([]*result.Scenario, error) {
					mu.Lock()
					if !aloneStarted {
						t.Error("waited on before the process-wide gates ran")
					}
					mu.Unlock()
					res := make([]*result.Scenario, len(part))
					for j := range tc.keep {
						progress(SuiteEvent{Index: j, Name: part[j]})
						res[j] = &result.Scenario{Name: part[j], Error: "beside"}
						progress(SuiteEvent{Index: j, Name: part[j], Result: res[j]})
						mu.Lock()
						besides = append(besides, part[j])
						mu.Unlock()
					}
					return res, tc.waitErr
				}, nil
			}
			opts.defaults()
			events := map[string]int{}
			res := runScenarios(context.Background(), names, opts, func(ev SuiteEvent) {
				if names[ev.Index] != ev.Name || ev.Total != len(names) {
					t.Errorf("event %d/%d %s: index or total not the suite's", ev.Index, ev.Total, ev.Name)
				}
				events[ev.Name]++
				if ev.Result == nil && ProcessWide(ev.Name) {
					mu.Lock()
					aloneStarted = true
					mu.Unlock()
				}
				if ev.Result != nil && ev.Result.Error != "beside" {
					mu.Lock()
					here = append(here, ev.Name)
					mu.Unlock()
				}
			})
			var got []string
			for _, r := range res {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, names) {
				t.Errorf("results in order %v, want %v", got, names)
			}
			want := slices.Sorted(slices.Values(tc.here))
			slices.Sort(here)
			if !slices.Equal(here, want) {
				t.Errorf("ran here %v, want %v", here, tc.here)
			}
			if !slices.Equal(besides, tc.besides) {
				t.Errorf("ran beside %v, want %v", besides, tc.besides)
			}
			for _, n := range names {
				if events[n] != 2 {
					t.Errorf("%s: %d events, want a start and an end", n, events[n])
				}
			}
		})
	}
}

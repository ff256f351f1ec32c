package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
)

// The sample runs are what the gate produces: a passing gate, and a churn
// run against the fd-leak-on-delete mutant where fds grow +1.02/cycle.

var sampleStart = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func sampleVersions() map[string]string {
	return map[string]string{"gitchaos": "v0.1.0-dev", "go": "go1.26.8", "git": "2.39.5", "toxiproxy": "v2.12.0"}
}

// bootScenario: 20 scopes, host h2 blackholed from 2 s to 6 s.
func bootScenario(seed int64) *result.Scenario {
	var served []result.Point
	served = append(served, result.Point{X: 0, Y: 0})
	for i := 1; i <= 20; i++ {
		x := 0.3 + 0.15*float64(i)
		if i > 14 { // the scopes on h2 come in after the fault lifts
			x = 6.2 + 0.1*float64(i-14)
		}
		served = append(served, result.Point{X: x, Y: float64(i)})
	}
	return &result.Scenario{
		Name: "boot", Seed: seed, Started: sampleStart, Duration: 7.9,
		Params: map[string]any{"scopes": 20, "hosts": 3},
		Checks: []result.Check{
			{ID: "sample.all-served", Name: "all scopes served", Measured: "20/20", Budget: "20", Value: 20, Limit: 20, Unit: "count", Verdict: result.Pass, Series: "scopes served"},
			{ID: "sample.healthy-before-lift", Name: "healthy scopes served before fault lifts", Measured: "14/14 by 2.4 s", Budget: "<= 5 s", Value: 2.4, Limit: 5, Unit: "s", Verdict: result.Pass},
		},
		Series: []result.Series{{Name: "scopes served", Metric: MetricScopesServed, Unit: "count", XUnit: XUnitSeconds, Points: served}},
		Markers: []result.Marker{
			{At: 2, Label: "blackhole h2", Kind: result.MarkerFaultOn},
			{At: 6, Label: "blackhole h2", Kind: result.MarkerFaultOff},
		},
		Faults: []result.FaultEvent{
			{At: 2, Host: "h2", Fault: "blackhole", Action: "inject"},
			{At: 6, Host: "h2", Fault: "blackhole", Action: "recover"},
		},
	}
}

// timeoutScenario: 40 timed-out fetches overshooting by 5–40 ms.
func timeoutScenario(seed int64) *result.Scenario {
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	var pts []result.Point
	worst := 0.0
	for i := range 40 {
		y := 0.005 + 0.035*r.Float64()*r.Float64()
		worst = math.Max(worst, y)
		pts = append(pts, result.Point{X: float64(i), Y: y})
	}
	return &result.Scenario{
		Name: "timeout precision", Seed: seed, Started: sampleStart.Add(8 * time.Second), Duration: 12.5,
		Checks: []result.Check{{
			ID: "sample.overshoot", Name: "overshoot max", Measured: fmt.Sprintf("%.0f ms", worst*1e3), Budget: "<= 100 ms",
			Value: worst, Limit: 0.1, Unit: "s", Verdict: result.Pass, Series: "timeout overshoot",
			Explanation: "every fetch through the blackhole returned within 100 ms of its deadline",
		}},
		Series: []result.Series{{Name: "timeout overshoot", Metric: MetricTimeoutOvershoot, Unit: "s", XUnit: "op", Points: pts}},
	}
}

// churnScenario: 30 create/delete cycles; leak adds fdLeak fds per cycle.
func churnScenario(seed int64, fdLeak float64) *result.Scenario {
	r := rand.New(rand.NewPCG(uint64(seed), 11))
	const cycles = 30
	var fds, rss, heap, gor []result.Point
	for c := 1; c <= cycles; c++ {
		x := float64(c)
		warm := 0.0
		if c <= 3 {
			warm = float64(4-c) * 3
		}
		fds = append(fds, result.Point{X: x, Y: math.Round(40 + warm + fdLeak*x + r.Float64()*0.6)})
		rss = append(rss, result.Point{X: x, Y: 48<<20 + float64(c%4)*(1<<20) + r.Float64()*(256<<10)})
		heap = append(heap, result.Point{X: x, Y: 12<<20 + float64(c%3)*(512<<10) + r.Float64()*(128<<10)})
		gor = append(gor, result.Point{X: x, Y: 23 + float64(r.IntN(2))})
	}
	fit := func(slope, lo, hi, icpt, budget float64) *result.Fit {
		return &result.Fit{Method: "theil-sen", Slope: slope, Intercept: icpt, Low: lo, High: hi, FromX: 4, ToX: cycles, Budget: budget}
	}
	fdFit := fit(0, -0.02, 0.03, 40.3, 0)
	fdCheck := result.Check{ID: "sample.fds-flat", Name: "fds flat", Measured: "+0 fds/cycle", Budget: "<= 0 fds/cycle", Value: 0, Limit: 0, Unit: "fds/cycle", Verdict: result.Pass, Series: "fds per cycle",
		Explanation: "fd count returned to 40 after every cycle"}
	name := "churn"
	if fdLeak > 0 {
		name = "churn (fd-leak-on-delete)"
		fdFit = fit(fdLeak, fdLeak-0.05, fdLeak+0.05, 40.3, 0)
		fdCheck.Measured = "+1.02 fds/cycle"
		fdCheck.Value = fdLeak
		fdCheck.Verdict = result.Fail
		fdCheck.Explanation = "fds grew +1.02/cycle (CI [+0.97, +1.07]) over cycles 4–30: 27 deleted scopes left 27 descriptors open"
	}
	return &result.Scenario{
		Name: name, Seed: seed, Started: sampleStart.Add(21 * time.Second), Duration: 41.2,
		Params: map[string]any{"cycles": cycles, "scopes_per_cycle": 5, "warmup": 3},
		Checks: []result.Check{
			fdCheck,
			{ID: "sample.rss-flat", Name: "rss flat", Measured: "+3.1 KiB/cycle", Budget: "<= 64 KiB/cycle", Value: 3174, Limit: 65536, Unit: "bytes/cycle", Verdict: result.Pass, Series: "rss per cycle"},
			{ID: "sample.heap-flat", Name: "heap flat", Measured: "+0.8 KiB/cycle", Budget: "<= 32 KiB/cycle", Value: 819, Limit: 32768, Unit: "bytes/cycle", Verdict: result.Pass, Series: "heap per cycle"},
			{ID: "sample.goroutines-return", Name: "goroutines return", Measured: "23", Budget: "<= 24", Value: 23, Limit: 24, Unit: "count", Verdict: result.Pass, Series: "goroutines per cycle"},
			{ID: "sample.caches-drain", Name: "caches drain to zero", Measured: "repos=0 locks=0 last_fetched=0", Budget: "0", Verdict: result.Pass},
			{ID: "sample.threads-flat", Name: "threads flat", Verdict: result.Skip, Explanation: "target exposes no thread count"},
		},
		Series: []result.Series{
			{Name: "fds per cycle", Metric: "fds", Unit: "fds", XUnit: XUnitCycle, Points: fds, Fit: fdFit},
			{Name: "rss per cycle", Metric: "rss_bytes", Unit: "bytes", XUnit: XUnitCycle, Points: rss, Fit: fit(3174, -9000, 15000, 49<<20, 65536)},
			{Name: "heap per cycle", Metric: "heap_bytes", Unit: "bytes", XUnit: XUnitCycle, Points: heap, Fit: fit(819, -4000, 5200, 12<<20, 32768)},
			{Name: "goroutines per cycle", Metric: "goroutines", Unit: "count", XUnit: XUnitCycle, Points: gor, Fit: fit(0, 0, 0, 23, 0)},
		},
		Logs: []string{"artifacts/churn/target.stderr"},
	}
}

func samplePassingRun() *result.Run {
	return &result.Run{
		ID: "gate-20261123-090000", Kind: "gate", Seed: 42,
		Target: "in-process reffetcher (mutants: none)", Testbed: "local",
		Versions: sampleVersions(), Started: sampleStart, Duration: 62.3,
		Scenarios: []*result.Scenario{bootScenario(42), timeoutScenario(43), churnScenario(44, 0)},
	}
}

// sampleFailingRun: the leaking churn scenario first (so it is at the top
// of the page), a check that errored and a scenario that could not start.
func sampleFailingRun() *result.Run {
	churn := churnScenario(44, 1.02)
	churn.Checks = append(churn.Checks, result.Check{ID: "sample.heap-profile", Name: "heap profile captured", Verdict: result.Error, Explanation: "pprof endpoint: connection refused"})
	return &result.Run{
		ID: "gate-20261123-091500", Kind: "gate", Seed: 42,
		Target: "in-process reffetcher (mutants: fd-leak-on-delete)", Testbed: "local",
		Mutants: []string{"fd-leak-on-delete"}, Versions: sampleVersions(), Started: sampleStart, Duration: 58.0,
		Scenarios: []*result.Scenario{
			churn, bootScenario(42), timeoutScenario(43),
			{Name: "webhook storm", Seed: 45, Started: sampleStart.Add(50 * time.Second), Duration: 0.2,
				Error: "testbed: start git host h1: listen tcp 127.0.0.1:0: too many open files"},
		},
	}
}

// sampleSoakRun: a soak sampled every 0.5 s for n samples, fds flat at 40
// with one spike to 400, a blackhole on h1 from 10 to 12 minutes and h2
// flapping, logged only as FaultEvents (no fault markers).
func sampleSoakRun(n int) *result.Run {
	r := rand.New(rand.NewPCG(7, 7))
	var fds, rss, gor []result.Point
	for i := range n {
		x := float64(i) * 0.5
		y := 40 + float64(r.IntN(3))
		if i == n/2+17 {
			y = 400
		}
		fds = append(fds, result.Point{X: x, Y: y})
		rss = append(rss, result.Point{X: x, Y: 50<<20 + r.Float64()*(4<<20)})
		gor = append(gor, result.Point{X: x, Y: float64(20 + r.IntN(10))})
	}
	faults := []result.FaultEvent{
		{At: 600, Host: "h1", Fault: "blackhole", Action: "inject"},
		{At: 720, Host: "h1", Fault: "blackhole", Action: "recover"},
	}
	for k := range 6 {
		at := result.Seconds(1800 + 300*k)
		faults = append(faults,
			result.FaultEvent{At: at, Host: "h2", Fault: "offline", Action: "inject"},
			result.FaultEvent{At: at + 30, Host: "h2", Fault: "offline", Action: "recover"})
	}
	var markers []result.Marker
	for c := 0; c < n/2; c += 600 {
		markers = append(markers, result.Marker{At: result.Seconds(c), Label: fmt.Sprintf("window %d", c/600), Kind: "phase"})
	}
	return &result.Run{
		ID: "soak-20261123-000000", Kind: "soak", Seed: 9, Target: "reffetcher process", Testbed: "local",
		Started: sampleStart, Duration: result.Seconds(float64(n) * 0.5),
		Scenarios: []*result.Scenario{{
			Name: "soak", Seed: 9, Started: sampleStart, Duration: result.Seconds(float64(n) * 0.5),
			Checks: []result.Check{
				{ID: "sample.fds-flat-windows", Name: "fds flat over windows", Measured: "+0 fds/window", Budget: "<= 0 fds/window", Verdict: result.Pass, Series: "fds"},
			},
			Faults:  faults,
			Markers: markers,
			Series: []result.Series{
				{Name: "fds", Metric: "fds", Unit: "fds", XUnit: XUnitSeconds, Points: fds},
				{Name: "rss", Metric: "rss_bytes", Unit: "bytes", XUnit: XUnitSeconds, Points: rss},
				{Name: "goroutines", Metric: "goroutines", Unit: "count", XUnit: XUnitSeconds, Points: gor},
			},
		}},
	}
}

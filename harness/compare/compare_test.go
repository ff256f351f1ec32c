package compare

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/result"
)

// obs makes observations with the given values, passing when within
// limit for a "<=" budget.
func obs(limit float64, vs ...float64) []Observation {
	out := make([]Observation, len(vs))
	for i, v := range vs {
		out[i] = Observation{Value: v, Verdict: result.Pass}
		if v > limit {
			out[i].Verdict = result.Fail
		}
	}
	return out
}

func normal(r *rand.Rand, n int, mean, sd float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + sd*r.NormFloat64()
	}
	return out
}

func one(t *testing.T, c Check) Outcome {
	t.Helper()
	if c.Key == "" {
		c.Key = "s/" + c.Name
	}
	out := Compare([]Check{c}, Options{})
	t.Logf("%s: %s: %s", c.Name, out[0].String(), out[0].Reason)
	return out[0]
}

func TestVerdicts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const inf = 1e9
	for _, c := range []struct {
		name string
		c    Check
		want Verdict
	}{
		{"shifted time is worse", Check{Name: "t", Unit: "s", Budget: "<= 1.50 s", Limit: 1.5,
			Base: obs(1.5, normal(r, 10, 0.100, 0.005)...), Head: obs(1.5, normal(r, 10, 0.130, 0.005)...)}, Worse},
		{"shifted time down is better", Check{Name: "t", Unit: "s", Budget: "<= 1.50 s", Limit: 1.5,
			Base: obs(1.5, normal(r, 10, 0.130, 0.005)...), Head: obs(1.5, normal(r, 10, 0.100, 0.005)...)}, Better},
		{"identical distributions are the same", Check{Name: "t", Unit: "s", Budget: "<= 1.50 s", Limit: 1.5,
			Base: obs(1.5, normal(r, 10, 0.100, 0.001)...), Head: obs(1.5, normal(r, 10, 0.100, 0.001)...)}, Same},
		{"a significant shift under the floor is the same", Check{Name: "t", Unit: "s", Budget: "<= 1.50 s", Limit: 1.5,
			Base: obs(1.5, normal(r, 10, 0.100, 0.0005)...), Head: obs(1.5, normal(r, 10, 0.103, 0.0005)...)}, Same},
		{"a significant 2.5% slowdown of 2 s is within the 5% floor", Check{Name: "t", Unit: "s", Budget: "<= 4 s", Limit: 4,
			Base: obs(4, normal(r, 10, 2.0, 0.005)...), Head: obs(4, normal(r, 10, 2.05, 0.005)...)}, Same},
		{"few runs are undecided", Check{Name: "t", Unit: "s", Budget: "<= 1.50 s", Limit: 1.5,
			Base: obs(1.5, 0.100, 0.101), Head: obs(1.5, 0.200, 0.201)}, Undecided},
		{"noisy with few runs is undecided", Check{Name: "t", Unit: "s", Budget: "<= 1.50 s", Limit: 1.5,
			Base: obs(1.5, normal(r, 4, 0.100, 0.030)...), Head: obs(1.5, normal(r, 4, 0.100, 0.030)...)}, Undecided},
		{"pass to fail in every run is broken", Check{Name: "fds", Unit: "fds/cycle", Budget: "CI <= 0 fds/cycle",
			Base: obs(0, 0, 0, 0), Head: obs(0, 8, 8, 8)}, Broken},
		{"fail to pass in every run is fixed", Check{Name: "fds", Unit: "fds/cycle", Budget: "CI <= 0 fds/cycle",
			Base: obs(0, 8, 8, 8), Head: obs(0, 0, 0, 0)}, Fixed},
		{"a flip on 2 runs is undecided", Check{Name: "fds", Unit: "fds/cycle", Budget: "CI <= 0 fds/cycle",
			Base: obs(0, 0, 0), Head: obs(0, 8, 8)}, Undecided},
		{"one flaky failure is undecided", Check{Name: "fds", Unit: "fds/cycle", Budget: "CI <= 0 fds/cycle",
			Base: obs(0, 0, 0, 0, 0, 0), Head: obs(0, 0, 0, 0, 0, 1)}, Undecided},
		{"failing on both sides is a known failure", Check{Name: "fds", Unit: "fds/cycle", Budget: "CI <= 0 fds/cycle",
			Base: obs(0, 8, 8, 8), Head: obs(0, 8, 8, 8)}, KnownFailure},
		{"a known failure that grows is worse", Check{Name: "rss", Unit: "bytes/cycle", Budget: "CI <= 512 KiB/cycle", Limit: 512 << 10,
			Base: obs(512<<10, normal(r, 10, 600<<10, 10<<10)...), Head: obs(512<<10, normal(r, 10, 900<<10, 10<<10)...)}, Worse},
		{"a known failure that moved, on 3 runs, asks for more", Check{Name: "disk", Unit: "bytes/cycle", Budget: "CI <= 0 B/cycle",
			Base: obs(0, 11.9*1024, 11.8*1024, 12.0*1024), Head: obs(0, 1.6*1024, 1.6*1024, 1.7*1024)}, Undecided},
		{"a disk leak cut from 12 to 1.6 KiB/cycle is better (floor 1 KiB under a 0 B budget)", Check{Name: "disk", Unit: "bytes/cycle", Budget: "CI <= 0 B/cycle",
			Base: obs(0, 11.9*1024, 11.8*1024, 12.0*1024, 11.9*1024, 11.9*1024), Head: obs(0, 1.6*1024, 1.6*1024, 1.7*1024, 1.6*1024, 1.6*1024)}, Better},
		{"a known failure moved by less than the floor stays known", Check{Name: "disk", Unit: "bytes/cycle", Budget: "CI <= 0 B/cycle",
			Base: obs(0, 11.9*1024, 11.8*1024, 12.0*1024), Head: obs(0, 11.6*1024, 11.5*1024, 11.7*1024)}, KnownFailure},
		{"lower is worse for a >= budget", Check{Name: "calls", Unit: "count", Budget: ">= 10 calls", Limit: 10,
			Base: obs(inf, 50, 51, 52, 53, 54, 55, 56, 57), Head: obs(inf, 30, 31, 32, 33, 34, 35, 36, 37)}, Worse},
		{"== budgets compare the distance", Check{Name: "rounds", Unit: "count", Budget: "== 10", Limit: 10,
			Base: obs(inf, 10, 10, 10, 10, 10, 10, 10, 10), Head: obs(inf, 6, 6, 5, 6, 7, 6, 6, 6)}, Worse},
		{"a yes/no check compares pass and fail only", Check{Name: "served", Unit: "", Budget: "every scope on its newest commit", Limit: 1,
			Base: []Observation{{1, result.Pass, false}, {0, result.Fail, false}, {0, result.Fail, false}},
			Head: []Observation{{0, result.Fail, false}, {0, result.Fail, false}, {0, result.Fail, false}}}, KnownFailure},
		{"skipped on one side", Check{Name: "threads", Unit: "threads/cycle", Budget: "n/a",
			Base: []Observation{{Verdict: result.Skip}}, Head: obs(0, 0)}, Skipped},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := one(t, c.c)
			if o.Verdict != c.want {
				t.Errorf("verdict %q (%s), want %q", o.Verdict, o.Reason, c.want)
			}
			if o.Verdict == Undecided && o.MoreRuns <= 0 {
				t.Errorf("undecided without a run plan: %+v", o)
			}
		})
	}
}

// TestHolmAcrossChecks: a shift that is significant alone is not once
// many checks are compared together (5 runs a side: p = 2/252 = 0.0079
// alone, Holm ×k with k checks that can all reach 0.05).
func TestHolmAcrossChecks(t *testing.T) {
	shifted := Check{Key: "s/fds", Name: "fds", Unit: "s", Budget: "<= 1 s",
		Base: obs(1, 0.1, 0.11, 0.12, 0.13, 0.14), Head: obs(1, 0.5, 0.51, 0.52, 0.53, 0.54)}
	if o := Compare([]Check{shifted}, Options{})[0]; o.Verdict != Worse {
		t.Fatalf("alone: %s (%s), want worse", o.Verdict, o.Reason)
	}
	checks := []Check{shifted}
	for i := range 9 {
		checks = append(checks, Check{Key: "s/other" + string(rune('a'+i)), Name: "other", Unit: "s", Budget: "<= 1 s",
			Base: obs(1, 0.1, 0.2, 0.3, 0.4, 0.5), Head: obs(1, 0.15, 0.25, 0.35, 0.45, 0.55)})
	}
	o := Compare(checks, Options{})[0]
	if o.Verdict == Worse || o.PAdjusted < 0.0079*10-1e-9 {
		t.Fatalf("among 10: %s, Holm p %v, want not worse and p×10", o.Verdict, o.PAdjusted)
	}
	if !strings.Contains(o.Reason, "Holm") {
		t.Errorf("reason %q names no Holm p", o.Reason)
	}
}

// TestAAFalseAlarms is the A/A property: base and head drawn from one
// distribution (seeded), the share of comparisons that call a change
// (better, worse, fixed, broken) stays at or under alpha. One check per
// comparison measures the test's own rate; ten per comparison the
// family-wise rate Holm bounds. Unit "" and RelFloor -1: no floor, so
// the floor does not hide false alarms.
func TestAAFalseAlarms(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 2026))
	changed := func(o Outcome) bool {
		return o.Verdict == Better || o.Verdict == Worse || o.Verdict == Fixed || o.Verdict == Broken
	}
	noFloor := Options{RelFloor: -1}
	const trials = 2000
	alarms := 0
	for range trials {
		o := Compare([]Check{{Key: "s/x", Name: "x", Budget: "<= 100", Limit: 100,
			Base: obs(100, normal(r, 10, 50, 5)...), Head: obs(100, normal(r, 10, 50, 5)...)}}, noFloor)[0]
		if changed(o) {
			alarms++
		}
	}
	rate := float64(alarms) / trials
	t.Logf("A/A, one check, 10 runs a side: %d false alarms in %d comparisons = %.4f (alpha 0.05)", alarms, trials, rate)
	// Binomial sd at 0.05 over 2000 is 0.0049: 0.065 is 3 sd above.
	if rate > 0.065 || rate < 0.02 {
		t.Errorf("A/A false-alarm rate %.4f, want near 0.05 (the exact test is a little conservative)", rate)
	}

	const families = 400
	famAlarms := 0
	for range families {
		var cs []Check
		for k := range 10 {
			cs = append(cs, Check{Key: "s/" + string(rune('a'+k)), Name: "x", Budget: "<= 100", Limit: 100,
				Base: obs(100, normal(r, 10, 50, 5)...), Head: obs(100, normal(r, 10, 50, 5)...)})
		}
		for _, o := range Compare(cs, noFloor) {
			if changed(o) {
				famAlarms++
				break
			}
		}
	}
	frate := float64(famAlarms) / families
	t.Logf("A/A, ten checks, 10 runs a side: %d of %d comparisons with any false alarm = %.4f (alpha 0.05, Holm)", famAlarms, families, frate)
	if frate > 0.08 {
		t.Errorf("A/A family-wise false-alarm rate %.4f, want <= 0.05 (+ noise)", frate)
	}

	// Pass/fail flakiness: a check failing 20% of its runs on both sides.
	flaky := 0
	for range trials {
		mk := func() []Observation {
			var o []Observation
			for range 10 {
				v := result.Pass
				if r.Float64() < 0.2 {
					v = result.Fail
				}
				o = append(o, Observation{Value: 0, Verdict: v})
			}
			return o
		}
		if changed(Compare([]Check{{Key: "s/f", Name: "f", Unit: "fds/cycle", Budget: "CI <= 0", Base: mk(), Head: mk()}}, Options{})[0]) {
			flaky++
		}
	}
	t.Logf("A/A, a check failing 20%% of runs, 10 runs a side: %d false alarms in %d = %.4f", flaky, trials, float64(flaky)/trials)
	if float64(flaky)/trials > 0.05 {
		t.Errorf("flaky A/A false-alarm rate %.4f, want <= 0.05", float64(flaky)/trials)
	}
}

// TestFromRunsUnits: a failure recorded in another unit (boot's "never
// served": a yes/no, unit "") counts as a failure but not as a value; the
// check's unit is that of a passing run.
func TestFromRunsUnits(t *testing.T) {
	run := func(c result.Check) *result.Run {
		return &result.Run{Scenarios: []*result.Scenario{{Name: "boot", Checks: []result.Check{c}}}}
	}
	never := result.Check{Name: "first served", Budget: "<= 1.50 s", Value: 0, Limit: 1, Verdict: result.Fail}
	var base, head []*result.Run
	for i := range 5 {
		base = append(base, run(result.Check{Name: "first served", Budget: "<= 1.50 s", Unit: "s", Value: 0.3 + float64(i)/1000, Limit: 1.5, Verdict: result.Pass}))
		head = append(head, run(never))
	}
	base[0] = run(never)
	checks, _, _ := FromRuns(base, head)
	if len(checks) != 1 || checks[0].Unit != "s" || checks[0].Limit != 1.5 || !checks[0].Base[0].NoValue || checks[0].Base[1].NoValue || !checks[0].Head[0].NoValue {
		t.Fatalf("checks %+v: want unit s from a passing run, the yes/no failures without values", checks)
	}
	o := Compare(checks, Options{})[0]
	if o.Verdict != Broken || o.Rank != nil || len(o.Base.Values) != 4 {
		t.Fatalf("%s (%s), rank %+v, base values %v: want broken on pass/fail alone", o.Verdict, o.Reason, o.Rank, o.Base.Values)
	}
}

func TestFromRuns(t *testing.T) {
	mk := func(v float64, extra string) *result.Run {
		sc := &result.Scenario{Name: "churn", Checks: []result.Check{
			{Name: "fds flat", Budget: "CI <= 0 fds/cycle", Unit: "fds/cycle", Value: v, Verdict: result.Pass},
			{Name: extra, Budget: "<= 1 s", Unit: "s", Value: 0.1, Verdict: result.Pass},
		}}
		return &result.Run{Scenarios: []*result.Scenario{sc}}
	}
	checks, onlyBase, onlyHead := FromRuns([]*result.Run{mk(0, "a"), mk(1, "a")}, []*result.Run{mk(2, "b")})
	if len(checks) != 1 || checks[0].Key != "churn/fds flat" || len(checks[0].Base) != 2 || len(checks[0].Head) != 1 || checks[0].Head[0].Value != 2 {
		t.Fatalf("checks %+v", checks)
	}
	if strings.Join(onlyBase, ",") != "churn/a" || strings.Join(onlyHead, ",") != "churn/b" {
		t.Fatalf("only base %v, only head %v", onlyBase, onlyHead)
	}
}

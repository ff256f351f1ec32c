package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
)

// judgeRun is a churn run of two checks: the mutant's must-fail check
// (failed or not) and another check's slope with its verdict.
func judgeRun(seed int64, mustFails bool, other float64) *result.Run {
	must := result.Check{ID: "churn.dirs-removed", Name: "clone dirs removed after delete", Unit: "count", Value: 0, Limit: 0, Budget: "<= 0", Verdict: result.Pass}
	if mustFails {
		must.Value, must.Verdict = 3, result.Fail
	}
	o := result.Check{ID: "churn.fds-flat", Name: "fds flat across churn cycles", Unit: "fds/cycle", Value: other, Limit: 20, Budget: "<= 20", Verdict: result.Pass}
	return &result.Run{ID: "r", Kind: "gate", Seed: seed, Settings: "s", Scenarios: []*result.Scenario{{Name: "churn", Checks: []result.Check{must, o}}}}
}

// judgeMutant: a must-fail check that fails in every mutant run and
// passes in every correct one is broken, the row as expected; one that
// passes is a miss; another check that moves significantly the worse way
// (enough runs for the rank test) makes the row wrong even though it
// passes its budget; every must-fail check skipped makes the row skipped.
func TestJudgeMutant(t *testing.T) {
	row := &matrixRow{name: "delete-wrong-scope", catch: &result.Catch{MustFail: []result.CheckRef{{Scenario: "churn", ID: "churn.dirs-removed"}}}}
	runs := func(n int, mustFails bool, other func(i int) float64) []*result.Run {
		var out []*result.Run
		for i := range n {
			out = append(out, judgeRun(int64(i+1), mustFails, other(i)))
		}
		return out
	}
	flat := func(i int) float64 { return float64(i%3) * 0.1 }
	worse := func(i int) float64 { return 5 + float64(i%3)*0.1 }
	for _, tc := range []struct {
		name             string
		correct, mutant  []*result.Run
		ok, skipped      bool
		mustHas, worseIs string
	}{
		{"caught", runs(3, false, flat), runs(3, true, flat), true, false, "churn/churn.dirs-removed (broken)", ""},
		{"missed", runs(3, false, flat), runs(3, false, flat), false, false, "churn/churn.dirs-removed (same)", ""},
		{"caught, another check worse", runs(8, false, flat), runs(8, true, worse), false, false, "(broken)", "churn/churn.fds-flat"},
		{"another check moved, 3 runs a side: cannot tell", runs(3, false, flat), runs(3, true, worse), true, false, "(broken)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, skipped, must, w, _, err := judgeMutant(row, tc.correct, tc.mutant, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok || skipped != tc.skipped {
				t.Errorf("ok %v skipped %v, want %v %v (must %v, worse %v)", ok, skipped, tc.ok, tc.skipped, must, w)
			}
			if len(must) != 1 || !strings.Contains(must[0], tc.mustHas) {
				t.Errorf("must %v, want %q", must, tc.mustHas)
			}
			if got := strings.Join(w, ","); got != tc.worseIs {
				t.Errorf("worse %q, want %q", got, tc.worseIs)
			}
		})
	}
	skip := func(n int) []*result.Run {
		out := runs(n, false, flat)
		for _, r := range out {
			r.Scenarios[0].Checks[0].Verdict = result.Skip
		}
		return out
	}
	if ok, skipped, must, _, _, err := judgeMutant(row, skip(3), skip(3), 0.05); err != nil || ok || !skipped {
		t.Errorf("all skipped: ok %v skipped %v err %v must %v; want skipped", ok, skipped, err, must)
	}
	// Declared as moved by the bug (fetcher.Mutant.Moves), the worse
	// check is collateral and the row as expected.
	declared := *row
	declared.moves = []string{"churn/churn.fds-flat"}
	ok, _, _, w, coll, err := judgeMutant(&declared, runs(8, false, flat), runs(8, true, worse), 0.05)
	if err != nil || !ok || len(w) != 0 || strings.Join(coll, ",") != "churn/churn.fds-flat (worse, declared)" {
		t.Errorf("declared move: ok %v worse %v collateral %v err %v; want ok, the move collateral", ok, w, coll, err)
	}
}

// Rows start longest-first by their last run; a row not run yet first.
func TestLongestFirst(t *testing.T) {
	rows := []*matrixRow{{name: "a"}, {name: "b"}, {name: "c"}, {name: "d"}}
	took := map[string]time.Duration{"a": time.Second, "b": 3 * time.Second, "d": 2 * time.Second}
	var got []string
	for _, r := range longestFirst(rows, took) {
		got = append(got, r.name)
	}
	if want := []string{"c", "b", "d", "a"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if rows[0].name != "a" {
		t.Error("rows reordered in place")
	}
}

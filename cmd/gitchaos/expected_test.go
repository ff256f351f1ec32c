package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/result"
)

// TestExpectedOPALVerdictsFile keeps docs/opal/expected.yaml valid where
// the real OPAL cannot run: every pin parses and keeps its own rules.
func TestExpectedOPALVerdictsFile(t *testing.T) {
	want := loadExpected(t, filepath.Join("..", "..", "docs", "opal", "expected.yaml"))
	if len(want) < 30 {
		t.Fatalf("docs/opal/expected.yaml pins %d checks; the recipe suite has more than 30", len(want))
	}
}

func TestParseExpectedRejects(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown verdict": {`checks: [{check: a.b, verdict: flaky}]`, `verdict "flaky"`},
		"no margin":       {`checks: [{check: a.b, verdict: pass|skip}]`, "needs a margin"},
		"no cause":        {`checks: [{check: a.b, verdict: fail}]`, "needs its cause"},
		"every verdict":   {`checks: [{check: a.b, verdict: fail|pass|skip, cause: c, margin: m}]`, "needs a value_max"},
		"twice":           {`checks: [{check: a.b, verdict: pass}, {check: a.b, verdict: pass}]`, "listed twice"},
		"unknown field":   {`checks: [{check: a.b, verdict: pass, max: 3}]`, "field max not found"},
		"a title":         {`checks: [{check: "fds flat across churn cycles", verdict: pass}]`, "want a declared check id"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseExpected([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseExpected(%s) = %v, want an error containing %q", tc.yaml, err, tc.want)
			}
		})
	}
}

// TestCompareVerdicts: a pin that allows every verdict still fails a run
// whose value exceeds its value_max; the other differences are named.
func TestCompareVerdicts(t *testing.T) {
	want, err := parseExpected([]byte(`checks:
  - {check: churn.processes-flat, verdict: fail|pass|skip, cause: c, margin: m, value_max: 4}
  - {check: churn.dirs-removed, verdict: fail, cause: c}
  - {check: boot.fetched-once, verdict: pass}
`))
	if err != nil {
		t.Fatal(err)
	}
	run := func(slope float64, dirs result.Verdict) *result.Run {
		return &result.Run{Scenarios: []*result.Scenario{{Name: "churn", Checks: []result.Check{
			{ID: "churn.processes-flat", Name: "processes flat", Verdict: result.Fail, Value: slope, Unit: "processes/cycle"},
			{ID: "churn.dirs-removed", Name: "clone dirs removed", Verdict: dirs},
		}}}}
	}
	if d := compareVerdicts(run(3, result.Fail), want); len(d) != 1 || !strings.Contains(d[0], "boot.fetched-once: expected but not in the run") {
		t.Fatalf("within the pins but boot missing: got %q", d)
	}
	d := compareVerdicts(run(9, result.Pass), want)
	joined := strings.Join(d, "\n")
	for _, s := range []string{
		"churn.processes-flat (churn / processes flat): measured 9 processes/cycle over the pinned value_max 4",
		"churn.dirs-removed (churn / clone dirs removed): pass, expected fail",
	} {
		if !strings.Contains(joined, s) {
			t.Errorf("differences miss %q:\n%s", s, joined)
		}
	}
}

package result

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func scenario(err string, verdicts ...Verdict) *Scenario {
	s := &Scenario{Name: "s", Error: err}
	for _, v := range verdicts {
		s.Checks = append(s.Checks, Check{Name: string(v), Verdict: v})
	}
	return s
}

func TestScenarioVerdict(t *testing.T) {
	for _, tc := range []struct {
		s    *Scenario
		want Verdict
	}{
		{scenario("", Pass, Pass), Pass},
		{scenario("", Pass, Skip), Pass},
		{scenario("", Skip), Skip},
		{scenario(""), Skip},
		{scenario("", Pass, Fail, Error), Fail},
		{scenario("boom", Pass, Fail), Fail}, // a failed check is a verdict on the target
		{scenario("boom", Pass), Error},
		{scenario("", Pass, Error), Error},
	} {
		if got := tc.s.Verdict(); got != tc.want {
			t.Errorf("%+v: verdict %s, want %s", tc.s, got, tc.want)
		}
	}
}

func TestRunVerdict(t *testing.T) {
	for _, tc := range []struct {
		ss   []*Scenario
		want Verdict
	}{
		{[]*Scenario{scenario("", Pass), scenario("", Skip)}, Pass},
		{[]*Scenario{scenario("", Skip)}, Skip},
		{[]*Scenario{scenario("x", Pass), scenario("", Fail)}, Fail},
		{[]*Scenario{scenario("", Fail), scenario("x", Pass)}, Fail},
		{[]*Scenario{scenario("", Pass), scenario("x")}, Error},
	} {
		if got := (&Run{Scenarios: tc.ss}).Verdict(); got != tc.want {
			t.Errorf("verdict %s, want %s", got, tc.want)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	r := &Run{ID: "gate-1", Kind: "gate", Seed: 1, Started: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Duration: 1.5,
		Scenarios: []*Scenario{{Name: "churn", Checks: []Check{{Name: "fds", Value: 1, Verdict: Fail}},
			Series: []Series{{Name: "fds per cycle", Points: []Point{{0, 10}, {1, 11}}, Fit: &Fit{Slope: 1}}}}}}
	p := filepath.Join(t.TempDir(), "report.json")
	if err := r.Save(p); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip changed the run:\n got %+v\nwant %+v", got, r)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

// TestStrict: skips become failures with the reason kept; a scenario with
// no check fails; passes and errors stay.
func TestStrict(t *testing.T) {
	s := &Scenario{Checks: []Check{{Name: "a", Verdict: Pass}, {Name: "b", Verdict: Skip, Explanation: "no stats"}}}
	if v := s.Verdict(); v != Pass {
		t.Fatalf("before: %s, want pass", v)
	}
	s.Strict()
	if v := s.Verdict(); v != Fail {
		t.Fatalf("after: %s, want fail", v)
	}
	if c := s.Checks[1]; c.Verdict != Fail || c.Explanation != StrictPrefix+"no stats" {
		t.Errorf("skipped check after Strict: %+v", c)
	}
	empty := &Scenario{}
	if v := empty.Verdict(); v != Skip {
		t.Fatalf("no checks: %s, want skip", v)
	}
	empty.Strict()
	if v := empty.Verdict(); v != Fail {
		t.Fatalf("no checks under strict: %s, want fail", v)
	}
	errd := &Scenario{Error: "boom"}
	errd.Strict()
	if v := errd.Verdict(); v != Error || len(errd.Checks) != 0 {
		t.Fatalf("errored scenario under strict: %s %+v, want error and no check added", v, errd.Checks)
	}
	allSkip := &Scenario{Checks: []Check{{Name: "x", Verdict: Skip}}}
	if v := allSkip.Verdict(); v != Skip {
		t.Fatalf("all skipped: %s, want skip (not pass)", v)
	}
}

// TestCycleValues: per-cycle series by metric; rounds, windows and time
// series are left out.
func TestCycleValues(t *testing.T) {
	sc := &Scenario{Series: []Series{
		{Metric: "fds", XUnit: "cycle", Points: []Point{{0, 3}, {1, 4}}},
		{Metric: "rss_bytes", XUnit: "cycle", Per: "cycle", Points: []Point{{0, 9}}},
		{Metric: "threads", XUnit: "cycle", Per: "round", Points: []Point{{0, 1}}},
		{Metric: "api_latency", XUnit: "s", Points: []Point{{0, 1}}},
	}}
	got := sc.CycleValues()
	if len(got) != 2 || len(got["fds"]) != 2 || got["fds"][1] != 4 || got["rss_bytes"][0] != 9 {
		t.Errorf("CycleValues = %v, want fds [3 4] and rss_bytes [9] only", got)
	}
}

// TestCatchJudgesByID: a must-fail check is found by its ID whatever its
// title says now; the title is taken from the run.
func TestCatchJudgesByID(t *testing.T) {
	run := &Run{Scenarios: []*Scenario{{Name: "churn", Checks: []Check{
		{ID: "churn.fds-flat", Name: "fds flat (renamed)", Verdict: Fail},
		{ID: "churn.caches-drain", Name: "caches drain", Verdict: Fail},
		{ID: "churn.dirs-removed", Name: "dirs", Verdict: Pass},
	}}}}
	c := &Catch{MustFail: []CheckRef{{Scenario: "churn", ID: "churn.fds-flat", Check: "fds flat across churn cycles"}}}
	c.Judge(run)
	if !c.Caught() || c.MustFail[0].Check != "fds flat (renamed)" {
		t.Fatalf("must fail %+v: want caught, titled as in the run", c.MustFail)
	}
	if len(c.Collateral) != 1 || c.Collateral[0].ID != "churn.caches-drain" {
		t.Errorf("collateral %+v, want churn.caches-drain", c.Collateral)
	}
	c.MustFail = append(c.MustFail, CheckRef{Scenario: "churn", ID: "churn.dirs-removed"})
	if c.Judge(run); c.Caught() {
		t.Error("caught although churn.dirs-removed passed")
	}
}

// TestCheckObjectsJSON: a check's objects are in report.json under
// "objects", each with kind, signature, count, growth, example, scope.
func TestCheckObjectsJSON(t *testing.T) {
	c := Check{ID: "churn.nothing-held", Verdict: Fail, Objects: []Object{{Kind: "fd", Signature: "file <base>/x.pack (deleted)", Count: 2, Growth: 2, Example: "fd 7 file /b/x.pack (deleted)", Scope: "s1"}}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"objects":[{"kind":"fd","signature":"file \u003cbase\u003e/x.pack (deleted)","count":2,"growth":2,"example":"fd 7 file /b/x.pack (deleted)","scope":"s1"}]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json %s lacks %s", b, want)
		}
	}
	var back Check
	if err := json.Unmarshal(b, &back); err != nil || len(back.Objects) != 1 || back.Objects[0] != c.Objects[0] {
		t.Errorf("round trip: %+v (%v)", back, err)
	}
	if b, _ := json.Marshal(Check{ID: "x"}); strings.Contains(string(b), "objects") {
		t.Errorf("a check without objects writes them: %s", b)
	}
}

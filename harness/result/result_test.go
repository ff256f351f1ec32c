package result

import (
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

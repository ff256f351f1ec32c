package gates

import (
	"strings"
	"testing"
	"time"
)

// tinySchedule is a valid two-window schedule.
func tinySchedule() *Schedule {
	return &Schedule{
		Format: ScheduleFormat, Gitchaos: "test", Target: ScheduleTarget{Kind: "in-process", Mutants: []string{"fd-leak-on-delete"}},
		Settings: ScheduleSettings{GitTimeout: Dur(time.Second), MaxWorkers: 8, SyncConcurrency: 8, Shards: 1},
		Testbed:  "local", Seed: 1, Hosts: 2, Baseline: 3, Pool: 6, MaxExtra: 24,
		Window: Dur(3 * time.Second), StepsPerWindow: 5, SampleInterval: Dur(500 * time.Millisecond),
		Steps: []SchedStep{
			{N: 0, Kind: stepPutNew, Host: 1, Repo: 0, Scope: 3, Pause: Dur(30 * time.Millisecond)},
			{N: 1, Kind: stepRepoHang, Host: 0, Repo: 2, Life: 3},
			{N: 2, Kind: stepRefreshOne, Scope: 3},
			{N: 3, Kind: stepDelete, Scope: 3},
			{N: 4, Kind: stepDelete, Scope: 3, Skipped: "no extra scope alive"},
			{N: 5, Kind: stepPush, Host: 0, Repo: 5},
			{N: 6, Kind: stepRefreshOne, Scope: 2},
		},
		QuietAfter: []int{4, 9},
	}
}

func TestScheduleRoundTrip(t *testing.T) {
	s := tinySchedule()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"{step: 0, kind: put-new, host: 1, repo: 0, scope: 3, pause: 30ms}", // zeros spelt out
		"{step: 1, kind: repo-hang, host: 0, repo: 2, life: 3}",
		"quiet_after: [4, 9]",
		"{step: 1, fault: repo-hang, target: h0/repo 2, until: 4}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("schedule lacks %q:\n%s", want, text)
		}
	}
	got, err := ParseSchedule(b)
	if err != nil {
		t.Fatalf("parse what Marshal wrote: %v\n%s", err, text)
	}
	if len(got.Steps) != len(s.Steps) || got.Steps[0] != s.Steps[0] || got.Steps[4].Skipped == "" || got.Len() != 6 {
		t.Errorf("round trip: %+v", got.Steps)
	}
	if _, err := ParseSchedule([]byte(strings.Replace(text, "hosts: 2", "hosts: 2\nhostz: 1", 1))); err == nil {
		t.Error("an unknown field parsed")
	}
}

func TestScheduleValidateRejects(t *testing.T) {
	for name, mutate := range map[string]func(s *Schedule){
		"format":         func(s *Schedule) { s.Format = "v0" },
		"delete no put":  func(s *Schedule) { s.Steps = s.Steps[1:] },
		"refresh gone":   func(s *Schedule) { s.Steps[2].Scope = 9 },
		"host":           func(s *Schedule) { s.Steps[0].Host = 2 },
		"repo":           func(s *Schedule) { s.Steps[5].Repo = 6 },
		"life":           func(s *Schedule) { s.Steps[1].Life = 0 },
		"order":          func(s *Schedule) { s.Steps[1].N = 0 },
		"after last":     func(s *Schedule) { s.QuietAfter = []int{4} },
		"no quiet point": func(s *Schedule) { s.QuietAfter = nil },
		"put baseline":   func(s *Schedule) { s.Steps[0].Scope = 1 },
	} {
		s := tinySchedule()
		mutate(s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: validated", name)
		}
	}
}

// repair drops what removals left dangling; dropEmptyWindows the quiet
// points that end nothing.
func TestScheduleRepair(t *testing.T) {
	s := tinySchedule()
	s.Steps = s.Steps[1:] // the put is gone: its refresh and delete go too
	s.repair()
	s.dropEmptyWindows()
	if err := s.Validate(); err != nil {
		t.Fatalf("repaired schedule invalid: %v", err)
	}
	var kinds []string
	for _, st := range s.Steps {
		kinds = append(kinds, st.Kind)
	}
	if got := strings.Join(kinds, " "); got != "repo-hang push refresh-one" {
		t.Errorf("repaired steps %q, want repo-hang push refresh-one (skipped steps dropped too)", got)
	}
	s.Steps = s.Steps[:1]
	s.repair()
	s.dropEmptyWindows()
	if len(s.QuietAfter) != 1 || s.QuietAfter[0] != 4 {
		t.Errorf("quiet points %v, want [4]: the empty second window goes", s.QuietAfter)
	}
}

func TestParamShrinks(t *testing.T) {
	s := tinySchedule()
	s.Steps = []SchedStep{{N: 0, Kind: stepPutNew, Host: 1, Repo: 4, Scope: 3}, {N: 1, Kind: stepRepoHang, Host: 1, Repo: 4, Life: 5}, {N: 2, Kind: stepRefreshOne, Scope: 2}}
	s.QuietAfter = []int{1, 4}
	for _, f := range paramShrinks {
		for _, c := range f(s) {
			c.repair()
			c.dropEmptyWindows()
			if err := c.Validate(); err != nil {
				t.Errorf("a proposal is invalid: %v\n%+v", err, c)
			}
		}
	}
	h := fewerHosts(s)
	if len(h) == 0 || h[0].Hosts != 1 || h[0].Steps[0].Host != 0 {
		t.Errorf("fewer hosts: %+v", h)
	}
	r := fewerRepos(s)
	if len(r) != 1 || r[0].Pool != 1 || r[0].Steps[1].Repo != 0 {
		t.Errorf("fewer repos: %+v", r)
	}
	b := fewerBaseline(s)
	if len(b) != 1 || b[0].Baseline != 1 || b[0].Steps[2].Scope != 0 {
		t.Errorf("fewer baseline: %+v", b)
	}
	q := fewerQuietPoints(s)
	if len(q) == 0 || len(q[0].QuietAfter) != 1 {
		t.Errorf("fewer quiet points: %+v", q)
	}
	f := shorterFaults(s)
	if len(f) == 0 || f[0].Steps[1].Life != 1 {
		t.Errorf("shorter faults: %+v", f)
	}
}

package gates

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
)

// The checks of TestReadyAsksAgain's own gate (a test gate: testGates).
var (
	readyPlain = declare("ready-asks-again", "plain", "served without asking again", "", "the reference fetcher does not retry a failed clone by itself")
	readyAsked = declare("ready-asks-again", "asked", "served once asked again", "", "a setup wait asks again and gets the scope served")
)

// TestReadyAsksAgain: a scope whose first clone fails (the git server
// answers 500 once) stays unserved on the reference fetcher, which does not
// retry by itself; a setup wait (ready) asks again and gets it served, a
// measuring wait (served) does not.
func TestReadyAsksAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a testbed and a fetcher")
	}
	sc := &Gate{
		Name:   "ready-asks-again",
		Hosts:  1,
		Params: func() any { return nil },
		Run: func(ctx context.Context, s *S, _ any) error {
			h := s.Testbed.Hosts()[0]
			repos, err := s.scopes.CreateRepos(ctx, h, 0, 2, repogen.Spec{})
			if err != nil {
				return err
			}
			for _, r := range repos {
				if _, err := s.faults.Inject(ctx, h, r.Name, fault("http500:count=1")); err != nil {
					return err
				}
			}
			plain, asked := s.scopes.ID(0), s.scopes.ID(1)
			if err := s.scopes.Put(ctx, []string{plain, asked}, []string{repos[0].URL(), repos[1].URL()}); err != nil {
				return err
			}
			// Longer than the first nudge of ready: the difference is the
			// asking again, not the time waited.
			_, out := s.scopes.Served(ctx, []string{plain}, nil, s.scopes.nudgeEvery()+2*time.Second)
			s.rec.True(readyPlain, !out.OK, out.Describe(), "not served (the fetcher does not retry)", "")
			_, out = s.scopes.Ready(ctx, []string{asked}, nil)
			s.rec.True(readyAsked, out.OK, out.Describe(), "served", "")
			return nil
		},
	}
	res := RunOne(context.Background(), sc, Options{Targets: &inprocess.Factory{TempDir: t.TempDir()}})
	if res.Error != "" {
		t.Fatalf("scenario error: %s", res.Error)
	}
	for _, c := range res.Checks {
		if c.Verdict != result.Pass {
			t.Errorf("%s: %s (%s)", c.Name, c.Verdict, c.Measured)
		}
	}
	if len(res.Checks) != 2 {
		t.Fatalf("%d checks, want 2", len(res.Checks))
	}
	marks := fmt.Sprint(res.Markers)
	if !strings.Contains(marks, "re-requested by the harness") {
		t.Errorf("no marker of the re-requests in %s", marks)
	}
}

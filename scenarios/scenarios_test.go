package scenarios_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/fetcher/fetchertest"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/internal/race"
	"github.com/gitchaos/gitchaos/scenarios"
)

// TestMain doubles as the reference fetcher process for crash-restart:
// with GITCHAOS_TEST_REFFETCHER=1 the test binary serves the fetcher.
func TestMain(m *testing.M) {
	fetchertest.MaybeRun("GITCHAOS_TEST_REFFETCHER")
	guard.MaybeRun() // exec targets get guards
	goleak.VerifyTestMain(m, toxiembed.UpstreamLeaks()...)
}

// selfProcess runs this test binary as a reffetcher process.
func selfProcess(t *testing.T, mutants ...string) *target.Exec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := "'" + exe + "' --listen {addr} --base-dir {base_dir}"
	if len(mutants) > 0 {
		tmpl += " --mutant " + strings.Join(mutants, ",")
	}
	return &target.Exec{Template: tmpl, Env: []string{"GITCHAOS_TEST_REFFETCHER=1"}, ArtifactDir: t.TempDir(), TempDir: t.TempDir()}
}

// TestGatesPassOnCorrectFetcher runs every gate against the correct
// in-process reference fetcher (crash-restart against it as a process),
// and every check a gate declares as always recorded comes out.
func TestGatesPassOnCorrectFetcher(t *testing.T) {
	for _, g := range scenarios.Suite() {
		t.Run(g.GateName(), func(t *testing.T) {
			res := scenarios.Check(t, &inprocess.Factory{TempDir: t.TempDir()}, g, scenarios.WithCrashTarget(selfProcess(t)))
			if res.Verdict() != result.Pass {
				t.Errorf("verdict %s, want pass:\n%s", res.Verdict(), gates.Explain(res))
			}
			for _, c := range gates.Unrecorded(res) {
				t.Errorf("gate %s declares check %s (%q) but did not record it", res.Name, c.ID, c.Title)
			}
		})
	}
}

// TestGatesCatchTheirMutants proves a sample of gates can fail: each
// mutant below must fail the checks of that gate declared for it
// (fetcher.Mutants; gitchaos matrix does every mutant).
func TestGatesCatchTheirMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the matrix covers every pair")
	}
	for _, tc := range []struct{ mutant, gate string }{
		{"fd-leak-on-delete", "churn"},
		{"no-host-bulkhead", "offline"},
		{"stamp-before-fetch", "recovery"},
	} {
		t.Run(tc.mutant+"/"+tc.gate, func(t *testing.T) {
			ms, err := fetcher.LookupMutants([]string{tc.mutant})
			if err != nil {
				t.Fatal(err)
			}
			res := scenarios.Measure(t, &inprocess.Factory{Mutants: []string{tc.mutant}, TempDir: t.TempDir()}, suiteGate(t, tc.gate))
			for _, want := range ms[0].MustFail {
				if want.Gate != tc.gate {
					continue
				}
				got := result.Verdict("")
				for _, c := range res.Checks {
					if c.ID == want.ID {
						got = c.Verdict
					}
				}
				if got != result.Fail {
					t.Errorf("gate %s against mutant %s: check %s %s, want fail (the check that guards the bug):\n%s", tc.gate, tc.mutant, want.ID, orNotRun(got), gates.Explain(res))
				}
			}
		})
	}
}

func orNotRun(v result.Verdict) string {
	if v == "" {
		return "did not run"
	}
	return string(v)
}

// TestGateAgainstProcessTarget runs a leak gate against the fetcher as a
// separate process (the --target-cmd path): fds and RSS come from its pid,
// goroutines and caches from its stats endpoint. The run is adaptive with
// a cap of 13 cycles: it stops within the cap and every leak check says
// how many cycles ran and why it stopped.
func TestGateAgainstProcessTarget(t *testing.T) {
	if race.Enabled {
		t.Skip("-race: the process target is this test binary, built with the race detector, whose shadow memory grows the RSS every cycle without a leak (the plain test run judges it)")
	}
	res := scenarios.Churn(t, selfProcess(t), scenarios.ChurnParams{Cycles: 11, MaxCycles: 13, Scopes: 4})
	cycles := 0
	for _, m := range res.Markers {
		if m.Kind == "cycle" {
			cycles++
		}
	}
	if cycles < 11 || cycles > 13 {
		t.Errorf("%d cycles ran, want 11..13 (min 11, cap 13)", cycles)
	}
	stop := regexp.MustCompile(`; (decided after \d+ cycles|stopped at the cap of 13 cycles with .* undecided)`)
	for _, c := range res.Checks {
		if c.Verdict == result.Skip && strings.Contains(c.Name, "fds") {
			t.Errorf("fds check skipped against a process target: %s", c.Explanation)
		}
		if isChurnFlat(c) && c.Verdict != result.Skip && !stop.MatchString(c.Explanation) {
			t.Errorf("%s: the explanation does not say how many cycles ran and why it stopped: %s", c.Name, c.Explanation)
		}
		if isChurnFlat(c) && c.Verdict == result.Skip && !strings.Contains(c.Explanation, "UNDECIDED") && !strings.Contains(c.Explanation, "unavailable") {
			t.Errorf("%s: skipped, but not as undecided at the cap: %s", c.Name, c.Explanation)
		}
	}
}

// isChurnFlat: c is one of churn's flatness checks (ids churn.<metric>-flat).
func isChurnFlat(c result.Check) bool {
	return strings.HasPrefix(c.ID, "churn.") && strings.HasSuffix(c.ID, "-flat")
}

package scenarios_test

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/fetcher/fetchertest"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/scenarios"
)

// TestMain doubles as the reference fetcher process for crash-restart:
// with GITCHAOS_TEST_REFFETCHER=1 the test binary serves the fetcher.
func TestMain(m *testing.M) {
	fetchertest.MaybeRun("GITCHAOS_TEST_REFFETCHER")
	goleak.VerifyTestMain(m,
		// Documented toxiproxy leak (DESIGN.md): a client aborting under a
		// bandwidth toxic leaves its Pipe goroutine blocked.
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*BandwidthToxic).Pipe"),
	)
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
// in-process reference fetcher (crash-restart against it as a process).
func TestGatesPassOnCorrectFetcher(t *testing.T) {
	for _, name := range scenarios.Names() {
		t.Run(name, func(t *testing.T) {
			res := scenarios.Run(t, name, &target.InProcess{TempDir: t.TempDir()}, scenarios.WithCrashTarget(selfProcess(t)))
			if res.Verdict() != result.Pass {
				t.Errorf("verdict %s, want pass:\n%s", res.Verdict(), scenarios.Explain(res))
			}
		})
	}
}

// TestGatesCatchTheirMutants proves a sample of gates can fail: each
// mutant below must fail the gate declared for it (gitchaos matrix does
// every pair).
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
			res := scenarios.RunResult(t, tc.gate, &target.InProcess{Mutants: []string{tc.mutant}, TempDir: t.TempDir()})
			if res.Verdict() != result.Fail {
				t.Errorf("gate %s against mutant %s: verdict %s, want fail:\n%s", tc.gate, tc.mutant, res.Verdict(), scenarios.Explain(res))
			}
		})
	}
}

// TestGateAgainstProcessTarget runs a leak gate against the fetcher as a
// separate process (the --target-cmd path): fds and RSS come from its pid,
// goroutines and caches from its stats endpoint.
func TestGateAgainstProcessTarget(t *testing.T) {
	res := scenarios.Churn(t, selfProcess(t), scenarios.WithParams("churn", &scenarios.ChurnParams{Cycles: 11, Scopes: 4}))
	for _, c := range res.Checks {
		if c.Verdict == result.Skip && strings.Contains(c.Name, "fds") {
			t.Errorf("fds check skipped against a process target: %s", c.Explanation)
		}
	}
}

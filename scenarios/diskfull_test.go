package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/scenarios"
)

// TestDiskFullGate: the opt-in disk-full gate passes on the correct
// reference fetcher, and on tmp-pack-left fails exactly its guard,
// disk-full.no-debris (the matrix runs that row too; this is the correct
// side, which the matrix's default correct row leaves out). Skipped with
// the gate's reason where a tmpfs cannot be mounted.
func TestDiskFullGate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the gate")
	}
	p := scenarios.DiskFullParams{Scopes: 3, Size: 16 << 20, Spec: repogen.DefaultSpec()}
	for _, mutant := range []string{"", "tmp-pack-left"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			var ms []string
			if mutant != "" {
				ms = []string{mutant}
			}
			t0 := time.Now()
			res := scenarios.Measure(t, &inprocess.Factory{Mutants: ms, TempDir: t.TempDir()}, p)
			t.Logf("disk-full on mutant %q: %s in %v\n%s", mutant, res.Verdict(), time.Since(t0).Round(time.Millisecond), gates.Explain(res))
			if res.Verdict() == result.Skip {
				t.Skipf("disk-full skipped: %s", res.Checks[0].Explanation)
			}
			for _, c := range res.Checks {
				want := result.Pass
				if mutant != "" && c.ID == "disk-full.no-debris" {
					want = result.Fail
				}
				if c.Verdict != want {
					t.Errorf("%s: %s, want %s: %s", c.ID, c.Verdict, want, c.Explanation)
				}
				if want == result.Fail && !strings.Contains(c.Explanation, "tmp_pack_") {
					t.Errorf("%s does not name the temp pack left: %s", c.ID, c.Explanation)
				}
			}
			if len(res.Checks) != 5 || res.Error != "" {
				t.Errorf("%d checks, error %q: want the gate's 5 and no error", len(res.Checks), res.Error)
			}
		})
	}
}

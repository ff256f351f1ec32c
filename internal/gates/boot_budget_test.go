package gates

import (
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/target"
)

// TestBootBudgetsDerived: with zero budgets the boot gate derives them
// from the settings; a budget given is used as given.
func TestBootBudgetsDerived(t *testing.T) {
	p := bootGate.Params().(*BootParams)
	st := DefaultSettings()
	first, all, failed := bootBudgets(p, st)
	// 0.5 s + (3 × 1 s + 12 × 0.8 s) / 8 + 1 s
	want := 3075 * time.Millisecond
	if first.d != want || all.d != want {
		t.Fatalf("defaults: first %v, all %v; want %v both (%s)", first.d, all.d, want, all.how)
	}
	// The correct server that syncs before it listens: 1.63 s.
	if first.d < 1630*time.Millisecond {
		t.Fatalf("first-healthy budget %v below the 1.63 s a correct sync-before-listen server took", first.d)
	}
	if failed.d != 4*time.Second || !strings.Contains(failed.how, "3 × timeout") {
		t.Fatalf("failed budget %v (%s); want 3 × 1 s + 1 s", failed.d, failed.how)
	}
	for _, s := range []string{"start-up 500ms", "3 offline × timeout 1s", "12 repos × clone 800ms", "/ 8 workers", "longest operation 1s"} {
		if !strings.Contains(all.how, s) {
			t.Errorf("explanation %q does not say %q", all.how, s)
		}
	}
	// Fewer workers, a longer timeout: the bound grows with both, and
	// passes 3 × timeout + 1 s, so offline scopes get it too.
	slow := target.Settings{GitTimeout: 5 * time.Second, MaxWorkers: 4, SyncConcurrency: 2, Shards: 1}
	if _, all2, failed2 := bootBudgets(p, slow); all2.d != 500*time.Millisecond+(15*time.Second+12*800*time.Millisecond)/2+5*time.Second || failed2.d != all2.d {
		t.Fatalf("2 workers, 5 s timeout: all %v (%s), failed %v", all2.d, all2.how, failed2.d)
	}
	given := *p
	given.FirstBudget, given.AllBudget, given.FailedBudget = time.Second, 2*time.Second, 3*time.Second
	if f, a, fl := bootBudgets(&given, st); f.d != time.Second || a.d != 2*time.Second || fl.d != 3*time.Second || !strings.Contains(f.how, "as given") {
		t.Fatalf("given budgets: %v %v %v (%s)", f.d, a.d, fl.d, f.how)
	}
}

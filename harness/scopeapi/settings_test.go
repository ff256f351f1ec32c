package scopeapi

import (
	"strings"
	"testing"
)

// TestLimits: each check takes its range's ends and refuses one step past
// them, naming the setting and the value.
func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		check    func(int) error
		ok, bad  []int
		contains string
	}{
		{CheckMaxWorkers, []int{1, 1000}, []int{0, -1}, "max workers"},
		{CheckSyncConcurrency, []int{1, 1000}, []int{0}, "sync concurrency"},
		{CheckShards, []int{1, MaxShards}, []int{0, MaxShards + 1, 300}, "shards"},
	} {
		for _, n := range tc.ok {
			if err := tc.check(n); err != nil {
				t.Errorf("%s %d: %v, want ok", tc.contains, n, err)
			}
		}
		for _, n := range tc.bad {
			if err := tc.check(n); err == nil || !strings.HasPrefix(err.Error(), tc.contains+" ") {
				t.Errorf("%s %d: %v, want an error naming %q", tc.contains, n, err, tc.contains)
			}
		}
	}
	if err := CheckShards(300); err == nil || err.Error() != "shards 300: must be in 1..256" {
		t.Errorf("CheckShards(300) = %v", err)
	}
}

package gates

import (
	"strings"
	"testing"
)

// TestLacksCaches: a cache key that is missing is not a zero; only a
// reading with all three keys can be judged.
func TestLacksCaches(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   map[string]float64
		ok   bool
		want string // "" = can be judged
	}{
		{"all three", map[string]float64{"repo_locks": 0, "repos": 0, "repos_last_fetched": 0, "rss_kb": 9}, true, ""},
		{"rss_kb only", map[string]float64{"rss_kb": 9}, true, "lacks repo_locks, repos, repos_last_fetched (it has: rss_kb)"},
		{"one missing", map[string]float64{"repo_locks": 1, "repos": 0}, true, "lacks repos_last_fetched"},
		{"empty", map[string]float64{}, true, "(it has: nothing)"},
		{"no endpoint", nil, false, "has no /internal/git-fetcher-cache-stats endpoint"},
	} {
		got := lacksCaches(tc.st, tc.ok)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: lacksCaches = %q, want %q", tc.name, got, tc.want)
		}
	}
}

package fetcher

import (
	"net/http"
	"testing"
	"time"
)

// TestMutantStaleContentCache: a scope is served, a commit changes one rego
// file, a refresh brings the new hash. Correct: the changed file is served
// as committed. stale-content-cache: the new hash with the old file.
func TestMutantStaleContentCache(t *testing.T) {
	for _, mutant := range []string{"", "stale-content-cache"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv, e, _, head := serving(t, mutant, 150, "a")
			before, _ := e.policy("a")
			next := srv.push("r", 151)
			if code, body := e.do("POST", "/scopes/a/refresh", nil); code >= 300 {
				t.Fatalf("refresh: HTTP %d %s", code, body)
			}
			e.waitHash("a", next, 10*time.Second)
			after, code := e.policy("a")
			if code != http.StatusOK {
				t.Fatalf("policy after the push: HTTP %d", code)
			}
			changed := 0
			for i, m := range after.PolicyModules {
				if i < len(before.PolicyModules) && before.PolicyModules[i].Path == m.Path && before.PolicyModules[i].Rego != m.Rego {
					changed++
				}
			}
			if mutant == "" && changed != 1 {
				t.Fatalf("after the push %s: %d rego files differ from %s, want the 1 the commit changed", next[:8], changed, head[:8])
			}
			if mutant != "" && changed != 0 {
				t.Fatalf("stale-content-cache: %d rego files differ after the push, want 0 (the files first read)", changed)
			}
		})
	}
}

package fetcher

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestMutantPurgeSharedOnDelete: a and b share one source (same url, same
// branch). Deleting a: correct keeps the clone and b serves;
// purge-shared-on-delete removes the clone under b, which then serves
// nothing.
func TestMutantPurgeSharedOnDelete(t *testing.T) {
	for _, mutant := range []string{"", "purge-shared-on-delete"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			_, e, u, _ := serving(t, mutant, 150, "a", "b")
			dir := filepath.Join(e.cfg.BaseDir, "git_sources", e.f.SourceID(u, "main"))
			if code, _ := e.do("DELETE", "/scopes/a", nil); code != http.StatusNoContent {
				t.Fatalf("DELETE a: HTTP %d", code)
			}
			e.settle()
			_, err := os.Stat(dir)
			kept := err == nil
			code, body := e.do("GET", "/scopes/b/policy", nil)
			if mutant == "" && (!kept || code != http.StatusOK) {
				t.Fatalf("correct: after deleting a, b's shared clone kept %v, b's policy HTTP %d %s; want kept and 200", kept, code, body)
			}
			if mutant != "" && (kept || code == http.StatusOK) {
				t.Fatalf("purge-shared-on-delete: clone kept %v, b's policy HTTP %d; want the clone gone and no bundle", kept, code)
			}
		})
	}
}

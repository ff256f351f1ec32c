package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/compare"
)

// opalDeleteRoute is the body of OPAL's DELETE /scopes/{id} route at
// a20489a3 (scopes/api.py): it removes the scope from redis and nothing
// else (docs/opal.md, finding 1).
const opalDeleteRoute = "        await scopes.delete(scope_id)\n"

// opalDeletePurge is the patched route: the same delete through
// ScopesService.delete_scope, which purges the clone, the repos cache and
// repos_last_fetched when no sibling shares the source (PR #923).
const opalDeletePurge = `        from opal_server.config import opal_server_config
        from opal_server.scopes.service import ScopesService

        try:
            await ScopesService(
                base_dir=pathlib.Path(opal_server_config.BASE_DIR),
                scopes=scopes,
                pubsub_endpoint=pubsub_endpoint,
            ).delete_scope(scope_id)
        except ScopeNotFoundError:
            pass  # as the unpatched route: deleting a missing scope is a no-op
`

// patchOPALDelete copies the OPAL server in dir to a temp dir and makes
// its DELETE route call ScopesService.delete_scope; it returns the copy.
func patchOPALDelete(t *testing.T, dir string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "opal")
	if out, err := exec.Command("cp", "-a", dir, cp).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", dir, err, out)
	}
	api := filepath.Join(cp, "src", "packages", "opal-server", "opal_server", "scopes", "api.py")
	b, err := os.ReadFile(api)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), opalDeleteRoute); n != 1 {
		t.Fatalf("%s: the DELETE route's %q found %d times, want once (another OPAL than a20489a3?)", api, strings.TrimSpace(opalDeleteRoute), n)
	}
	if err := os.WriteFile(api, []byte(strings.Replace(string(b), opalDeleteRoute, opalDeletePurge, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return cp
}

// opalPurgeMustImprove are the checks the purging DELETE must come out
// fixed or better on: the clone dirs, the disk, and what the tree holds
// of deleted scopes. churn.fds-flat does not move (docs/opal.md says
// why): it must be explained there, as every other change.
var opalPurgeMustImprove = []string{"churn.dirs-removed", "churn.disk-bytes-flat", "churn.nothing-held"}

// opalPurgeExplained are checks docs/opal.md must explain whatever their
// verdict.
var opalPurgeExplained = []string{"churn.fds-flat"}

// TestOPALDeletePurge compares the real OPAL server (base) with a copy
// whose DELETE route calls ScopesService.delete_scope (head), churn and
// delete-hang interleaved on this machine: churn's clone dirs, disk and
// what the tree holds of deleted scopes come out fixed or better, and
// every other check that changes is explained in docs/opal.md ("Base
// against head: a DELETE that purges").
// Minutes long: it runs with GITCHAOS_OPAL_COMPARE=1 (make opal-compare).
func TestOPALDeletePurge(t *testing.T) {
	if os.Getenv("GITCHAOS_OPAL_COMPARE") != "1" {
		t.Skip("set GITCHAOS_OPAL_COMPARE=1 (make opal-compare): base against head on the real OPAL server takes minutes")
	}
	dir, why := opalDir(t)
	if why != "" {
		t.Fatal(why)
	}
	head := patchOPALDelete(t, dir)
	out := keptTempDir(t, "gitchaos-opal-compare-*")
	tmpl := func(d string) string {
		return "'" + filepath.Join(d, "run-opal.sh") + "' --listen {addr} --base-dir {base_dir}"
	}
	code, stdout, stderr := runCLI(t, "compare", "-f", filepath.Join("..", "..", "docs", "opal", "suite.yaml"),
		"--only", "churn,delete-hang", "--base-cmd", tmpl(dir), "--head-cmd", tmpl(head),
		"--runs", "3", "--max-runs", "6", "--json", "--out", out)
	if code != exitOK && code != exitFail {
		t.Fatalf("gitchaos compare exit %d, want 0 or 1 (runs kept in %s)\nstderr:\n%s", code, out, stderr)
	}
	var c struct {
		Checks []compare.Outcome `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("compare --json: %v\n%s", err, stdout)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "opal.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Base against head: a DELETE that purges")
	section, _, _ = strings.Cut(section, "\n## ")
	var table []string
	for _, o := range c.Checks {
		table = append(table, fmt.Sprintf("%-32s %-14s %s", o.ID, o.Verdict, o.Reason))
		switch {
		case slices.Contains(opalPurgeMustImprove, o.ID):
			if o.Verdict != compare.Fixed && o.Verdict != compare.Better {
				t.Errorf("%s: %s, want fixed or better: %s", o.ID, o.Verdict, o.Reason)
			}
		case (o.Verdict == compare.Same || o.Verdict == compare.KnownFailure || o.Verdict == compare.Skipped) && !slices.Contains(opalPurgeExplained, o.ID):
		case !strings.Contains(section, "`"+o.ID+"`"):
			t.Errorf("%s: %s (%s), not explained in docs/opal.md's \"Base against head: a DELETE that purges\"", o.ID, o.Verdict, o.Reason)
		}
	}
	t.Logf("base %s, head its copy with the purging DELETE (runs in %s):\n%s", dir, out, strings.Join(table, "\n"))
}

package gates

import (
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/target"
)

// TestCompareContent: a bundle in OPAL's shape equal to the repo's files
// passes; a stale file names its path and first differing line; a file
// served and not in the repo, one in the repo and not served, a module
// served twice and a data module served as a JSON value are told apart.
func TestCompareContent(t *testing.T) {
	repo := map[string]string{
		"authz/p000.rego":  "package policies.authz.p000\n\nallow := true\n# change 1\n",
		"authz/data.json":  `{"dir": "authz", "k": 1}` + "\n",
		"data.json":        `{"root": true}` + "\n",
		"rbac/p001.rego":   "package policies.rbac.p001\n",
		"rbac/README.json": "ignored: not data.json",
	}
	delete(repo, "rbac/README.json") // policyFiles never returns it
	bundle := func(rego000 string, extra ...any) target.Bundle {
		b := target.Bundle{
			Hash: "abc",
			PolicyModules: []any{
				map[string]any{"path": "authz/p000.rego", "package_name": "policies.authz.p000", "rego": rego000},
				map[string]any{"path": "rbac/p001.rego", "package_name": "policies.rbac.p001", "rego": "package policies.rbac.p001\n"},
			},
			DataModules: []any{
				map[string]any{"path": "authz", "data": `{"dir": "authz", "k": 1}` + "\n"},
				map[string]any{"path": ".", "data": `{"root": true}` + "\n"},
			},
		}
		b.PolicyModules = append(b.PolicyModules, extra...)
		return b
	}
	if got := compareContent(bundleContent(bundle(repo["authz/p000.rego"])), repo); len(got) != 0 {
		t.Errorf("equal bundle: %v, want nothing", got)
	}
	stale := compareContent(bundleContent(bundle("package policies.authz.p000\n\nallow := true\n")), repo)
	if len(stale) != 1 || stale[0] != `authz/p000.rego: line 4: served (end of file), repo "# change 1"` {
		t.Errorf("stale file: %q", stale)
	}
	changed := compareContent(bundleContent(bundle("package policies.authz.p000\n\nallow := false\n# change 1\n")), repo)
	if len(changed) != 1 || changed[0] != `authz/p000.rego: line 3: served "allow := false", repo "allow := true"` {
		t.Errorf("changed line: %q", changed)
	}
	extra := compareContent(bundleContent(bundle(repo["authz/p000.rego"],
		map[string]any{"path": "/x/p9.rego", "rego": "package x\n"},
		map[string]any{"path": "rbac/p001.rego", "rego": "package policies.rbac.p001\n"})), repo)
	want := []string{"rbac/p001.rego: served twice", "x/p9.rego: served, not in the repo at this revision"}
	if strings.Join(extra, "|") != strings.Join(want, "|") {
		t.Errorf("extra modules: %q, want %q", extra, want)
	}
	b := bundle(repo["authz/p000.rego"])
	b.PolicyModules = b.PolicyModules[:1]
	b.DataModules[0] = map[string]any{"path": "authz", "data": map[string]any{"k": 1.0, "dir": "authz"}}
	missing := compareContent(bundleContent(b), repo)
	if len(missing) != 1 || missing[0] != "rbac/p001.rego: in the repo at this revision, not served" {
		t.Errorf("missing module, data as a JSON value: %q", missing)
	}
	if got := firstDiff("a\nb", "a\nb\n"); got != "line 2: the newline at the end of the file differs" {
		t.Errorf("firstDiff newline: %q", got)
	}
}

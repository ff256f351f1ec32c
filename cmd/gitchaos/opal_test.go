package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gitchaos/gitchaos/harness/result"
)

// expectedVerdicts is docs/opal/expected.yaml: what every check of the
// recipe suite (docs/opal/suite.yaml) says about the real OPAL server in
// ../shared/opal, and why.
type expectedVerdicts struct {
	OPAL   string          `yaml:"opal"`
	Checks []expectedCheck `yaml:"checks"`
}

type expectedCheck struct {
	// Check is the check's declared ID ("churn.fds-flat"; gitchaos checks
	// lists them), which names its scenario too.
	Check string `yaml:"check"`
	// Verdict is pass, fail or skip; alternatives ("fail|pass",
	// "fail|skip": a leak verdict undecided at its cap is a skip) only
	// with a Margin saying why the check sits at its budget on this machine.
	Verdict string `yaml:"verdict"`
	Cause   string `yaml:"cause,omitempty"`
	Margin  string `yaml:"margin,omitempty"`
	// ValueMax bounds the check's measured number (a trend's slope) whatever
	// its verdict. A check whose verdict depends on timing outside the
	// harness (Python's cyclic GC) may allow every verdict only with this
	// bound, so its pin still catches an OPAL that leaks more.
	ValueMax *float64 `yaml:"value_max,omitempty"`
}

// allows reports whether verdict v meets the expectation.
func (c expectedCheck) allows(v result.Verdict) bool {
	return slices.Contains(strings.Split(c.Verdict, "|"), string(v))
}

func loadExpected(t *testing.T, path string) map[string]expectedCheck {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseExpected(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// parseExpected reads an expected-verdicts file, keyed by check ID, and
// rejects a pin that checks less than it claims: a check that is not an
// ID (internal/gates' TestDeclaredChecksReferences checks each is
// declared), an unknown verdict,
// alternatives without a margin, a fail without its cause, every verdict
// allowed without a value_max, a check listed twice.
// checkID is the shape of a check ID.
var checkID = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$`)

func parseExpected(b []byte) (map[string]expectedCheck, error) {
	var ev expectedVerdicts
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&ev); err != nil {
		return nil, err
	}
	m := map[string]expectedCheck{}
	for _, c := range ev.Checks {
		k := c.Check
		if !checkID.MatchString(k) {
			return nil, fmt.Errorf("check %q: want a declared check id, <gate>.<slug> (gitchaos checks)", k)
		}
		vs := strings.Split(c.Verdict, "|")
		for _, v := range vs {
			switch result.Verdict(v) {
			case result.Pass, result.Fail, result.Skip:
			default:
				return nil, fmt.Errorf("%s: verdict %q, want pass, fail, skip or alternatives (fail|pass)", k, c.Verdict)
			}
		}
		switch {
		case len(vs) > 1 && c.Margin == "":
			return nil, fmt.Errorf("%s: verdict %q needs a margin saying why either verdict is measured here", k, c.Verdict)
		case len(vs) == 3 && c.ValueMax == nil:
			return nil, fmt.Errorf("%s: verdict %q allows every verdict; it needs a value_max so the pin still checks something", k, c.Verdict)
		case slices.Contains(vs, string(result.Fail)) && c.Cause == "":
			return nil, fmt.Errorf("%s: a fail needs its cause (OPAL file:line and PR)", k)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s listed twice", k)
		}
		m[k] = c
	}
	return m, nil
}

// opalDir is ../shared/opal from the module root, or "" with the reason it
// cannot run here.
func opalDir(t *testing.T) (string, string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "opal"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run-opal.sh")); err != nil {
		return "", "no real OPAL server beside the checkout (../shared/opal/run-opal.sh): " + err.Error()
	}
	for _, bin := range []string{"redis-server", "setpriv"} {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Sprintf("%s not installed (run ../shared/opal/setup.sh): %v", bin, err)
		}
	}
	probe := exec.Command("/usr/bin/python3", "-c", "import pygit2, fastapi, uvicorn, redis")
	if out, err := probe.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("OPAL's Python packages missing (run ../shared/opal/setup.sh): %v: %s", err, out)
	}
	return dir, ""
}

// TestRealOPAL runs the recipe suite against the real OPAL server and
// compares every check's verdict with docs/opal/expected.yaml: a harness
// regression or a changed OPAL shows as a diff with the check's numbers.
// GITCHAOS_REQUIRE_OPAL=1 (CI) turns a missing OPAL into a failure.
func TestRealOPAL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real OPAL gate takes minutes")
	}
	dir, why := opalDir(t)
	if why != "" {
		if os.Getenv("GITCHAOS_REQUIRE_OPAL") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	tmpl := "'" + filepath.Join(dir, "run-opal.sh") + "' --listen {addr} --base-dir {base_dir}"
	gateAgainstPins(t, tmpl, "suite.yaml", "expected.yaml")
}

// gateAgainstPins runs the suite file docs/opal/SUITE against the target
// command tmpl and compares every verdict with docs/opal/EXPECTED.
func gateAgainstPins(t *testing.T, tmpl, suite, expected string) {
	t.Helper()
	want := loadExpected(t, filepath.Join("..", "..", "docs", "opal", expected))
	out := keptTempDir(t, "gitchaos-opal-*")
	code, stdout, stderr := runCLI(t, "gate", "-f", filepath.Join("..", "..", "docs", "opal", suite),
		"--target-cmd", tmpl, "--out", out)
	t.Logf("gitchaos gate exit %d\n%s", code, stdout)
	if code != exitOK && code != exitFail {
		t.Fatalf("exit %d, want 0 or 1\nstderr:\n%s", code, stderr)
	}
	run, err := result.Load(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diffs := compareVerdicts(run, want); len(diffs) > 0 {
		t.Fatalf("%d verdict(s) differ from docs/opal/%s (report in %s):\n%s", len(diffs), expected, out, strings.Join(diffs, "\n"))
	}
}

// keptTempDir makes a temp dir for a run's reports and logs, removed at
// the end of the test unless it failed (they are kept to look at).
func keptTempDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	return dir
}

// compareVerdicts lists, sorted, how run differs from the expected
// verdicts: scenario errors, checks whose verdict or value the pin does not
// allow, checks missing on either side.
func compareVerdicts(run *result.Run, want map[string]expectedCheck) []string {
	var diffs []string
	seen := map[string]bool{}
	for _, sc := range run.Scenarios {
		if sc.Error != "" {
			diffs = append(diffs, fmt.Sprintf("%s: scenario error: %s", sc.Name, sc.Error))
		}
		for _, c := range sc.Checks {
			seen[c.ID] = true
			e, ok := want[c.ID]
			k := c.ID + " (" + sc.Name + " / " + c.Name + ")"
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s: new check, %s (measured %s, budget %s): add it to docs/opal/expected.yaml", k, c.Verdict, c.Measured, c.Budget))
			case !e.allows(c.Verdict):
				diffs = append(diffs, fmt.Sprintf("%s: %s, expected %s (measured %s, budget %s): %s", k, c.Verdict, e.Verdict, c.Measured, c.Budget, c.Explanation))
			case e.ValueMax != nil && c.Value > *e.ValueMax:
				diffs = append(diffs, fmt.Sprintf("%s: measured %g %s over the pinned value_max %g (%s): %s", k, c.Value, c.Unit, *e.ValueMax, c.Measured, c.Explanation))
			}
		}
	}
	for k := range want {
		if !seen[k] {
			diffs = append(diffs, k+": expected but not in the run")
		}
	}
	sort.Strings(diffs)
	return diffs
}

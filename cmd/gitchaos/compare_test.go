package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/compare"
)

// compareReports are saved churn runs (series trimmed) of
// 'gitchaos gate --only churn --seed N --out DIR', seeds 1..5 on the
// correct reference fetcher, seeds 1..3 with --mutant fd-leak-on-delete.
func compareReports(kind string, seeds ...int) []string {
	var out []string
	for _, s := range seeds {
		out = append(out, filepath.Join("testdata", "compare", kind+"-"+string(rune('0'+s)), "report.json"))
	}
	return out
}

func compareJSON(t *testing.T, base, head []string, extra ...string) (int, comparison) {
	t.Helper()
	args := append(append(append([]string{"compare", "--json"}, extra...), base...), "--")
	code, stdout, stderr := runCLI(t, append(args, head...)...)
	var c comparison
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("compare --json: exit %d, %v\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
	}
	return code, c
}

func outcomeOf(t *testing.T, c comparison, check string) compare.Outcome {
	t.Helper()
	for _, o := range c.Checks {
		if o.Check == check {
			return o
		}
	}
	t.Fatalf("no check %q in %+v", check, c.Checks)
	return compare.Outcome{}
}

const fdsCheck = "fds flat across churn cycles"

func TestCompareCorrectToMutantIsBroken(t *testing.T) {
	code, c := compareJSON(t, compareReports("correct", 1, 2, 3), compareReports("mutant", 1, 2, 3))
	if code != exitFail || c.Verdict != "fail" {
		t.Errorf("exit %d, verdict %s; want 1, fail", code, c.Verdict)
	}
	if o := outcomeOf(t, c, fdsCheck); o.Verdict != compare.Broken || o.Shift == nil || o.Shift.Estimate != 8 {
		t.Errorf("fds: %s (%s), want broken with shift +8 fds/cycle", o.Verdict, o.Reason)
	}
	for _, o := range c.Checks {
		if o.Verdict == compare.Worse || o.Verdict == compare.Fixed || o.Verdict == compare.Better {
			t.Errorf("%s: %s (%s): only the mutant's leak checks should move", o.Key, o.Verdict, o.Reason)
		}
	}
}

func TestCompareMutantToCorrectIsFixed(t *testing.T) {
	code, c := compareJSON(t, compareReports("mutant", 1, 2, 3), compareReports("correct", 1, 2, 3))
	if code != exitOK {
		t.Errorf("exit %d, want 0: fixed is not a failure", code)
	}
	if o := outcomeOf(t, c, fdsCheck); o.Verdict != compare.Fixed {
		t.Errorf("fds: %s (%s), want fixed", o.Verdict, o.Reason)
	}
}

func TestCompareCorrectToCorrectNothingBrokenOrWorse(t *testing.T) {
	code, c := compareJSON(t, compareReports("correct", 1, 2, 3), compareReports("correct", 4, 5))
	for _, o := range c.Checks {
		switch o.Verdict {
		case compare.Broken, compare.Worse, compare.Fixed, compare.Better, compare.KnownFailure:
			t.Errorf("%s: %s (%s): A/A must not move", o.Key, o.Verdict, o.Reason)
		}
	}
	if o := outcomeOf(t, c, fdsCheck); o.Verdict != compare.Same {
		t.Errorf("fds: %s (%s), want same: +0 fds/cycle in every run", o.Verdict, o.Reason)
	}
	if code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
	// One run a side decides no varying value: heap and RSS slopes are
	// undecided, which fails with --fail-on-undecided.
	code, c = compareJSON(t, compareReports("correct", 1), compareReports("correct", 2), "--fail-on-undecided")
	if code != exitFail || c.Counts["undecided"] == 0 {
		t.Errorf("1 v 1 with --fail-on-undecided: exit %d, counts %v; want 1 with undecided checks", code, c.Counts)
	}
}

func TestCompareTableAndMarkdown(t *testing.T) {
	args := append(append([]string{"compare"}, compareReports("correct", 1, 2, 3)...), "--")
	args = append(args, compareReports("mutant", 1, 2, 3)...)
	code, out, _ := runCLI(t, args...)
	for _, want := range []string{"DELTA (95% CI)", "+8 fds/cycle (+8..+8, 90%)", "0/3 → 3/3", "broken", "interleaved", "FAIL: 9 checks: 3 broken"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if code != exitFail {
		t.Errorf("table exit %d, want 1", code)
	}
	code, md, _ := runCLI(t, append(args, "--markdown")...)
	top, folded, ok := strings.Cut(md, "<details>")
	if !ok || !strings.Contains(top, "**broken**") || strings.Contains(top, "caches drain") || !strings.Contains(folded, "caches drain") {
		t.Errorf("markdown: want broken rows first and same rows folded:\n%s", md)
	}
	if code != exitFail {
		t.Errorf("markdown exit %d, want 1", code)
	}
}

func TestCompareUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.json")
	b, err := os.ReadFile(compareReports("correct", 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte(strings.Replace(string(b), "max-workers=8", "max-workers=2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, "renamed.json")
	if err := os.WriteFile(renamed, []byte(strings.ReplaceAll(string(b), `"name": "churn"`, `"name": "churn2"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	c1 := compareReports("correct", 1)[0]
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", c1}, "missing --"},
		{[]string{"compare", "--", c1}, "no base report"},
		{[]string{"compare", c1, "--"}, "no head report"},
		{[]string{"compare", c1, "--", "/no/such/report.json"}, "/no/such/report.json"},
		{[]string{"compare", c1, "--", bad}, "bad.json"},
		{[]string{"compare", c1, "--", other}, "target settings"},
		{[]string{"compare", c1, "--", renamed}, "no check common"},
		{[]string{"compare", "--json", "--markdown", c1, "--", c1}, "exclusive"},
		{[]string{"compare", "--alpha", "2", c1, "--", c1}, "--alpha 2"},
		{[]string{"compare", "--bogus", c1, "--", c1}, "bogus"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 naming %q", code, stderr, tc.want)
			}
		})
	}
	if code, out, _ := runCLI(t, "compare", "-h"); code != exitOK || !strings.Contains(out, "interleaved") {
		t.Errorf("compare -h: exit %d, %q", code, out)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/compare"
	"github.com/gitchaos/gitchaos/harness/result"
)

func TestCompareRunUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--runs", "3"}, "nothing to compare"},
		{[]string{"--aa", "--head-mutant", "fd-leak-on-delete"}, "--aa runs the base against itself"},
		{[]string{"--base-cmd", "x {addr}", "--base-mutant", "fd-leak-on-delete", "--head-mutant", "fd-leak-on-delete"}, "are exclusive"},
		{[]string{"--aa", "--base-pid", "12"}, "need --base URL"},
		{[]string{"--aa", "--base-env", "A=1"}, "--base-env needs --base-cmd"},
		{[]string{"--aa", "--runs", "1"}, "at least 2 runs a side"},
		{[]string{"--aa", "--runs", "4", "--max-runs", "3"}, "at least --runs"},
		{[]string{"--head-mutant", "no-such-bug"}, "no-such-bug"},
		{[]string{"--aa", "--only", "no-such-gate"}, "no-such-gate"},
		{[]string{"--aa", "--json", "--markdown"}, "exclusive"},
		{[]string{"--head-cmd", "sh -c : {addr}"}, "one testbed"},
	} {
		code, _, stderr := runCLI(t, append([]string{"compare"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("compare %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}

func TestCompareWantsRun(t *testing.T) {
	for args, want := range map[string]bool{
		"--aa":                           true,
		"-head-mutant=x":                 true,
		"--runs 5 --only churn":          true,
		"--json a.json -- b.json":        false,
		"a.json -- --aa/report.json":     false,
		"--markdown base.json -- h.json": false,
	} {
		if got := wantsRun(strings.Fields(args)); got != want {
			t.Errorf("wantsRun(%s) = %v, want %v", args, got, want)
		}
	}
}

// An A/A run of the quickest gate, 2 pairs: nothing moves, every run's
// report is kept, and the kept reports judge the same again, saved or
// merged.
func TestCompareRunAA(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, "compare", "--aa", "--only", "webhook-storm", "--runs", "2", "--max-runs", "2", "--seed", "7", "--json", "--out", dir)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var c comparison
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("parse: %v\n%s", err, stdout)
	}
	if c.Design != interleavedDesign || !slices.Equal(c.Base.Seeds, []int64{7, 8}) || !slices.Equal(c.Head.Seeds, []int64{7, 8}) {
		t.Errorf("design %q, seeds %v / %v; want interleaved, 7,8 a side", c.Design, c.Base.Seeds, c.Head.Seeds)
	}
	for _, o := range c.Checks {
		if o.Verdict.Fails(false) {
			t.Errorf("A/A %s: %s (%s)", o.Key, o.Verdict, o.Reason)
		}
	}
	// A B then B A: the pair order is in the progress lines.
	var order []string
	for _, l := range strings.Split(stderr, "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[1] == "pair" {
			order = append(order, f[3])
		}
	}
	if !slices.Equal(order, []string{"base", "head", "head", "base"}) {
		t.Errorf("run order %v, want base head head base\n%s", order, stderr)
	}
	for _, side := range []string{"base", "head"} {
		for _, i := range []string{"1", "2"} {
			if _, err := os.Stat(filepath.Join(dir, side+"-"+i, "report.json")); err != nil {
				t.Error(err)
			}
		}
	}
	code, merged, stderr := runCLI(t, "compare", "merge", "--json", dir)
	var m comparison
	if err := json.Unmarshal([]byte(merged), &m); code != exitOK || err != nil {
		t.Fatalf("compare merge: exit %d, %v\n%s", code, err, stderr)
	}
	if len(m.Checks) != len(c.Checks) || m.Counts["same"] != c.Counts["same"] {
		t.Errorf("merge judged %v, the run %v", m.Counts, c.Counts)
	}
}

// Past --runs, a pair runs only the scenarios holding an undecided check.
func TestUndecidedScenarios(t *testing.T) {
	run := func(seed int64, fdsVerdict result.Verdict) *result.Run {
		return &result.Run{ID: "r", Kind: "gate", Seed: seed, Scenarios: []*result.Scenario{
			{Name: "churn", Checks: []result.Check{{ID: "fds-flat", Name: "fds", Budget: "CI <= 0 fds/cycle", Unit: "fds/cycle", Verdict: fdsVerdict}}},
			{Name: "boot", Checks: []result.Check{{ID: "t", Name: "t", Budget: "<= 1 s", Unit: "s", Value: 0.5, Verdict: result.Pass}}},
		}}
	}
	c := &comparison{}
	for i := range 2 {
		c.add(0, "b", run(int64(i), result.Pass))
		c.add(1, "h", run(int64(i), result.Fail))
	}
	got, _, err := undecidedScenarios(c, 0.05, 8)
	if err != nil || !slices.Equal(got, []string{"churn"}) {
		t.Errorf("2 v 2, fds passing on base and failing on head: undecided in %v (%v), want churn only", got, err)
	}
	if got, hopeless, _ := undecidedScenarios(c, 0.05, 0); len(got) != 0 || len(hopeless) != 1 {
		t.Errorf("no pair left: undecided in %v, hopeless %v; want none, churn's fds", got, hopeless)
	}
	c.add(0, "b", run(3, result.Pass))
	c.add(1, "h", run(3, result.Fail))
	if got, _, _ := undecidedScenarios(c, 0.05, 7); len(got) != 0 {
		t.Errorf("3 v 3 unanimous: undecided in %v, want none", got)
	}
	checks, _, _ := compare.FromRuns(c.runs[0], c.runs[1])
	if o := compare.Compare(checks, compare.Options{Alpha: 0.05}); o[0].Verdict != compare.Broken {
		t.Errorf("fds: %s, want broken", o[0].Verdict)
	}
}

// --html writes a page with both sides' values per check.
func TestCompareHTML(t *testing.T) {
	page := filepath.Join(t.TempDir(), "c.html")
	code, _, stderr := runCLI(t, append(append(append([]string{"compare", "--html", page}, compareReports("correct", 1, 2, 3)...), "--"), compareReports("mutant", 1, 2, 3)...)...)
	if code != exitFail {
		t.Fatalf("exit %d, want 1 (broken)\n%s", code, stderr)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"<svg", `class="broken">broken`, fdsCheck, htmlBase, htmlHead} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// compare merge takes base-i and head-i of every part directory, in the
// order of i, and judges them as the saved-report mode does.
func TestCompareMerge(t *testing.T) {
	dir := t.TempDir()
	for i, src := range compareReports("correct", 1, 2, 3) {
		copyFile(t, src, filepath.Join(dir, "part-1", "base-"+string(rune('1'+i)), "report.json"))
	}
	for i, src := range compareReports("mutant", 1, 2, 3) {
		copyFile(t, src, filepath.Join(dir, "part-1", "head-"+string(rune('1'+i)), "report.json"))
	}
	code, out, stderr := runCLI(t, "compare", "merge", "--json", filepath.Join(dir, "part-1"))
	var m comparison
	if err := json.Unmarshal([]byte(out), &m); err != nil || code != exitFail {
		t.Fatalf("merge: exit %d, %v\n%s", code, err, stderr)
	}
	_, saved := compareJSON(t, compareReports("correct", 1, 2, 3), compareReports("mutant", 1, 2, 3))
	if !slices.Equal(m.Base.Seeds, saved.Base.Seeds) || len(m.Checks) != len(saved.Checks) {
		t.Fatalf("merge: seeds %v, %d checks; saved mode: %v, %d", m.Base.Seeds, len(m.Checks), saved.Base.Seeds, len(saved.Checks))
	}
	for i := range m.Checks {
		if m.Checks[i].Verdict != saved.Checks[i].Verdict {
			t.Errorf("%s: merged %s, saved %s", m.Checks[i].Key, m.Checks[i].Verdict, saved.Checks[i].Verdict)
		}
	}
	if code, _, stderr := runCLI(t, "compare", "merge", dir); code != exitUsage || !strings.Contains(stderr, "holds no base-i/report.json") {
		t.Errorf("a dir without parts: exit %d, %q", code, stderr)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompareMutantsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mutants", "all", "--runs", "1"}, "at least 2"},
		{[]string{"--mutants", "all", "--parallel", "0"}, "at least 1"},
		{[]string{"--mutants", "no-such-bug"}, "no-such-bug"},
		{[]string{"--mutants", "fd-leak-on-delete", "--only", "boot"}, "no mutant is guarded"},
	} {
		code, _, stderr := runCLI(t, append([]string{"compare"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("compare %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	code, out, _ := runCLI(t, "compare", "--mutants", "all", "--dry-run")
	if code != exitOK || !strings.Contains(out, "would compare correct with fd-leak-on-delete on churn, 3 runs a side") {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}
}

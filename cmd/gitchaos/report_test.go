package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
)

// savedRun writes a gate run to dir/report.json: a churn scenario whose
// fds grow one per cycle (failing unless pass) and a passing boot.
func savedRun(t *testing.T, pass bool) string {
	t.Helper()
	var fds []result.Point
	for c := 1; c <= 20; c++ {
		y := 40.0
		if !pass {
			y += float64(c)
		}
		fds = append(fds, result.Point{X: float64(c), Y: y})
	}
	check := result.Check{Name: "fds flat", Measured: "+0 fds/cycle", Budget: "<= 0 fds/cycle", Unit: "fds/cycle", Verdict: result.Pass, Series: "fds per cycle"}
	fit := &result.Fit{Method: "theil-sen", Intercept: 40, FromX: 3, ToX: 20}
	if !pass {
		check.Measured, check.Value, check.Verdict = "+1 fds/cycle", 1, result.Fail
		check.Explanation = "fds grew +1/cycle over cycles 3–20"
		fit.Slope, fit.Low, fit.High = 1, 0.98, 1.02
	}
	run := &result.Run{
		ID: "gate-test", Kind: "gate", Seed: 1, Target: "in-process reffetcher", Testbed: "local",
		Started: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), Duration: 12,
		Scenarios: []*result.Scenario{
			{Name: "churn", Seed: 1, Duration: 10, Checks: []result.Check{check},
				Series: []result.Series{{Name: "fds per cycle", Metric: "fds", Unit: "fds", XUnit: "cycle", Points: fds, Fit: fit}}},
			{Name: "boot", Seed: 2, Duration: 2, Checks: []result.Check{{Name: "all scopes served", Measured: "20/20", Budget: "20", Verdict: result.Pass}}},
		},
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := run.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func runReport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), append([]string{"report"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func TestReportRendersAllFormats(t *testing.T) {
	in := savedRun(t, false)
	dir := t.TempDir()
	html, md, junit, js := filepath.Join(dir, "r.html"), filepath.Join(dir, "r.md"), filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.json")
	// Flags before and after the input file.
	code, _, stderr := runReport(t, "--html", html, in, "--md", md, "--junit", junit, "--json", js)
	if code != exitFail {
		t.Fatalf("exit %d for a failing run, want %d; stderr:\n%s", code, exitFail, stderr)
	}
	if !strings.Contains(stderr, "gate gate-test: FAIL") {
		t.Errorf("stderr lacks the verdict:\n%s", stderr)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if h := read(html); !strings.Contains(h, `<figure class="chart failed"`) || strings.Count(h, "<svg") != 1 {
		t.Errorf("HTML lacks the outlined fds chart")
	}
	if m := read(md); !strings.HasPrefix(m, "### ❌ gitchaos gate failed") || !strings.Contains(m, "| churn | fds flat | +1 fds/cycle |") {
		t.Errorf("Markdown:\n%s", m)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(read(junit)), &doc); err != nil || doc.Tests != 2 || doc.Failures != 1 {
		t.Errorf("JUnit: tests=%d failures=%d err=%v; want 2 tests, 1 failure", doc.Tests, doc.Failures, err)
	}
	if read(js) != read(in) {
		t.Errorf("--json output differs from the input report.json")
	}
}

func TestReportPassingToStdout(t *testing.T) {
	code, stdout, stderr := runReport(t, savedRun(t, true), "--md", "-")
	if code != exitOK {
		t.Fatalf("exit %d for a passing run; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "### ✅ gitchaos gate passed") {
		t.Errorf("stdout = %q, want the Markdown summary", stdout)
	}
	if strings.Contains(stdout, "gitchaos report:") {
		t.Errorf("status lines leaked into stdout")
	}
}

func TestReportUsageErrors(t *testing.T) {
	in := savedRun(t, true)
	notJSON := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(notJSON, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "r.html")
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no args":         {nil, "missing the report.json"},
		"no outputs":      {[]string{in}, "nothing to write"},
		"two inputs":      {[]string{in, in, "--md", "-"}, "one report.json at a time"},
		"two stdouts":     {[]string{in, "--md", "-", "--junit", "-"}, "only one output"},
		"unknown flag":    {[]string{in, "--pdf", "x"}, "flag provided but not defined: -pdf"},
		"flag no value":   {[]string{in, "--html"}, "flag needs an argument: -html"},
		"missing input":   {[]string{"/nonexistent/report.json", "--md", "-"}, "/nonexistent/report.json"},
		"not json":        {[]string{notJSON, "--md", "-"}, "parse " + notJSON},
		"empty object":    {[]string{empty, "--md", "-"}, "holds no run"},
		"unwritable path": {[]string{in, "--html", missingDir}, "--html: reports: create " + missingDir},
	} {
		code, _, stderr := runReport(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit %d and %q", name, code, stderr, exitUsage, c.want)
		}
	}
	if code, stdout, _ := runReport(t, "-h"); code != exitOK || !strings.Contains(stdout, "usage: gitchaos report") {
		t.Errorf("-h: exit %d, stdout %q", code, stdout)
	}
}

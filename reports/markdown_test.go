package reports

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/result"
)

func renderMarkdown(t *testing.T, run *result.Run) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, run); err != nil {
		t.Fatalf("WriteMarkdown: %v", err)
	}
	return buf.String()
}

// TestMarkdownFailingGate: verdict line first, the failing checks in a
// table with their numbers, before the collapsed passing checks.
func TestMarkdownFailingGate(t *testing.T) {
	md := renderMarkdown(t, sampleFailingRun())
	first, _, _ := strings.Cut(md, "\n")
	if !strings.HasPrefix(first, "### ❌ gitchaos gate") || !strings.Contains(first, "1 failed") || !strings.Contains(first, "7 passed") {
		t.Errorf("verdict line = %q, want a red verdict with the counts", first)
	}
	failing := strings.Index(md, "#### Failing checks")
	row := strings.Index(md, "| churn (fd-leak-on-delete) | fds flat | +1.02 fds/cycle | &lt;= 0 fds/cycle | fds grew +1.02/cycle")
	passing := strings.Index(md, "<details><summary>Passing checks (7)</summary>")
	if failing < 0 || row < 0 || passing < 0 || !(failing < row && row < passing) {
		t.Errorf("want the failing table (at %d) with the fds row (at %d) before the collapsed passing checks (at %d):\n%s", failing, row, passing, md)
	}
	for _, want := range []string{
		"| webhook storm | (scenario error) |",           // a scenario that never ran is a failure row
		"| heap profile captured (error) |",              // so is a check that errored
		"<details><summary>Skipped checks (1)</summary>", // skipped ones are collapsed too
		"mutants fd-leak-on-delete",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Index(md, "| churn (fd-leak-on-delete) | rss flat |") < passing {
		t.Errorf("a passing check appears outside <details>:\n%s", md)
	}
}

func TestMarkdownPassingGate(t *testing.T) {
	md := renderMarkdown(t, samplePassingRun())
	if !strings.HasPrefix(md, "### ✅ gitchaos gate passed") {
		t.Errorf("verdict line = %q", strings.SplitN(md, "\n", 2)[0])
	}
	if strings.Contains(md, "Failing checks") {
		t.Errorf("a passing gate shows a failing table:\n%s", md)
	}
	if len(md) > 4096 {
		t.Errorf("summary of a 3-scenario gate is %d bytes; want it short (< 4 KiB) for a PR comment", len(md))
	}
}

// TestMarkdownEscaping: cell text cannot break the table or inject HTML.
func TestMarkdownEscaping(t *testing.T) {
	run := &result.Run{ID: "x", Scenarios: []*result.Scenario{{Name: "a|b", Checks: []result.Check{{
		Name: "c", Verdict: result.Fail, Measured: "1 | 2", Budget: "<script>alert(1)</script>",
		Explanation: "line one\nline two",
	}}}}}
	md := renderMarkdown(t, run)
	want := `| a\|b | c | 1 \| 2 | &lt;script&gt;alert(1)&lt;/script&gt; | line one<br>line two |`
	if !strings.Contains(md, want) {
		t.Errorf("escaped row missing; want %q in:\n%s", want, md)
	}
}

// TestMarkdownLimit: a run with thousands of failing checks still fits a PR
// comment, keeps the verdict line and says what was left out.
func TestMarkdownLimit(t *testing.T) {
	s := &result.Scenario{Name: "soak"}
	for i := range 5000 {
		s.Checks = append(s.Checks, result.Check{
			Name: fmt.Sprintf("window %d fds flat", i), Verdict: result.Fail,
			Measured: "+1 fds/cycle", Budget: "<= 0 fds/cycle", Explanation: strings.Repeat("x", 200),
		})
	}
	s.Checks = append(s.Checks, result.Check{Name: "ok", Verdict: result.Pass})
	md := renderMarkdown(t, &result.Run{ID: "soak-1", Kind: "soak", Scenarios: []*result.Scenario{s}})
	if len(md) > MarkdownLimit {
		t.Errorf("markdown is %d bytes, limit %d", len(md), MarkdownLimit)
	}
	if !strings.HasPrefix(md, "### ❌ gitchaos soak failed — 5001 checks: 1 passed, 5000 failed") {
		t.Errorf("verdict line = %q", strings.SplitN(md, "\n", 2)[0])
	}
	if !strings.Contains(md, "more failing checks not shown") || !strings.Contains(md, "| soak | window 0 fds flat |") {
		t.Errorf("want the first failing rows and a note on the rest; got %d bytes ending:\n%s", len(md), md[max(0, len(md)-600):])
	}
}

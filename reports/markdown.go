package reports

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/gitchaos/gitchaos/harness/result"
)

// MarkdownLimit is the most bytes WriteMarkdown writes: under GitHub's
// 65,536-character limit for a pull request comment (step summaries allow
// 1 MiB), with room for a bot's own header.
const MarkdownLimit = 60 * 1024

// markdownCell caps one table cell.
const markdownCell = 400

// WriteMarkdown writes a summary of run for a pull request comment or a CI
// step summary: a verdict line with counts, a table of failing (and
// errored) checks first with measured, budget and explanation, then the
// passing and skipped checks collapsed in <details>. Output never exceeds
// MarkdownLimit bytes; rows that do not fit are dropped with a note saying
// how many and where to find them.
func WriteMarkdown(w io.Writer, run *result.Run) error {
	if run == nil {
		return errNilRun
	}
	var b bytes.Buffer
	c := countRun(run)
	icon, word := "✅", "passed"
	switch run.Verdict() {
	case result.Fail:
		icon, word = "❌", "failed"
	case result.Error:
		icon, word = "❌", "errored"
	case result.Skip:
		icon, word = "⚠️", "ran no checks"
	}
	kind := run.Kind
	if kind == "" {
		kind = "run"
	}
	fmt.Fprintf(&b, "### %s gitchaos %s %s — %s: %d passed, %d failed, %s, %d skipped",
		icon, kind, word, plural(c.Checks, "check"), c.Pass, c.Fail, plural(c.Errs, "error"), c.Skip)
	if c.ScenarioErrors > 0 {
		fmt.Fprintf(&b, "; %s", plural(c.ScenarioErrors, "scenario error"))
	}
	b.WriteString("\n\n")
	meta := []string{
		"run `" + mdCode(run.ID) + "`",
		fmt.Sprintf("seed `%d`", run.Seed),
		"target " + mdText(truncate(run.Target, 300)),
		"testbed " + mdText(run.Testbed),
		"duration " + result.FormatDuration(run.Duration),
	}
	if len(run.Mutants) > 0 {
		meta = append(meta, "mutants "+mdText(strings.Join(run.Mutants, ", ")))
	}
	if run.Settings != "" {
		meta = append(meta, "settings "+mdText(run.Settings))
	}
	if l := shardLabel(run); l != "" {
		meta = append(meta, mdText(l))
	}
	b.WriteString(strings.Join(meta, " · "))
	b.WriteString("\n\n")
	if c := run.Catch; c != nil {
		word := "MISSED"
		if c.Caught() {
			word = "caught"
		}
		fmt.Fprintf(&b, "#### Mutant `%s`: %s\n\nseam %s · %s\n\n", mdCode(c.Mutant), word, mdText(c.Seam), mdText(c.Upstream))
		var rows [][]string
		for _, m := range c.MustFail {
			v := string(m.Verdict)
			if v == "" {
				v = "not run"
			}
			rows = append(rows, []string{m.Scenario, m.Check + idSuffix(m.ID), v})
		}
		mdTable(&b, MarkdownLimit-2048, []string{"scenario", "check that must fail", "verdict"}, rows, "must-fail")
		if len(c.Collateral) > 0 {
			var coll []string
			for _, x := range c.Collateral {
				coll = append(coll, x.String())
			}
			b.WriteString("\nCollateral (other failing checks): " + mdText(strings.Join(coll, "; ")) + "\n")
		}
		b.WriteString("\n")
	}

	var bad, good, skipped [][]string
	for _, s := range scenarios(run) {
		if s.Error != "" {
			bad = append(bad, []string{s.Name, "(scenario error)", "-", "-", s.Error})
		}
		for _, ch := range s.Checks {
			switch checkVerdict(ch.Verdict) {
			case result.Pass:
				good = append(good, []string{s.Name, ch.Name, ch.Measured, ch.Budget})
			case result.Skip:
				skipped = append(skipped, []string{s.Name, ch.Name, ch.Explanation})
			case result.Fail:
				bad = append(bad, []string{s.Name, ch.Name, ch.Measured, ch.Budget, ch.Explanation})
			default:
				bad = append(bad, []string{s.Name, ch.Name + " (error)", ch.Measured, ch.Budget, ch.Explanation})
			}
		}
	}

	// Reserve room for the closing notes; each section stops adding rows
	// when the next one would not fit.
	const reserve = 1024
	limit := MarkdownLimit - reserve
	if len(bad) > 0 {
		b.WriteString("#### Failing checks\n\n")
		mdTable(&b, limit, []string{"scenario", "check", "measured", "budget", "explanation"}, bad, "failing")
		b.WriteString("\n")
	}
	if len(good) > 0 {
		fmt.Fprintf(&b, "<details><summary>Passing checks (%d)</summary>\n\n", len(good))
		mdTable(&b, limit, []string{"scenario", "check", "measured", "budget"}, good, "passing")
		b.WriteString("\n</details>\n")
	}
	if len(skipped) > 0 {
		fmt.Fprintf(&b, "<details><summary>Skipped checks (%d)</summary>\n\n", len(skipped))
		mdTable(&b, limit, []string{"scenario", "check", "reason"}, skipped, "skipped")
		b.WriteString("\n</details>\n")
	}
	if c.Checks == 0 && c.ScenarioErrors == 0 {
		b.WriteString("No checks ran.\n")
	}
	out := b.String()
	if len(out) > MarkdownLimit { // only when the header itself is huge
		out = truncate(out, MarkdownLimit-100) + "\n\n_summary truncated; see report.html or report.json._\n"
	}
	if _, err := io.WriteString(w, out); err != nil {
		return fmt.Errorf("reports: write markdown: %w", err)
	}
	return nil
}

// mdTable writes a table, stopping before b would pass limit bytes, and
// notes how many rows were left out.
func mdTable(b *bytes.Buffer, limit int, head []string, rows [][]string, what string) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n")
	b.WriteString(strings.Repeat("|---", len(head)) + "|\n")
	for i, r := range rows {
		cells := make([]string, len(r))
		for j, c := range r {
			cells[j] = mdText(truncate(c, markdownCell))
		}
		line := "| " + strings.Join(cells, " | ") + " |\n"
		if b.Len()+len(line) > limit {
			fmt.Fprintf(b, "\n_… %d more %s checks not shown (summary limited to %d KiB); see report.html or report.json._\n",
				len(rows)-i, what, MarkdownLimit/1024)
			return
		}
		b.WriteString(line)
	}
}

// mdText makes s safe inside a table cell: one line, no pipes, no HTML.
func mdText(s string) string {
	if s == "" {
		return "-"
	}
	r := strings.NewReplacer(
		"\r\n", "<br>", "\n", "<br>", "\r", " ",
		"|", "\\|", "&", "&amp;", "<", "&lt;", ">", "&gt;",
	)
	return r.Replace(s)
}

// mdCode makes s safe inside a `code` span.
func mdCode(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("`", "'", "\n", " ", "|", "\\|").Replace(s)
}

// plural is "1 check", "2 checks".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// idSuffix is " (`id`)" for a check with a declared ID, "" without.
func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (" + mdCode(id) + ")"
}

package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/gitchaos/gitchaos/harness/result"
)

// Series names and x units the HTML report keys on (see the package doc).
const (
	XUnitCycle             = "cycle"
	XUnitSeconds           = "s"
	MetricScopesServed     = "scopes_served"
	MetricTimeoutOvershoot = "timeout_overshoot"
)

// File names written by WriteAll.
const (
	FileJSON     = "report.json"
	FileHTML     = "report.html"
	FileMarkdown = "report.md"
	FileJUnit    = "report.xml"
)

var errNilRun = errors.New("reports: nil run")

// WriteJSON writes run as indented JSON, byte for byte what result.Run.Save
// writes to report.json.
func WriteJSON(w io.Writer, run *result.Run) error {
	if run == nil {
		return errNilRun
	}
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: encode run %s: %w", run.ID, err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("reports: write json: %w", err)
	}
	return nil
}

// WriteAll writes report.json, report.html, report.md and report.xml
// (JUnit) into dir (created if needed). It writes every file it can and returns all
// errors joined.
func WriteAll(dir string, run *result.Run) error {
	if run == nil {
		return errNilRun
	}
	if dir == "" {
		return errors.New("reports: empty output directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: create output directory: %w", err)
	}
	var errs []error
	if err := run.Save(filepath.Join(dir, FileJSON)); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer, *result.Run) error
	}{
		{FileHTML, WriteHTML},
		{FileMarkdown, WriteMarkdown},
		{FileJUnit, WriteJUnit},
	} {
		if err := WriteFile(filepath.Join(dir, f.name), run, f.write); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WriteFile renders run with write into path atomically (a temporary file
// in the same directory, renamed into place), so readers never see half a
// report.
func WriteFile(path string, run *result.Run, write func(io.Writer, *result.Run) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("reports: create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := write(f, run); err != nil {
		return fmt.Errorf("reports: render %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("reports: chmod %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("reports: rename into %s: %w", path, err)
	}
	return nil
}

// counts tallies check verdicts of a run.
type counts struct {
	Checks, Pass, Fail, Skip, Errs int
	ScenarioErrors                 int
}

func countRun(run *result.Run) counts {
	var c counts
	for _, s := range run.Scenarios {
		if s == nil {
			continue
		}
		if s.Error != "" {
			c.ScenarioErrors++
		}
		for _, ch := range s.Checks {
			c.Checks++
			switch ch.Verdict {
			case result.Pass:
				c.Pass++
			case result.Fail:
				c.Fail++
			case result.Skip:
				c.Skip++
			default: // error or unknown: never silently pass
				c.Errs++
			}
		}
	}
	return c
}

// scenarios returns run's non-nil scenarios.
func scenarios(run *result.Run) []*result.Scenario {
	out := make([]*result.Scenario, 0, len(run.Scenarios))
	for _, s := range run.Scenarios {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// checkVerdict normalises a verdict: anything unknown counts as an error.
func checkVerdict(v result.Verdict) result.Verdict {
	switch v {
	case result.Pass, result.Fail, result.Skip, result.Error:
		return v
	}
	return result.Error
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// shardLabel describes a sharded or merged run: "shard 1/3 of
// boot,offline,…" or "merged from 3 shards: 1/3 seed 1 (A/report.json:
// boot,churn), …"; "" for a plain run.
func shardLabel(run *result.Run) string {
	if run.Shard != nil {
		return fmt.Sprintf("shard %s of %s", run.Shard, strings.Join(run.Shard.Of, ","))
	}
	if len(run.Parts) == 0 {
		return ""
	}
	parts := make([]string, len(run.Parts))
	for i, p := range run.Parts {
		sh := "?"
		if p.Shard != nil {
			sh = p.Shard.String()
		}
		src := p.ID
		if p.Source != "" {
			src = p.Source
		}
		parts[i] = fmt.Sprintf("%s seed %d (%s: %s)", sh, p.Seed, src, strings.Join(p.Scenarios, ","))
	}
	return fmt.Sprintf("merged from %d shards: %s", len(run.Parts), strings.Join(parts, "; "))
}

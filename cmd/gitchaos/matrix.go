package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/reports"
)

// matrixRow is one target of the matrix: the correct fetcher or a mutant.
type matrixRow struct {
	name      string   // "correct" or the mutant's name
	mutants   []string // switched on
	gates     []string // gates run (nil: the whole suite, for correct)
	transport string   // the mutant's transport ("": the suite's)
	moves     []string // "gate/id" of the checks its bug also moves (fetcher.Mutant.Moves)
	catch     *result.Catch
	run       *result.Run
}

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f suiteFlags
	f.register(fs, false)
	var onlyMutants listFlag
	fs.Var(&onlyMutants, "mutants", "comma-separated mutants to run (default: all)")
	fs.Var(&onlyMutants, "mutant", "same as --mutants (repeatable)")
	var shard shardFlag
	shard.register(fs, "matrix rows (correct, then each mutant)")
	parallel := fs.Int("parallel", 1, "mutant rows run this many at a time, each in a process of its own; the correct row runs alone")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitchaos matrix [flags]\n\nRuns the whole suite against the correct reference fetcher and, for each\nmutant, the gates of the checks that guard its bug; prints each row as it\nfinishes, then the mutant x gate table and which checks caught each mutant.\nA mutant is caught only when every check declared for it (fetcher.Mutants:\nmutant, seam, upstream bug, checks that must fail) failed; other failing\nchecks are listed as collateral. Exit 0 only if the correct fetcher passes\neverything and every mutant is caught; 1 otherwise; 2 on a usage or setup\nerror.\n\nflags:")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	base, err := f.options(visitedFlags(fs), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos matrix: %v\n", err)
		return exitUsage
	}
	picked := fetcher.Mutants()
	if len(onlyMutants) > 0 {
		if picked, err = fetcher.LookupMutants(onlyMutants); err != nil {
			fmt.Fprintf(stderr, "gitchaos matrix: --mutants: %v\n", err)
			return exitUsage
		}
	}
	rows := []*matrixRow{{name: "correct", gates: base.Only}}
	for _, m := range picked {
		row, ok := mutantRow(m, base.Only)
		if !ok {
			if len(onlyMutants) > 0 {
				fmt.Fprintf(stderr, "gitchaos matrix: mutant %s is caught by checks of %s, none of --only %s\n", m.Name, strings.Join(m.Gates(), ","), strings.Join(base.Only, ","))
				return exitUsage
			}
			continue
		}
		rows = append(rows, row)
	}
	if *parallel < 1 {
		fmt.Fprintf(stderr, "gitchaos matrix: --parallel %d: want at least 1\n", *parallel)
		return exitUsage
	}
	if rows, err = shard.shardRows(rows); err != nil {
		fmt.Fprintf(stderr, "gitchaos matrix: %v\n", err)
		return exitUsage
	}
	if f.dryRun {
		if err := base.Validate(); err != nil {
			fmt.Fprintf(stderr, "gitchaos matrix: %v\n", err)
			return exitUsage
		}
		for _, row := range rows {
			only := "every gate"
			if len(row.gates) > 0 {
				only = strings.Join(row.gates, ",")
			}
			fmt.Fprintf(stdout, "dry run: would run %s against %s\n", row.name, only)
		}
		return exitOK
	}
	start := time.Now()
	var mu sync.Mutex // stdout and the first error
	var firstErr error
	runRow := func(row *matrixRow) {
		opts := base
		opts.Kind = "matrix"
		opts.Targets = &inprocess.Factory{Mutants: row.mutants, Logger: f.targetLogger(base.Logger)}
		if crash, err := selfFetcher(row.mutants, ""); err == nil {
			opts.Crash = crash
		}
		opts.Only = row.gates
		// A mutant's row runs in a process of its own when it can
		// (gates.Options.Isolate): its fds and memory are then its own,
		// beside other rows.
		opts.Isolate = row.catch != nil
		if row.transport != "" {
			opts.Transport = row.transport
		}
		t0 := time.Now()
		run, err := gates.RunSuite(ctx, opts)
		if err == nil && row.catch == nil {
			unrecordedErrors(run)
		}
		if err == nil && row.catch != nil {
			row.catch.Judge(run)
			run.Catch = row.catch
		}
		if err == nil && f.out != "" {
			if werr := reports.WriteAll(filepath.Join(f.out, row.name), run); werr != nil {
				err = fmt.Errorf("write reports: %w", werr)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", row.name, err)
			}
			return
		}
		row.run = run
		fmt.Fprintf(stdout, "%-22s %-5s %5.1f s  %s\n", row.name, rowOK(row), time.Since(t0).Seconds(), rowSummary(row))
	}
	// Rows that share the process run beside each other; one that must run
	// alone waits for them and holds the rest back until it ends.
	var wg sync.WaitGroup
	sem := make(chan struct{}, *parallel)
	for _, row := range rows {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if ctx.Err() != nil || failed {
			break
		}
		if runsAlone(row, base.Beside != nil) {
			wg.Wait()
			runRow(row)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			runRow(row)
		})
	}
	wg.Wait()
	if ctx.Err() != nil { // before firstErr: a row cut short by the interrupt errs too
		fmt.Fprintln(stderr, "gitchaos matrix: interrupted")
		return exitUsage
	}
	if firstErr != nil {
		fmt.Fprintf(stderr, "gitchaos matrix: %v\n", firstErr)
		return exitUsage
	}
	printMatrix(stdout, rows)
	printCatches(stdout, rows)
	bad := 0
	for _, r := range rows {
		if !rowPassed(r) {
			bad++
		}
	}
	fmt.Fprintf(stdout, "\nmatrix: %d rows, %d as expected, %d not, in %.1f s\n", len(rows), len(rows)-bad, bad, time.Since(start).Seconds())
	if bad > 0 {
		return exitFail
	}
	return exitOK
}

// mutantRow is m's row: its must-fail checks among the gates of only (all
// when only is empty); false when none is left.
func mutantRow(m fetcher.Mutant, only []string) (*matrixRow, bool) {
	c := &result.Catch{Mutant: m.Name, Seam: m.Seam, Upstream: m.Upstream}
	var picked []string
	for _, ref := range m.MustFail {
		if len(only) > 0 && !slices.Contains(only, ref.Gate) {
			continue
		}
		title := ref.ID // an undeclared id (TestDeclaredChecksReferences fails on it) shows as itself
		if d, ok := gates.LookupCheck(ref.ID); ok {
			title = d.Title
		}
		c.MustFail = append(c.MustFail, result.CheckRef{Scenario: ref.Gate, ID: ref.ID, Check: title})
		if !slices.Contains(picked, ref.Gate) {
			picked = append(picked, ref.Gate)
		}
	}
	if len(picked) == 0 {
		return nil, false
	}
	// gates in suite order
	var ordered []string
	for _, g := range append(gates.Names(), gates.OptInNames()...) {
		if slices.Contains(picked, g) {
			ordered = append(ordered, g)
		}
	}
	var moves []string
	for _, mv := range m.Moves() {
		moves = append(moves, mv.Check.Gate+"/"+mv.Check.ID)
	}
	return &matrixRow{name: m.Name, mutants: []string{m.Name}, gates: ordered, catch: c, transport: m.Transport, moves: moves}, true
}

// runsAlone: the correct row (every budget, latencies included, judged on
// an otherwise idle process) and, unless rows are isolated in processes
// of their own (gates.Options.Isolate), a mutant caught by a flatness
// check: an in-process target's fds and memory are the whole process's,
// so a row beside it would add its own to the series.
func runsAlone(r *matrixRow, isolated bool) bool {
	if r.catch == nil {
		return true
	}
	if isolated { // a mutant's row in a process of its own
		return false
	}
	for _, c := range r.catch.MustFail {
		if strings.HasSuffix(c.ID, "-flat") { // a flatness family's id (gates.declarePerMetric)
			return true
		}
	}
	return false
}

// unrecordedErrors adds an error check to each scenario of the correct
// row for every check its gate declares as always recorded but did not
// record (gates.Unrecorded): a declared check nobody emits is a gate that
// guards less than it says.
func unrecordedErrors(run *result.Run) {
	for _, sc := range run.Scenarios {
		for _, c := range gates.Unrecorded(sc) {
			sc.Checks = append(sc.Checks, result.Check{ID: c.ID, Name: c.Title, Verdict: result.Error,
				Explanation: fmt.Sprintf("gate %s declares check %s but did not record it in a run that ended without error or failure", sc.Name, c.ID)})
		}
	}
}

// rowPassed: the correct fetcher passes every gate (skips allowed, no
// failed or errored check, no scenario error); a mutant fails every check
// declared for it.
func rowPassed(r *matrixRow) bool {
	if r.run == nil {
		return false
	}
	if r.catch != nil {
		return r.catch.Caught() || rowSkipped(r)
	}
	for _, sc := range r.run.Scenarios {
		if v := sc.Verdict(); v == result.Fail || v == result.Error {
			return false
		}
	}
	return true
}

// rowSkipped: a mutant row whose every must-fail check was skipped, with
// the reason, on this machine (disk-full where mounting is refused): not
// judged here, which is not a miss.
func rowSkipped(r *matrixRow) bool {
	if r.run == nil || r.catch == nil || len(r.catch.MustFail) == 0 {
		return false
	}
	for _, m := range r.catch.MustFail {
		if m.Verdict != result.Skip {
			return false
		}
	}
	return true
}

// firstSkip is the reason of the first skipped check of run.
func firstSkip(run *result.Run) string {
	for _, sc := range run.Scenarios {
		for _, c := range sc.Checks {
			if c.Verdict == result.Skip {
				return c.Explanation
			}
		}
	}
	return "no reason given"
}

func rowOK(r *matrixRow) string {
	if rowSkipped(r) {
		return "skip"
	}
	if rowPassed(r) {
		return "ok"
	}
	return "WRONG"
}

// rowSummary is the line printed when a row finishes: gate verdicts for
// the correct fetcher; the catching checks (or what missed) for a mutant.
func rowSummary(r *matrixRow) string {
	if r.catch == nil {
		var parts []string
		for _, sc := range r.run.Scenarios {
			p := sc.Name + "=" + string(sc.Verdict())
			if sc.Verdict() != result.Pass {
				if f := firstBad(sc); f != "" {
					p += " (" + f + ")"
				}
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, " ")
	}
	if rowSkipped(r) {
		return "not judged here: every must-fail check skipped (" + firstSkip(r.run) + ")"
	}
	var caught, missed []string
	for _, m := range r.catch.MustFail {
		if m.Verdict == result.Fail {
			caught = append(caught, m.String())
		} else {
			missed = append(missed, fmt.Sprintf("%s=%s%s", m.String(), orNone(string(m.Verdict)), scenarioErr(r.run, m.Scenario)))
		}
	}
	out := "caught by: " + orNone(strings.Join(caught, "; "))
	if len(missed) > 0 {
		out += "  MISSED: " + strings.Join(missed, "; ")
	}
	if n := len(r.catch.Collateral); n > 0 {
		out += fmt.Sprintf("  (collateral: %d)", n)
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// firstBad names the first failed or errored check of sc (or its error).
func firstBad(sc *result.Scenario) string {
	for _, c := range sc.Checks {
		if c.Verdict == result.Fail || c.Verdict == result.Error {
			return string(c.Verdict) + ": " + c.Name
		}
	}
	if sc.Error != "" {
		return "error: " + sc.Error
	}
	return ""
}

// scenarioErr is " (scenario error: ...)" when the scenario errored.
func scenarioErr(run *result.Run, name string) string {
	for _, sc := range run.Scenarios {
		if sc.Name == name && sc.Error != "" {
			e := sc.Error
			if len(e) > 120 {
				e = e[:120] + "…"
			}
			return " (scenario error: " + e + ")"
		}
	}
	return ""
}

func verdictOf(run *result.Run, name string) result.Verdict {
	for _, sc := range run.Scenarios {
		if sc.Name == name {
			return sc.Verdict()
		}
	}
	return ""
}

// printMatrix prints rows (targets) x columns (gates). For the correct
// fetcher a cell is the gate's verdict ("FAIL" when it failed). For a
// mutant, a gate holding checks declared for it is "caught" when all of
// them failed, else "MISSED"; a gate that ran for it but holds none of its
// checks is not run ("."), as it never is.
func printMatrix(w io.Writer, rows []*matrixRow) {
	names := gates.Names()
	for _, g := range gates.OptInNames() { // a column only when a row ran it
		if slices.ContainsFunc(rows, func(r *matrixRow) bool { return slices.Contains(r.gates, g) }) {
			names = append(names, g)
		}
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "\nTARGET")
	for _, g := range names {
		fmt.Fprint(tw, "\t"+g)
	}
	fmt.Fprintln(tw, "\tRESULT")
	for _, r := range rows {
		fmt.Fprint(tw, r.name)
		for _, g := range names {
			cell := "."
			if r.run != nil {
				v := verdictOf(r.run, g)
				switch {
				case v == "":
				case r.catch == nil && v == result.Fail:
					cell = "FAIL"
				case r.catch == nil:
					cell = string(v)
				case rowSkipped(r):
					cell = "skip"
				default:
					cell = "caught"
					for _, m := range r.catch.MustFail {
						if m.Scenario == g && m.Verdict != result.Fail {
							cell = "MISSED"
						}
					}
				}
			}
			fmt.Fprint(tw, "\t"+cell)
		}
		fmt.Fprintln(tw, "\t"+rowOK(r))
	}
	tw.Flush()
}

// printCatches lists, per mutant, its seam and the checks that caught it
// (or missed), and the collateral failures.
func printCatches(w io.Writer, rows []*matrixRow) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nMUTANT\tSEAM\tMUST FAIL (verdict)\tCOLLATERAL")
	for _, r := range rows {
		if r.catch == nil || r.run == nil {
			continue
		}
		var must, coll []string
		for _, m := range r.catch.MustFail {
			must = append(must, fmt.Sprintf("%s (%s)", m.String(), orNone(string(m.Verdict))))
		}
		for _, c := range r.catch.Collateral {
			coll = append(coll, c.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.catch.Seam, strings.Join(must, "; "), orDefault(strings.Join(coll, "; "), "-"))
	}
	tw.Flush()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

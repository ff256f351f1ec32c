package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/reports"
	"github.com/gitchaos/gitchaos/scenarios"
)

// matrixRow is one target of the matrix: the correct fetcher or a mutant.
type matrixRow struct {
	name     string   // "correct" or the mutant's name
	mutants  []string // switched on
	expected []string // gates that must fail (nil for correct: none may)
	run      *result.Run
}

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f suiteFlags
	f.register(fs, false)
	var onlyMutants listFlag
	fs.Var(&onlyMutants, "mutants", "comma-separated mutants to run (default: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitchaos matrix [flags]\n\nRuns the whole suite against the correct reference fetcher and, for each\nmutant, the gates that guard its bug; prints the mutant x gate table.\nExit 0 only if the correct fetcher passes everything and every mutant is\ncaught by each gate declared for it (fetcher.Mutants); 1 otherwise; 2 on a\nusage or setup error.\n\nflags:")
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
	if err := validateMutants(onlyMutants); err != nil {
		fmt.Fprintf(stderr, "gitchaos matrix: %v\n", err)
		return exitUsage
	}
	rows := []*matrixRow{{name: "correct"}}
	for _, m := range fetcher.Mutants() {
		if len(onlyMutants) > 0 && !slices.Contains(onlyMutants, m.Name) {
			continue
		}
		// With --only, a mutant is judged by its declared gates among those.
		expected := m.CaughtBy
		if len(base.Only) > 0 {
			expected = nil
			for _, g := range m.CaughtBy {
				if slices.Contains(base.Only, g) {
					expected = append(expected, g)
				}
			}
			if len(expected) == 0 {
				if len(onlyMutants) > 0 {
					fmt.Fprintf(stderr, "gitchaos matrix: mutant %s is caught by %s, none of --only %s\n", m.Name, strings.Join(m.CaughtBy, ","), strings.Join(base.Only, ","))
					return exitUsage
				}
				continue
			}
		}
		rows = append(rows, &matrixRow{name: m.Name, mutants: []string{m.Name}, expected: expected})
	}
	start := time.Now()
	for _, row := range rows {
		if ctx.Err() != nil {
			break
		}
		opts := base
		opts.Kind = "matrix"
		opts.Mutants = row.mutants
		opts.Targets = &target.InProcess{Mutants: row.mutants, Logger: f.targetLogger(base.Logger)}
		if crash, err := selfFetcher(row.mutants, ""); err == nil {
			opts.Crash = crash
		}
		if row.expected != nil {
			opts.Only = row.expected
		}
		t0 := time.Now()
		run, err := scenarios.RunSuite(ctx, opts)
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos matrix: %s: %v\n", row.name, err)
			return exitUsage
		}
		row.run = run
		fmt.Fprintf(stdout, "%-22s %-5s %5.1f s  %s\n", row.name, rowOK(row), time.Since(t0).Seconds(), rowSummary(row))
		if f.out != "" {
			if err := reports.WriteAll(filepath.Join(f.out, row.name), run); err != nil {
				fmt.Fprintf(stderr, "gitchaos matrix: write reports: %v\n", err)
				return exitUsage
			}
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "gitchaos matrix: interrupted")
		return exitUsage
	}
	printMatrix(stdout, rows)
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

// rowPassed: the correct fetcher passes every gate (skips allowed, no
// fail or error); a mutant fails every gate declared for it.
func rowPassed(r *matrixRow) bool {
	if r.run == nil {
		return false
	}
	if r.expected == nil {
		for _, sc := range r.run.Scenarios {
			if v := sc.Verdict(); v == result.Fail || v == result.Error {
				return false
			}
		}
		return true
	}
	for _, g := range r.expected {
		if verdictOf(r.run, g) != result.Fail {
			return false
		}
	}
	return true
}

func rowOK(r *matrixRow) string {
	if rowPassed(r) {
		return "ok"
	}
	return "WRONG"
}

func rowSummary(r *matrixRow) string {
	var parts []string
	for _, sc := range r.run.Scenarios {
		parts = append(parts, sc.Name+"="+string(sc.Verdict()))
	}
	return strings.Join(parts, " ")
}

func verdictOf(run *result.Run, name string) result.Verdict {
	for _, sc := range run.Scenarios {
		if sc.Name == name {
			return sc.Verdict()
		}
	}
	return ""
}

// printMatrix prints rows (targets) x columns (gates). A cell is the
// gate's verdict; an expected catch is marked "caught" (or "MISSED"), and
// for the correct fetcher a failure is "FAIL".
func printMatrix(w io.Writer, rows []*matrixRow) {
	gates := scenarios.Names()
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "\nTARGET")
	for _, g := range gates {
		fmt.Fprint(tw, "\t"+g)
	}
	fmt.Fprintln(tw, "\tRESULT")
	for _, r := range rows {
		fmt.Fprint(tw, r.name)
		for _, g := range gates {
			cell := "."
			if r.run != nil {
				v := verdictOf(r.run, g)
				switch {
				case v == "":
				case r.expected == nil && v == result.Fail:
					cell = "FAIL"
				case r.expected == nil:
					cell = string(v)
				case slices.Contains(r.expected, g) && v == result.Fail:
					cell = "caught"
				case slices.Contains(r.expected, g):
					cell = "MISSED(" + string(v) + ")"
				default:
					cell = string(v)
				}
			}
			fmt.Fprint(tw, "\t"+cell)
		}
		fmt.Fprintln(tw, "\t"+rowOK(r))
	}
	tw.Flush()
}

package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gitchaos/gitchaos/harness/compare"
	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
)

const compareMutantsUsage = `usage: gitchaos compare --mutants [NAMES|all] [--runs N] [--parallel P] [suite flags] [--out DIR]

The comparison's own proof: the correct in-process reference fetcher
(base) against each mutant (head), on the mutant's gates, --runs pairs
(seed --seed+i for pair i; the correct row first in even pairs, last in
odd ones). A mutant is as expected when every check declared for it
(fetcher.Mutants: the checks that must fail) comes out broken or worse and
no other check of its gates comes out worse, but those the mutant
declares its bug also moves (fetcher.Mutant.Moves). Other checks that
come out broken fail with the bug too (an fd leak that holds repositories
open leaks heap as well): they are listed as collateral, as the matrix
lists them, and do not make the row wrong. With 3 runs a side (the
default) a check is broken only unanimously (failed in every mutant run,
passed in every correct one) and none can be worse (the rank test cannot
reach significance with 3 runs a side); about 8 runs a side let it.

The correct row runs alone and must pass every check in every run (a base
that fails is no baseline); mutant rows run --parallel at a time, each in
a copy of gitchaos of its own, so a mutant caught by a flatness check
(fds, memory flat across cycles) is judged on its own process. A row whose
must-fail checks were all skipped is "skip". With --out DIR each run's
report.json is kept as DIR/correct-i and DIR/MUTANT-i. Exit 0 when every
mutant is as expected and the correct fetcher passed, 1 otherwise, 2 on a
usage or setup error.

flags:
`

func cmdCompareMutants(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f suiteFlags
	f.register(fs, false)
	var names listFlag
	fs.Var(&names, "mutants", "the mutants to compare with the correct fetcher, comma-separated, or all")
	runs := fs.Int("runs", 3, "runs a side (seeds --seed .. --seed+N-1)")
	parallel := fs.Int("parallel", 1, "mutant rows run this many at a time, each in a process of its own")
	alpha := fs.Float64("alpha", 0.05, "family-wise false-alarm rate across checks")
	fs.Usage = func() {
		fmt.Fprint(stderr, compareMutantsUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gitchaos compare --mutants: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case *runs < 2:
		return fail("--runs %d: want at least 2 (3 or more decide anything)", *runs)
	case *parallel < 1:
		return fail("--parallel %d: want at least 1", *parallel)
	case !(*alpha > 0 && *alpha < 1):
		return fail("--alpha %v: want a rate between 0 and 1", *alpha)
	}
	out := f.out
	f.out = ""
	base, err := f.options(visitedFlags(fs), stderr)
	if err != nil {
		return fail("%v", err)
	}
	base.Kind = "gate"
	picked := fetcher.Mutants()
	if len(names) > 0 && !slices.Equal(names, []string{"all"}) {
		if picked, err = fetcher.LookupMutants(names); err != nil {
			return fail("%v", err)
		}
	}
	var rows []*matrixRow
	var union []string
	for _, m := range picked {
		row, ok := mutantRow(m, base.Only)
		if !ok {
			continue
		}
		if tr := orDefault(base.Transport, "http"); orDefault(m.Transport, "http") != tr {
			// One correct baseline serves every row: a mutant of another
			// transport is compared on its own (its bug needs that transport).
			fmt.Fprintf(stderr, "compare: %s left out: its bug is of the %s transport, this comparison runs over %s (--transport %s)\n", m.Name, m.Transport, tr, m.Transport)
			continue
		}
		rows = append(rows, row)
		for _, g := range row.gates {
			if !slices.Contains(union, g) {
				union = append(union, g)
			}
		}
	}
	if len(rows) == 0 {
		return fail("no mutant is guarded by a check of --only %s", strings.Join(base.Only, ","))
	}
	var ordered []string
	for _, g := range append(gates.Names(), gates.OptInNames()...) {
		if slices.Contains(union, g) {
			ordered = append(ordered, g)
		}
	}
	if err := base.Validate(); err != nil {
		return fail("%v", err)
	}
	if f.dryRun {
		for _, r := range rows {
			fmt.Fprintf(stdout, "dry run: would compare correct with %s on %s, %d runs a side\n", r.name, strings.Join(r.gates, ","), *runs)
		}
		return exitOK
	}
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return fail("--out: %v", err)
		}
	}
	start := time.Now()
	var mu sync.Mutex
	var correct []*result.Run
	byRow := map[string][]*result.Run{}
	took := map[string]time.Duration{} // each row's last run
	var firstErr error
	runOne := func(name string, mutants, only []string, seed int64) {
		opts := base
		opts.Seed = seed
		opts.Only = only
		opts.Targets = &inprocess.Factory{Mutants: mutants, Logger: f.targetLogger(base.Logger)}
		opts.Isolate = name != "correct" // as the matrix's rows (gates.Options.Isolate)
		if crash, err := selfFetcher(mutants, ""); err == nil {
			opts.Crash = crash
		}
		t0 := time.Now()
		run, err := gates.RunSuite(ctx, opts)
		if err == nil {
			run.Settings = runSettings(opts)
			if out != "" {
				dir := filepath.Join(out, fmt.Sprintf("%s-%d", name, seed-base.Seed+1))
				if err = os.MkdirAll(dir, 0o755); err == nil {
					err = run.Save(filepath.Join(dir, "report.json"))
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		took[name] = time.Since(t0)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s seed %d: %w", name, seed, err)
			}
			return
		}
		if name == "correct" {
			unrecordedErrors(run)
			correct = append(correct, run)
		} else {
			byRow[name] = append(byRow[name], run)
		}
		fmt.Fprintf(stderr, "compare: %-22s seed %d: %s in %.1f s (%.0f s so far)\n", name, seed, strings.ToUpper(string(run.Verdict())), time.Since(t0).Seconds(), time.Since(start).Seconds())
	}
	for i := range *runs {
		seed := base.Seed + int64(i)
		if i%2 == 0 {
			runOne("correct", nil, ordered, seed)
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, *parallel)
		for _, row := range longestFirst(rows, took) {
			if ctx.Err() != nil {
				break
			}
			if runsAlone(row, base.Beside != nil) {
				wg.Wait()
				runOne(row.name, row.mutants, row.gates, seed)
				continue
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				runOne(row.name, row.mutants, row.gates, seed)
			})
		}
		wg.Wait()
		if i%2 == 1 {
			runOne("correct", nil, ordered, seed)
		}
		if ctx.Err() != nil {
			return fail("interrupted")
		}
		if firstErr != nil {
			return fail("%v", firstErr)
		}
	}
	bad := 0
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MUTANT\tRESULT\tMUST FAIL (verdict)\tWORSE (undeclared)\tCOLLATERAL (broken, or worse as declared)")
	// The base itself: the correct fetcher passes every check in every
	// run, as the matrix's correct row must (a base that fails is no
	// baseline).
	var correctBad []string
	for _, r := range correct {
		if row := (&matrixRow{name: "correct", run: r}); !rowPassed(row) {
			correctBad = append(correctBad, fmt.Sprintf("seed %d: %s", r.Seed, rowSummary(row)))
		}
	}
	if len(correctBad) > 0 {
		fmt.Fprintf(tw, "(correct)\tWRONG\t%s\t-\t-\n", strings.Join(correctBad, "; "))
	} else {
		fmt.Fprintf(tw, "(correct)\tok\tevery check passed in %d runs\t-\t-\n", len(correct))
	}
	for _, row := range rows {
		ok, skipped, must, worse, coll, err := judgeMutant(row, correct, byRow[row.name], *alpha)
		if err != nil {
			return fail("%s: %v", row.name, err)
		}
		res := "ok"
		switch {
		case skipped:
			// Every must-fail check skipped on both sides (the disk-full
			// gate where no tmpfs can be mounted): the matrix's "skip".
			res = "skip"
		case !ok:
			res, bad = "WRONG", bad+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.name, res, strings.Join(must, "; "), orDefault(strings.Join(worse, "; "), "-"), orDefault(strings.Join(coll, "; "), "-"))
	}
	tw.Flush()
	verdict := "passed every check"
	if len(correctBad) > 0 {
		verdict = fmt.Sprintf("FAILED in %d of %d runs", len(correctBad), len(correct))
	}
	fmt.Fprintf(stdout, "\ncompare --mutants: %d mutants, %d as expected, %d not; the correct fetcher %s; %d runs a side in %.1f s\n", len(rows), len(rows)-bad, bad, verdict, *runs, time.Since(start).Seconds())
	if bad > 0 || len(correctBad) > 0 {
		return exitFail
	}
	return exitOK
}

// judgeMutant compares the correct runs with a mutant's: ok when every
// must-fail check of row is broken or worse and no other check is worse
// but those the mutant declares its bug also moves (fetcher.Mutant.Moves);
// skipped when every must-fail check was skipped (the row cannot be
// judged here). must gives the must-fail checks' verdicts, worse the
// other checks that came out worse, collateral those that came out
// broken.
func judgeMutant(row *matrixRow, correct, mutant []*result.Run, alpha float64) (ok, skipped bool, must, worse, collateral []string, err error) {
	c := &comparison{}
	for _, r := range correct {
		c.add(0, "correct", r) // the runs' kind and settings agree: one options value made them
	}
	for _, r := range mutant {
		c.add(1, row.name, r)
	}
	if err := c.judge(compareOutput{alpha: alpha}); err != nil {
		return false, false, nil, nil, nil, err
	}
	byKey := map[string]compare.Outcome{}
	for _, o := range c.Checks {
		byKey[o.Key] = o
	}
	ok, skipped = true, len(row.catch.MustFail) > 0
	isMust := map[string]bool{}
	for _, ref := range row.catch.MustFail {
		k := ref.Scenario + "/" + ref.ID
		isMust[k] = true
		o, found := byKey[k]
		v := compare.Verdict("not recorded")
		if found {
			v = o.Verdict
		}
		if v != compare.Broken && v != compare.Worse {
			ok = false
		}
		skipped = skipped && v == compare.Skipped
		must = append(must, fmt.Sprintf("%s (%s)", k, v))
	}
	for _, o := range c.Checks {
		switch {
		case isMust[o.Key]:
		case o.Verdict == compare.Worse && slices.Contains(row.moves, o.Key):
			collateral = append(collateral, o.Key+" (worse, declared)")
		case o.Verdict == compare.Worse:
			ok = false
			worse = append(worse, o.Key)
		case o.Verdict == compare.Broken:
			collateral = append(collateral, o.Key)
		}
	}
	return ok, skipped, must, worse, collateral, nil
}

// longestFirst is rows in the order to start them: the longest last run
// first (rows not run yet keep their place, ahead of the rest), so the
// long rows of a pass do not start last and leave the other slots idle
// at its end.
func longestFirst(rows []*matrixRow, took map[string]time.Duration) []*matrixRow {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b *matrixRow) int {
		ta, oka := took[a.name]
		tb, okb := took[b.name]
		switch {
		case oka == okb:
			return cmp.Compare(tb, ta)
		case !oka:
			return -1
		}
		return 1
	})
	return out
}

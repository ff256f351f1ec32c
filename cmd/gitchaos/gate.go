package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/reports"
)

func cmdGate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f suiteFlags
	f.register(fs, true)
	var shard shardFlag
	shard.register(fs, "scenarios")
	parallel := fs.Int("parallel", 0, "scenarios that judge nothing process-wide run this many at a time, each on its own testbed and target; the others alone (0: 2; 1: one at a time)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitchaos gate [flags]\n\nRuns the gate suite and prints scenario, check, measured, budget, verdict.\nExit 0: every gate passed; 1: a gate failed; 2: usage or setup error.\n\nflags:")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	pr := newGateProgress(stdout)
	opts, err := f.options(visitedFlags(fs), pr.logWriter(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos gate: %v\n", err)
		return exitUsage
	}
	opts.Kind = "gate"
	opts.Progress = pr.event
	opts.Parallel = *parallel
	if err := shard.shardGate(&opts); err != nil {
		fmt.Fprintf(stderr, "gitchaos gate: %v\n", err)
		return exitUsage
	}
	// The whole suite, every gate's params included, before anything
	// starts: a bad param of the last gate fails here, not after the first.
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "gitchaos gate: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "gitchaos gate: target %s, testbed %s, seed %d, settings %s\n", opts.Targets.Describe(), opts.TestbedLabel(), opts.Seed, settingsLabel(opts))
	if shard.set {
		fmt.Fprintf(stdout, "shard %s: %s\n", shard.shard, strings.Join(opts.Only, ","))
	}
	if f.dryRun {
		names := opts.Only
		if len(names) == 0 {
			names = gates.Names()
		}
		fmt.Fprintf(stdout, "dry run: would run %s\n", strings.Join(names, ","))
		return exitOK
	}
	run, err := gates.RunSuite(ctx, opts)
	pr.done()
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos gate: %v\n", err)
		return exitUsage
	}
	run.Settings = runSettings(opts)
	if shard.set {
		sh := shard.shard
		run.Shard = &sh
	}
	printTable(stdout, run)
	if f.out != "" {
		if err := reports.WriteAll(f.out, run); err != nil {
			fmt.Fprintf(stderr, "gitchaos gate: write reports: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "reports written to %s\n", filepath.Join(f.out, "report.{json,html,md,xml}"))
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "gitchaos gate: interrupted")
		return exitUsage
	}
	return exitCode(run)
}

func settingsLabel(opts gates.Options) string {
	s := opts.Settings
	return fmt.Sprintf("git-timeout=%v max-workers=%d sync-concurrency=%d shards=%d", s.GitTimeout, s.MaxWorkers, s.SyncConcurrency, s.Shards)
}

// exitCode: 1 when a gate failed, 2 when the harness could not finish
// (and nothing failed), else 0.
func exitCode(run *result.Run) int {
	switch run.Verdict() {
	case result.Fail:
		return exitFail
	case result.Error:
		return exitUsage
	}
	return exitOK
}

// printTable prints one row per check, failing checks' explanations and
// scenario errors below, and a verdict line.
func printTable(w io.Writer, run *result.Run) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tCHECK\tMEASURED\tBUDGET\tVERDICT")
	counts := map[result.Verdict]int{}
	var why []string
	for _, sc := range run.Scenarios {
		for _, c := range sc.Checks {
			counts[c.Verdict]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sc.Name, c.Name, cell(c.Measured), cell(c.Budget), strings.ToUpper(string(c.Verdict)))
			if c.Verdict == result.Fail || c.Verdict == result.Error || c.Verdict == result.Skip {
				text := c.Explanation
				if c.Verdict != result.Skip && len([]rune(c.Measured)) > 48 && !strings.Contains(text, string([]rune(c.Measured)[:24])) {
					text = fmt.Sprintf("measured %s; %s", c.Measured, text)
				}
				why = append(why, fmt.Sprintf("  %s %s / %s: %s", strings.ToUpper(string(c.Verdict)), sc.Name, c.Name, text))
			}
		}
		if sc.Error != "" {
			counts[result.Error]++
			fmt.Fprintf(tw, "%s\t(scenario)\t-\t-\tERROR\n", sc.Name)
			why = append(why, fmt.Sprintf("  ERROR %s: %s", sc.Name, firstLine(sc.Error)))
		}
	}
	tw.Flush()
	if len(why) > 0 {
		sort.SliceStable(why, func(i, j int) bool { return rank(why[i]) < rank(why[j]) })
		fmt.Fprintln(w, "\ndetails:")
		for _, l := range why {
			fmt.Fprintln(w, l)
		}
	}
	fmt.Fprintf(w, "\n%s: %d scenarios, %d checks passed, %d failed, %d skipped, %d errors in %.1f s (seed %d)\n",
		strings.ToUpper(string(run.Verdict())), len(run.Scenarios), counts[result.Pass], counts[result.Fail], counts[result.Skip], counts[result.Error], float64(run.Duration), run.Seed)
}

func rank(line string) int {
	switch {
	case strings.HasPrefix(line, "  FAIL"):
		return 0
	case strings.HasPrefix(line, "  ERROR"):
		return 1
	}
	return 2
}

// cell renders a table cell: "-" when empty, long observations cut (the
// details below and the reports keep the whole text).
func cell(s string) string {
	const width = 48
	if s == "" {
		return "-"
	}
	if r := []rune(firstLine(s)); len(r) > width {
		return string(r[:width-1]) + "…"
	}
	return firstLine(s)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/reports"
)

// targetFlags are the flags that pick a target: with none of them set, a
// replay or a shrink runs against the schedule's own target.
var targetFlags = []string{"mutant", "target", "target-cmd", "target-env", "correct"}

// scheduleFlags registers the flags replay and shrink share: the suite's
// target, testbed and settings flags, and --correct.
func scheduleFlags(fs *flag.FlagSet, f *suiteFlags) *bool {
	f.register(fs, true)
	return fs.Bool("correct", false, "run against the correct in-process reference fetcher (no mutant), whatever the schedule's target")
}

// scheduleOptions are the run options for replaying sched: its recorded
// target, testbed and settings, except what the command line sets.
func scheduleOptions(f *suiteFlags, visited map[string]bool, correct bool, sched *gates.Schedule, logOut io.Writer) (gates.Options, error) {
	own := false
	for _, n := range targetFlags {
		own = own || visited[n]
	}
	if correct {
		f.mutants, f.targetURL, f.targetCmd = nil, "", ""
	} else if !own {
		switch sched.Target.Kind {
		case "in-process":
			f.mutants = sched.Target.Mutants
		case "cmd":
			f.targetCmd, f.targetEnv = sched.Target.Cmd, sched.Target.Env
		case "url":
			f.targetURL = sched.Target.URL
		}
	}
	if !visited["testbed"] && sched.Testbed != "" {
		f.testbed = sched.Testbed
	}
	if !visited["engine"] {
		f.engine = sched.Engine
	}
	if !visited["transport"] {
		f.transport = sched.Transport
	}
	st := sched.TargetSettings()
	for name, set := range map[string]func(){
		"git-timeout":      func() { f.gitTimeout = st.GitTimeout },
		"max-workers":      func() { f.maxWorkers = st.MaxWorkers },
		"sync-concurrency": func() { f.syncConc = st.SyncConcurrency },
		"shards":           func() { f.shards = st.Shards },
	} {
		if !visited[name] {
			set()
			visited[name] = true
		}
	}
	opts, err := f.options(visited, logOut)
	if err != nil {
		return opts, err
	}
	if ip, ok := opts.Targets.(*inprocess.Factory); ok && !f.verbose {
		ip.Logger = slog.New(slog.DiscardHandler)
	}
	return opts, nil
}

// scheduleRefuses names the first suite flag given that a schedule
// decides itself (replay and shrink run exactly its steps).
func scheduleRefuses(visited map[string]bool) error {
	for _, n := range []string{"only", "f", "scenario-timeout", "scopes", "seed", "max-cycles"} {
		if visited[n] {
			return fmt.Errorf("-%s does not apply to a schedule (the schedule says what runs)", n)
		}
	}
	return nil
}

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f suiteFlags
	correct := scheduleFlags(fs, &f)
	scale := fs.Float64("pause-scale", 1, "stretch every step's pause by this factor: slack for a slow machine when the failure needs the target to finish work within a pause")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitchaos replay FILE [--correct | --mutant M | --target-cmd CMD | ...] [--out DIR]\n\n"+
			"Runs one schedule (schedule.yaml of a soak, or a shrunk repro.yaml) against a fresh testbed\n"+
			"and target and judges it with the soak's checks: exactly the listed steps, faults recovered\n"+
			"after their life in steps, a quiet point after each listed step. A schedule of fewer windows\n"+
			"than a flatness trend needs is judged against the settled sample after setup.\n"+
			"The target is the schedule's own unless a target flag is given (--correct: the reference\n"+
			"fetcher without mutants). Exit 0: passed; 1: a check failed; 2: usage or setup error.\n\nflags:")
		fs.PrintDefaults()
	}
	file, code, ok := parseFileArg(fs, args, stderr, "a schedule file")
	if !ok {
		return code
	}
	sched, err := gates.LoadSchedule(file)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos replay: %v\n", err)
		return exitUsage
	}
	visited := visitedFlags(fs)
	if err := scheduleRefuses(visited); err != nil {
		fmt.Fprintf(stderr, "gitchaos replay: %v\n", err)
		return exitUsage
	}
	opts, err := scheduleOptions(&f, visited, *correct, sched, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos replay: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "gitchaos replay: %s: %d steps, %d quiet points (%s), target %s, testbed %s, settings %s\n",
		file, sched.Len(), len(sched.QuietAfter), sched.Source, opts.Targets.Describe(), opts.TestbedLabel(), settingsLabel(opts))
	if f.dryRun {
		if err := opts.Validate(); err != nil {
			fmt.Fprintf(stderr, "gitchaos replay: %v\n", err)
			return exitUsage
		}
		fmt.Fprintln(stdout, "dry run: schedule valid")
		return exitOK
	}
	if *scale <= 0 {
		fmt.Fprintf(stderr, "gitchaos replay: --pause-scale %g: must be > 0\n", *scale)
		return exitUsage
	}
	var executed *gates.Schedule
	run, err := gates.RunReplay(ctx, gates.ReplayOptions{Options: opts, Schedule: sched, PauseScale: *scale, Executed: func(s *gates.Schedule) { executed = s }})
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos replay: %v\n", err)
		return exitUsage
	}
	printTable(stdout, run)
	if f.out != "" {
		if err := writeReplayOut(f.out, run, executed); err != nil {
			fmt.Fprintf(stderr, "gitchaos replay: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "reports written to %s\n", filepath.Join(f.out, "report.{json,html,md,xml}"))
	}
	if ctx.Err() != nil && run.Verdict() != result.Fail {
		return exitUsage
	}
	return exitCode(run)
}

// writeReplayOut writes a replay's reports and its executed schedule.
func writeReplayOut(dir string, run *result.Run, executed *gates.Schedule) error {
	if err := reports.WriteAll(dir, run); err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	if executed != nil {
		if err := executed.WriteFile(filepath.Join(dir, "schedule.yaml")); err != nil {
			return err
		}
	}
	return nil
}

// parseFileArg parses args of a command that takes one file argument
// (anywhere among its flags) and reports, with usage, a missing one
// (what names it): ok false with the exit code when the command ends.
func parseFileArg(fs *flag.FlagSet, args []string, stderr io.Writer, what string) (file string, code int, ok bool) {
	file, rest := splitFileArg(args)
	if code, ok := parseFlags(fs, rest); !ok {
		return "", code, false
	}
	if file == "" {
		fmt.Fprintf(stderr, "gitchaos %s: %s is required\n", fs.Name(), what)
		fs.Usage()
		return "", exitUsage, false
	}
	return file, 0, true
}

// splitFileArg takes the one positional argument (a file) from args,
// wherever it stands among the flags.
func splitFileArg(args []string) (file string, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			if file == "" {
				file = a
				continue
			}
		}
		rest = append(rest, a)
		// A flag given as "--name value" keeps its value.
		if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && i+1 < len(args) && !isBoolFlag(a) {
			rest = append(rest, args[i+1])
			i++
		}
	}
	return file, rest
}

// isBoolFlag reports whether a flag takes no value.
func isBoolFlag(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "dry-run", "strict", "v", "correct", "h", "help", "verify":
		return true
	}
	return false
}

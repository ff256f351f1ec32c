package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// regressionFiles lists the schedules (*.yaml, *.yml) in dir, sorted.
func regressionFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--regressions: %w", err)
	}
	var out []string
	for _, e := range ents {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("--regressions %s: no schedule (*.yaml) in it", dir)
	}
	return out, nil
}

// runRegressions replays every schedule in dir against the soak's target
// (the settings are each schedule's own unless a settings flag was
// given) and stops at the first that does not pass, naming the file and
// its failing checks: exit 1, or 2 for an unreadable schedule or a
// replay that could not run.
func runRegressions(ctx context.Context, dir string, opts gates.Options, visited map[string]bool, stdout, stderr io.Writer) int {
	files, err := regressionFiles(dir)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos soak: %v\n", err)
		return exitUsage
	}
	scheds := make([]*gates.Schedule, len(files))
	for i, f := range files {
		if scheds[i], err = gates.LoadSchedule(f); err != nil {
			fmt.Fprintf(stderr, "gitchaos soak: --regressions: %v\n", err)
			return exitUsage
		}
	}
	own := visited["git-timeout"] || visited["max-workers"] || visited["sync-concurrency"] || visited["shards"]
	for i, f := range files {
		ro := opts
		ro.Kind = "replay"
		if !own {
			ro.Settings = target.Settings{} // the schedule's
		}
		start := time.Now()
		run, err := gates.RunReplay(ctx, gates.ReplayOptions{Options: ro, Schedule: scheds[i]})
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos soak: regression %s: %v\n", f, err)
			return exitUsage
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "gitchaos soak: interrupted during the regressions")
			return exitUsage
		}
		v := run.Verdict()
		fmt.Fprintf(stdout, "regression %d/%d %s: %s (%d steps) in %.1f s\n", i+1, len(files), f, v, scheds[i].Len(), time.Since(start).Seconds())
		if v == result.Pass {
			continue
		}
		for _, sc := range run.Scenarios {
			if sc.Error != "" {
				fmt.Fprintf(stdout, "  error: %s\n", sc.Error)
			}
			for _, c := range sc.Checks {
				if c.Verdict == result.Fail || c.Verdict == result.Error {
					fmt.Fprintf(stdout, "  %s %s (%s): %s, budget %s — %s\n", c.Verdict, c.ID, c.Name, c.Measured, c.Budget, c.Explanation)
				}
			}
		}
		fmt.Fprintf(stdout, "regression %s fails: replay it with gitchaos replay %s\n", f, f)
		return exitCode(run)
	}
	fmt.Fprintf(stdout, "regressions: all %d passed; soaking\n", len(files))
	return exitOK
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/internal/gates"
)

func cmdShrink(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shrink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f suiteFlags
	correct := scheduleFlags(fs, &f)
	check := fs.String("check", "", "the check ID that must keep failing (default: the schedule's first failed check; gitchaos checks lists IDs)")
	replays := fs.String("replays", "1/1", "k/n: a candidate counts as failing when the check fails in k of n replays")
	verify := fs.Bool("verify", false, "replay the input k/n times before shrinking, even when it records the check as failed (by default the recorded failure is its verdict)")
	budget := fs.Duration("budget", 10*time.Minute, "stop after this long with the smallest failing schedule found so far")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitchaos shrink REPORT_OR_SCHEDULE [--check ID] [--replays k/n] [--budget 10m] [--out DIR]\n\n"+
			"Shrinks a failing soak's executed schedule (schedule.yaml, or the report dir or report.json\n"+
			"beside it) to a minimal one that still fails the same check: ddmin over the steps (a delete\n"+
			"keeps its put, a refresh its scope), then fewer hosts, repos, baseline scopes and quiet\n"+
			"points and shorter faults, then no pauses. Writes DIR/repro.yaml and the reports of its\n"+
			"last failing replay (default DIR: shrink-out), and prints the command that replays it.\n"+
			"The target is the schedule's own unless a target flag is given.\n"+
			"Exit 0: shrunk; 2: usage error, or the schedule does not fail to begin with.\n\nflags:")
		fs.PrintDefaults()
	}
	file, code, ok := parseFileArg(fs, args, stderr, "a report or schedule file")
	if !ok {
		return code
	}
	k, n, err := parseReplays(*replays)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos shrink: --replays: %v\n", err)
		return exitUsage
	}
	if *budget <= 0 {
		fmt.Fprintf(stderr, "gitchaos shrink: --budget %v: must be > 0\n", *budget)
		return exitUsage
	}
	sched, err := gates.LoadSchedule(file)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos shrink: %v\n", err)
		return exitUsage
	}
	visited := visitedFlags(fs)
	if err := scheduleRefuses(visited); err != nil {
		fmt.Fprintf(stderr, "gitchaos shrink: %v\n", err)
		return exitUsage
	}
	out := f.out
	if out == "" {
		out = "shrink-out"
		f.out = out
	}
	opts, err := scheduleOptions(&f, visited, *correct, sched, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos shrink: %v\n", err)
		return exitUsage
	}
	id := *check
	if id == "" && len(sched.Failed) > 0 {
		id = sched.Failed[0].ID
	}
	if id == "" {
		fmt.Fprintln(stderr, "gitchaos shrink: the schedule lists no failed check: name one with --check")
		return exitUsage
	}
	if !isDeclaredCheck(id) {
		fmt.Fprintf(stderr, "gitchaos shrink: --check %q: not a declared check (gitchaos checks lists them)\n", id)
		return exitUsage
	}
	fmt.Fprintf(stdout, "gitchaos shrink: %s: %d steps, %d quiet points, keeping %s failing in %d/%d replays, budget %v, target %s\n",
		file, sched.Len(), len(sched.QuietAfter), id, k, n, *budget, opts.Targets.Describe())
	if f.dryRun {
		if err := opts.Validate(); err != nil {
			fmt.Fprintf(stderr, "gitchaos shrink: %v\n", err)
			return exitUsage
		}
		fmt.Fprintln(stdout, "dry run: schedule valid")
		return exitOK
	}
	width, term := terminalWidth(stdout)
	pr := &shrinkProgress{w: stdout, term: term, live: liveLine{w: stdout, width: width}}
	res, err := gates.Shrink(ctx, gates.ShrinkOptions{Options: opts, Schedule: sched, Check: id, K: k, N: n, Budget: *budget, Verify: *verify, Progress: pr.update})
	pr.done()
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos shrink: %v\n", err)
		return exitUsage
	}
	st := res.Status
	fmt.Fprintf(stdout, "shrunk %d → %d steps (%d quiet points, %d hosts, %d repos per host, %d baseline scopes) in %v: %d candidates, %d replays\n",
		st.From, res.Schedule.Len(), len(res.Schedule.QuietAfter), res.Schedule.Hosts, res.Schedule.Pool, res.Schedule.Baseline,
		st.Elapsed.Round(time.Second), st.Candidates, st.Replays)
	if res.Stopped != "" {
		fmt.Fprintf(stdout, "stopped early: %s (the result fails, but may not be minimal)\n", res.Stopped)
	}
	for _, s := range res.Schedule.Steps {
		fmt.Fprintf(stdout, "  %s\n", s)
	}
	c := res.Check
	if res.Final == nil {
		fmt.Fprintf(stdout, "no smaller candidate failed %s in %d/%d replays: the input is the result\n", id, k, n)
		c.ID, c.Name, c.Measured, c.Budget, c.Explanation = id, "as recorded", "n/a", "n/a", "not replayed"
	}
	fmt.Fprintf(stdout, "failing: %s (%s): %s, budget %s — %s\n", c.ID, c.Name, c.Measured, c.Budget, c.Explanation)
	path := filepath.Join(out, "repro.yaml")
	if err := res.Schedule.WriteFile(path); err != nil {
		fmt.Fprintf(stderr, "gitchaos shrink: %v\n", err)
		return exitUsage
	}
	if res.Final != nil {
		if err := writeReplayOut(out, res.Final, nil); err != nil {
			fmt.Fprintf(stderr, "gitchaos shrink: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "report of its last failing replay: %s\n", filepath.Join(out, "report.html"))
	}
	fmt.Fprintf(stdout, "minimal schedule written to %s\nreplay: gitchaos replay %s\n", path, path)
	return exitOK
}

// parseReplays reads "k/n" (or "n", meaning n/n).
func parseReplays(s string) (k, n int, err error) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		b = a
	}
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || k < 1 || n < k || n > 100 {
		return 0, 0, fmt.Errorf("%q: want k/n with 1 <= k <= n <= 100", s)
	}
	return k, n, nil
}

// shrinkProgress renders a shrink's progress: one line redrawn on a
// terminal, a plain line per candidate otherwise.
type shrinkProgress struct {
	w    io.Writer
	term bool

	mu    sync.Mutex
	live  liveLine
	phase string
}

func (p *shrinkProgress) update(st gates.ShrinkStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("%s/%s %s | %d candidates, %d replays | trying %d steps | best %d of %d",
		fmtDur(st.Elapsed), fmtDur(st.Budget), st.Phase, st.Candidates, st.Replays, st.Size, st.Best, st.From)
	if st.Last != "" {
		line += " | last: " + st.Last
	}
	if p.term {
		p.live.draw(line)
		return
	}
	// Piped: one line per judged candidate and per phase.
	if !st.Judged && st.Phase == p.phase {
		return
	}
	p.phase = st.Phase
	fmt.Fprintf(p.w, "%s shrink: %s\n", time.Now().UTC().Format(time.TimeOnly), line)
}

func (p *shrinkProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live.end()
}

// isDeclaredCheck reports whether id is a declared check's ID.
func isDeclaredCheck(id string) bool {
	_, ok := gates.LookupCheck(id)
	return ok
}

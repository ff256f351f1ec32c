package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/reports"
)

// soakLogEvery is how often a soak logs a progress line when stdout is
// not a terminal.
const soakLogEvery = 30 * time.Second

func cmdSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f suiteFlags
	f.register(fs, true)
	duration := fs.Duration("duration", 8*time.Hour, "how long to soak")
	window := fs.Duration("window", 0, "time between quiet points, each one settled sample judged for flatness (default 1m, or duration/20 for soaks under 20m, at least 5s)")
	hosts := fs.Int("hosts", 2, "git hosts in the testbed (1-3)")
	interval := fs.Duration("sample-interval", 500*time.Millisecond, "timeline sampling interval")
	regressions := fs.String("regressions", "", "replay every schedule (*.yaml) in this dir first, failing fast on the first that fails (file and check named), then soak")
	perWindow := fs.Int("steps-per-window", 0, "planned steps each window runs (default: as many as the window's length holds at the mean pause, 36 for windows up to 96s); the schedule counts steps, not seconds, so a seed replays on a slower machine")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitchaos soak --duration D --seed S [--window W] [--target ...] [--testbed ...] [--out DIR]\n\n"+
			"Runs a seeded random mix of steps and faults (put, delete, refresh, push, flap, blackhole,\n"+
			"server-side hang/500, restart) against one target for the duration, sampling it throughout.\n"+
			"At the end of every window it recovers every fault, deletes the extra scopes and takes one\n"+
			"settled sample; fds, goroutines, heap, RSS and disk must stay flat across windows.\n"+
			"Duration/window is the number of windows; each runs --steps-per-window steps, and\n"+
			"faults last a number of steps: the same seed and flags run the same steps with the\n"+
			"same outcomes on any machine (the wall-clock length varies with its speed).\n"+
			"--scopes sets the baseline scopes kept for the whole soak. Ctrl-C ends it with a partial report.\n"+
			"Exit 0: passed; 1: a check failed; 2: usage or setup error.\n\nflags:")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	visited := visitedFlags(fs)
	for _, n := range []string{"only", "f", "scenario-timeout"} {
		if visited[n] {
			fmt.Fprintf(stderr, "gitchaos soak: -%s does not apply to a soak (it runs its own mix of steps, not gate scenarios)\n", n)
			return exitUsage
		}
	}
	width, term := terminalWidth(stdout)
	pr := &soakProgress{w: stdout, term: term, every: soakLogEvery, live: liveLine{w: stdout, width: width}}
	// Log lines clear the redrawn progress line first and redraw it after.
	opts, err := f.options(visited, pr.logWriter(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos soak: %v\n", err)
		return exitUsage
	}
	opts.Kind = "soak"
	if ip, ok := opts.Targets.(*inprocess.Factory); ok && !f.verbose {
		// Under injected faults the fetcher warns about every failed sync:
		// expected, and thousands of lines over hours. -v keeps them.
		ip.Logger = slog.New(slog.DiscardHandler)
	}
	so := gates.SoakOptions{Options: opts, SoakParams: gates.SoakParams{Duration: *duration, Window: *window, Hosts: *hosts, SampleInterval: *interval, StepsPerWindow: *perWindow}}
	if so.Window == 0 {
		so.Window = defaultWindow(*duration)
	}
	if so.StepsPerWindow == 0 {
		so.StepsPerWindow = gates.DefaultStepsPerWindow(so.Window)
	}
	so.Progress = pr.update
	var sched *gates.Schedule
	so.Executed = func(s *gates.Schedule) { sched = s }
	fmt.Fprintf(stdout, "gitchaos soak: %v in windows of %v (%d steps each), target %s, testbed %s, seed %d, settings %s\n",
		so.Duration, so.Window, so.StepsPerWindow, opts.Targets.Describe(), opts.TestbedLabel(), opts.Seed, settingsLabel(opts))
	if f.dryRun {
		if err := so.Validate(); err != nil {
			fmt.Fprintf(stderr, "gitchaos soak: %v\n", err)
			return exitUsage
		}
		if *regressions != "" {
			files, err := regressionFiles(*regressions)
			for _, p := range files {
				if _, lerr := gates.LoadSchedule(p); lerr != nil {
					err = lerr
					break
				}
			}
			if err != nil {
				fmt.Fprintf(stderr, "gitchaos soak: %v\n", err)
				return exitUsage
			}
			fmt.Fprintf(stdout, "dry run: would replay %d regression schedules first\n", len(files))
		}
		fmt.Fprintf(stdout, "dry run: would run %d windows\n", int(so.Duration/so.Window))
		return exitOK
	}
	if *regressions != "" {
		if code := runRegressions(ctx, *regressions, opts, visited, stdout, stderr); code != exitOK {
			return code
		}
	}
	start := time.Now()
	run, err := gates.RunSoak(ctx, so)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos soak: %v\n", err)
		return exitUsage
	}
	pr.done()
	if ctx.Err() != nil {
		fmt.Fprintf(stdout, "interrupted after %v: partial report follows\n", time.Since(start).Round(time.Second))
	}
	printTable(stdout, run)
	if f.out != "" {
		if err := reports.WriteAll(f.out, run); err != nil {
			fmt.Fprintf(stderr, "gitchaos soak: write reports: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "reports written to %s\n", filepath.Join(f.out, "report.{json,html,md,xml}"))
		if sched != nil {
			p := filepath.Join(f.out, "schedule.yaml")
			if err := sched.WriteFile(p); err != nil {
				fmt.Fprintf(stderr, "gitchaos soak: %v\n", err)
				return exitUsage
			}
			fmt.Fprintf(stdout, "executed schedule (%d steps) written to %s: gitchaos replay %s; gitchaos shrink %s\n", sched.Len(), p, p, p)
		}
	}
	resolved := map[string]string{
		"duration": so.Duration.String(), "window": so.Window.String(), "steps-per-window": fmt.Sprint(so.StepsPerWindow),
		"seed": fmt.Sprint(opts.Seed), "hosts": fmt.Sprint(so.Hosts), "testbed": opts.TestbedKind,
		"sample-interval": so.SampleInterval.String(),
		"git-timeout":     opts.Settings.GitTimeout.String(), "max-workers": fmt.Sprint(opts.Settings.MaxWorkers),
		"sync-concurrency": fmt.Sprint(opts.Settings.SyncConcurrency), "shards": fmt.Sprint(opts.Settings.Shards),
	}
	if e := opts.ServerEngine(); e != "" {
		resolved["engine"] = string(e)
	}
	fmt.Fprintf(stdout, "replay: %s\n", replayCommand(fs, resolved))
	if ctx.Err() != nil && run.Verdict() != result.Fail {
		return exitUsage // interrupted before anything failed: no verdict
	}
	return exitCode(run)
}

// replayCommand is a `gitchaos soak` command line that replays a run:
// every flag that shapes it — resolved values spelled out (a later
// version's defaults may differ), plus every other flag the user set
// (target, mutants, scopes, ...) — in flag order. Output-only flags (--out,
// -v) are left out, and a bearer token is not printed.
func replayCommand(fs *flag.FlagSet, resolved map[string]string) string {
	visited := visitedFlags(fs)
	parts := []string{"gitchaos", "soak"}
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name == "out" || fl.Name == "v" {
			return
		}
		v, ok := resolved[fl.Name]
		if !ok {
			if !visited[fl.Name] {
				return
			}
			v = fl.Value.String()
		}
		if fl.Name == "target-token" {
			parts = append(parts, "--target-token", `"$GITCHAOS_TARGET_TOKEN"`)
			return
		}
		if r, rep := fl.Value.(repeatedFlag); rep && !ok {
			// One flag per value: the values may hold the separator
			// String() joins them with (a space in --target-env's case).
			for _, one := range r.values() {
				parts = append(parts, "--"+fl.Name, shellQuote(one))
			}
			return
		}
		parts = append(parts, "--"+fl.Name, shellQuote(v))
	})
	return strings.Join(parts, " ")
}

// repeatedFlag is a flag given once per value.
type repeatedFlag interface{ values() []string }

// shellQuote quotes v for a POSIX shell when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,@%+-") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// defaultWindow is 1 minute, or a twentieth of a soak shorter than 20
// minutes (at least 5 s), so that a short soak still has enough windows
// for every flatness verdict (heap and RSS need 11).
func defaultWindow(d time.Duration) time.Duration {
	if d >= 20*time.Minute {
		return gates.DefaultSoakWindow
	}
	return max((d / 20).Round(time.Second), 5*time.Second)
}

// soakProgress renders progress: one line redrawn with \r on a
// terminal, a plain line every `every` otherwise.
type soakProgress struct {
	w     io.Writer
	term  bool
	every time.Duration

	mu   sync.Mutex
	last time.Time
	live liveLine
}

// logWriter wraps w so that on a terminal each write first clears the
// progress line and redraws it afterwards.
func (p *soakProgress) logWriter(w io.Writer) io.Writer { return &progressAwareWriter{p: p, w: w} }

type progressAwareWriter struct {
	p *soakProgress
	w io.Writer
}

func (a *progressAwareWriter) Write(b []byte) (int, error) {
	p := a.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.term || !p.live.shown {
		return a.w.Write(b)
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.live.n))
	n, err := a.w.Write(b)
	fmt.Fprintf(p.w, "%s", p.live.text)
	return n, err
}

func (p *soakProgress) update(st gates.SoakStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := progressLine(st)
	if p.term {
		p.live.draw(line)
		return
	}
	if p.last.IsZero() || time.Since(p.last) >= p.every {
		p.last = time.Now()
		fmt.Fprintf(p.w, "%s soak: %s\n", time.Now().UTC().Format(time.TimeOnly), line)
	}
}

// done ends the redrawn line.
func (p *soakProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live.end()
}

func progressLine(st gates.SoakStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %3.0f%% | %d ops, %d windows", fmtDur(st.Elapsed), fmtDur(st.Duration),
		100*min(1, st.Elapsed.Seconds()/max(st.Duration.Seconds(), 1)), st.Steps, st.Windows)
	if v, ok := st.Values["fds"]; ok {
		fmt.Fprintf(&b, " | fds %.0f", v)
	}
	if v, ok := st.Values["rss_bytes"]; ok {
		fmt.Fprintf(&b, " rss %.0f MiB", v/(1<<20))
	}
	if v, ok := st.Values["goroutines"]; ok {
		fmt.Fprintf(&b, " goroutines %.0f", v)
	}
	switch st.Verdict {
	case result.Fail:
		fmt.Fprintf(&b, " | FAIL so far: %s", strings.Join(st.Failing, ", "))
	case result.Pass:
		b.WriteString(" | pass so far")
	default:
		b.WriteString(" | no verdict yet")
	}
	return b.String()
}

// fmtDur renders 1h02m03s as 1:02:03 and 2m03s as 2:03.
func fmtDur(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

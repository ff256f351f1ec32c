package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/compare"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
)

const compareRunUsage = `usage: gitchaos compare [--base-cmd T | --base URL | --base-mutant M] [--head-cmd T | --head URL | --head-mutant M]
                        [--aa] [--runs N] [--max-runs M] [suite flags] [--out DIR]

Runs the suite on base and on head interleaved on this machine, the
stronger design: pairs in the order A B, B A, A B, ... (base first in even
pairs), pair i with seed --seed+i on both sides, one testbed kind, every
run the gate suite (the scenarios of --only, -f, --shard). It starts with
--runs pairs, then adds one pair at a time, running only the scenarios
that hold an undecided check, until none is undecided or --max-runs pairs
ran (a check whose plan wants more runs than the pairs left gets none). Then it judges as 'gitchaos compare BASE... -- HEAD...' does.

A side is the in-process reference fetcher (with --X-mutant: its historical
bugs switched back on; without any X flag: the correct one), a process
started from a command template (--X-cmd, as --target-cmd), or a running
server (--X URL, with --X-pid and --X-base-dir as --target-pid and
--target-base-dir). --aa runs the base against itself (head = base): the
false-alarm rate of this runner.

With --out DIR every run's report.json is kept as DIR/base-i and DIR/head-i
(i = 1, 2, ...): 'gitchaos compare DIR/base-*/report.json -- DIR/head-*/report.json'
judges them again; 'gitchaos compare merge DIR...' joins the parts of a
comparison split with --shard i/n across CI runners.

flags:
`

// compareRunFlags are the flags of 'gitchaos compare' running base and
// head itself.
type compareRunFlags struct {
	suite    suiteFlags
	sides    [2]sideFlags
	aa       bool
	runs     int
	maxRuns  int
	shard    shardFlag
	parallel int
	out      compareOutput
}

// sideFlags pick one side's target.
type sideFlags struct {
	cmd     string
	url     string
	pid     int
	baseDir string
	mutants listFlag
	env     envFlag
}

// set says whether any target flag of the side was given.
func (s *sideFlags) set() bool {
	return s.cmd != "" || s.url != "" || len(s.mutants) > 0 || s.pid != 0 || s.baseDir != "" || len(s.env) > 0
}

func (f *compareRunFlags) register(fs *flag.FlagSet) {
	f.suite.register(fs, false)
	for i, name := range []string{"base", "head"} {
		s := &f.sides[i]
		fs.StringVar(&s.cmd, name+"-cmd", "", "start "+name+" as a process: command template with {addr}, {port}, {base_dir} (as --target-cmd)")
		fs.StringVar(&s.url, name, "", "drive a running "+name+" server at this URL")
		fs.IntVar(&s.pid, name+"-pid", 0, "with --"+name+" URL: the server's pid, for fds, RSS and threads")
		fs.StringVar(&s.baseDir, name+"-base-dir", "", "with --"+name+" URL: the server's data dir")
		fs.Var(&s.mutants, name+"-mutant", name+" is the in-process reference fetcher with these bugs switched on (repeatable or comma-separated)")
		fs.Var(&s.env, name+"-env", "with --"+name+"-cmd: extra KEY=VALUE environment (repeatable)")
	}
	fs.BoolVar(&f.aa, "aa", false, "A/A: head is the base itself (give base flags only), to measure the false-alarm rate")
	fs.IntVar(&f.runs, "runs", 3, "pairs (runs a side) to start with")
	fs.IntVar(&f.maxRuns, "max-runs", 10, "at most this many pairs: pairs past --runs run only while a check is undecided")
	f.shard.register(fs, "scenarios")
	fs.IntVar(&f.parallel, "parallel", 0, "in each run, scenarios that judge nothing process-wide run this many at a time (0: 2; 1: one at a time), as gate --parallel")
	f.out.register(fs)
}

// printCompareHelp prints every mode of 'gitchaos compare': saved
// reports, running base and head, and the correct fetcher against each
// mutant, with their flags.
func printCompareHelp(w io.Writer) {
	fmt.Fprint(w, compareUsage)
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(w)
	var f compareRunFlags
	f.register(fs)
	fmt.Fprint(w, "\n"+compareRunUsage)
	fs.PrintDefaults()
	fmt.Fprint(w, "\n"+compareMutantsUsage)
	fmt.Fprintln(w, "  --mutants, --runs, --parallel and the suite flags above.")
}

// compareRunFlagNames are the flags only the running mode has: one of
// them on the command line selects it.
var compareRunFlagNames = []string{"base-cmd", "head-cmd", "base", "head", "base-pid", "head-pid", "base-base-dir", "head-base-dir",
	"base-mutant", "head-mutant", "base-env", "head-env", "aa", "runs", "max-runs"}

// wantsRun says whether args ask 'gitchaos compare' to run base and head
// itself rather than compare saved reports.
func wantsRun(args []string) bool {
	return flagGiven(args, compareRunFlagNames...)
}

// flagGiven says whether args, up to a "--", set one of the flags names.
func flagGiven(args []string, names ...string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if slices.Contains(names, name) {
			return true
		}
	}
	return false
}

// interleavedDesign is the design note of a comparison this command ran.
const interleavedDesign = "base and head interleaved on one runner (A B, B A, ...; the same seed for both runs of a pair)"

func cmdCompareRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f compareRunFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, compareRunUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gitchaos compare: "+format+"\n", a...)
		return exitUsage
	}
	sides, err := f.options(visitedFlags(fs), stderr)
	if err != nil {
		return fail("%v", err)
	}
	if f.suite.dryRun {
		for s, o := range sides {
			fmt.Fprintf(stdout, "dry run: %s %s, testbed %s, seeds %d.., %d to %d runs\n", sideName(s), o.Targets.Describe(), o.TestbedLabel(), o.Seed, f.runs, f.maxRuns)
		}
		return exitOK
	}
	c, err := runInterleaved(ctx, sides, f.runs, f.maxRuns, f.suite.out, f.out.alpha, shardOf(f.shard), stderr)
	if err != nil {
		return fail("%v", err)
	}
	if ctx.Err() != nil {
		return fail("interrupted")
	}
	return c.finish(stdout, stderr, f.out)
}

func shardOf(f shardFlag) *result.Shard {
	if !f.set {
		return nil
	}
	sh := f.shard
	return &sh
}

// options checks the flags and builds both sides' suite options, which
// differ only in their targets.
func (f *compareRunFlags) options(visited map[string]bool, logOut io.Writer) ([2]gates.Options, error) {
	var out [2]gates.Options
	switch {
	case f.parallel < 0:
		return out, usagef("--parallel %d: want 0 (the default) or more", f.parallel)
	case f.runs < 2:
		return out, usagef("--runs %d: want at least 2 runs a side (3 or more decide anything)", f.runs)
	case f.maxRuns < f.runs:
		return out, usagef("--max-runs %d: want at least --runs (%d)", f.maxRuns, f.runs)
	case f.out.validate() != nil:
		return out, usagef("%v", f.out.validate())
	case f.aa && f.sides[1].set():
		return out, usagef("--aa runs the base against itself: give base flags only, no head flags")
	case !f.aa && !f.sides[0].set() && !f.sides[1].set():
		return out, usagef("nothing to compare: give base and head (--base-cmd/--head-cmd, --base/--head, --base-mutant/--head-mutant), or --aa")
	}
	if f.aa {
		f.sides[1] = f.sides[0]
	}
	if f.suite.out != "" {
		if err := os.MkdirAll(f.suite.out, 0o755); err != nil {
			return out, usagef("--out: %v", err)
		}
	}
	for s := range f.sides {
		sf := f.sides[s]
		name := sideName(s)
		n := 0
		for _, set := range []bool{sf.cmd != "", sf.url != "", len(sf.mutants) > 0} {
			if set {
				n++
			}
		}
		switch {
		case n > 1:
			return out, usagef("--%s-cmd, --%s URL and --%s-mutant are exclusive: pick one %s target", name, name, name, name)
		case (sf.pid != 0 || sf.baseDir != "") && sf.url == "":
			return out, usagef("--%s-pid and --%s-base-dir need --%s URL", name, name, name)
		case len(sf.env) > 0 && sf.cmd == "":
			return out, usagef("--%s-env needs --%s-cmd", name, name)
		}
		suite := f.suite
		suite.out = "" // each run's report is written apart
		suite.targetCmd, suite.targetURL, suite.targetPID, suite.targetDir = sf.cmd, sf.url, sf.pid, sf.baseDir
		suite.mutants, suite.targetEnv = sf.mutants, sf.env
		opts, err := suite.options(visited, logOut)
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		opts.Kind = "gate"
		opts.Parallel = f.parallel
		if err := f.shard.shardGate(&opts); err != nil {
			return out, err
		}
		if err := opts.Validate(); err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		out[s] = opts
	}
	if a, b := out[0].TestbedLabel(), out[1].TestbedLabel(); a != b {
		return out, usagef("base runs on testbed %s, head on %s: a comparison needs one testbed; name its git server with --engine", a, b)
	}
	return out, nil
}

// runInterleaved runs the pairs and returns the comparison of their runs,
// not yet judged (comparison.finish judges it): first runs pairs of the
// whole selection, then one pair at a time of the scenarios holding an
// undecided check that the pairs left may decide, up to maxRuns pairs.
// Each run's report.json goes to out/base-i or out/head-i when out is
// set. Progress lines go to log.
func runInterleaved(ctx context.Context, sides [2]gates.Options, runs, maxRuns int, out string, alpha float64, shard *result.Shard, log io.Writer) (*comparison, error) {
	c := &comparison{Design: interleavedDesign}
	only := sides[0].Only
	t0 := time.Now()
	for i := range maxRuns {
		if ctx.Err() != nil {
			break
		}
		if i >= runs {
			undecided, hopeless, err := undecidedScenarios(c, alpha, maxRuns-i)
			if err != nil {
				return nil, err
			}
			if len(hopeless) > 0 {
				fmt.Fprintf(log, "compare: %s undecided, but each would need more than the %d pairs left (--max-runs %d): no pair runs for them\n",
					strings.Join(hopeless, ", "), maxRuns-i, maxRuns)
			}
			if len(undecided) == 0 {
				break
			}
			only = undecided
			fmt.Fprintf(log, "compare: undecided checks in %s: pair %d runs those scenarios only\n", strings.Join(only, ","), i+1)
		}
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, s := range order {
			opts := sides[s]
			opts.Seed = sides[s].Seed + int64(i)
			opts.Only = only
			start := time.Now()
			run, err := gates.RunSuite(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", sideName(s), i+1, err)
			}
			run.Settings = runSettings(opts)
			run.Shard = shard
			label := fmt.Sprintf("%s run %d (seed %d)", sideName(s), i+1, opts.Seed)
			if out != "" {
				dir := filepath.Join(out, fmt.Sprintf("%s-%d", sideName(s), i+1))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("write report: %w", err)
				}
				label = filepath.Join(dir, "report.json")
				if err := run.Save(label); err != nil {
					return nil, fmt.Errorf("write report: %w", err)
				}
			}
			if err := c.add(s, label, run); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "compare: pair %d/%d %s seed %d: %s in %.1f s (%.0f s so far)\n",
				i+1, maxRuns, sideName(s), opts.Seed, strings.ToUpper(string(run.Verdict())), time.Since(start).Seconds(), time.Since(t0).Seconds())
			if ctx.Err() != nil {
				break
			}
		}
	}
	return c, nil
}

// undecidedScenarios judges the runs so far and names, in suite order,
// the scenarios holding an undecided check that more runs may decide:
// one whose plan (Outcome.MoreRuns) fits in the left pairs. The others
// are named in hopeless (scenario/check): a timing 10 ms apart on a
// loaded runner can want hundreds of runs, and pairs spent on it would
// decide nothing.
func undecidedScenarios(c *comparison, alpha float64, left int) (names, hopeless []string, err error) {
	checks, _, _ := compare.FromRuns(c.runs[0], c.runs[1])
	if len(checks) == 0 {
		return nil, nil, errors.New("no check common to both sides after the first pairs: did both sides run the same scenarios?")
	}
	for _, o := range compare.Compare(checks, compare.Options{Alpha: alpha}) {
		switch {
		case o.Verdict != compare.Undecided:
		case o.MoreRuns > left:
			hopeless = append(hopeless, fmt.Sprintf("%s/%s (~%d more runs a side)", o.Scenario, o.Check, o.MoreRuns))
		case !slices.Contains(names, o.Scenario):
			names = append(names, o.Scenario)
		}
	}
	var ordered []string
	for _, n := range append(gates.Names(), gates.OptInNames()...) {
		if slices.Contains(names, n) {
			ordered = append(ordered, n)
		}
	}
	return ordered, hopeless, nil
}

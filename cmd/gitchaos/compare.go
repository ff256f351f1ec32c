package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gitchaos/gitchaos/harness/compare"
	"github.com/gitchaos/gitchaos/harness/result"
)

const compareUsage = `usage: gitchaos compare [flags] BASE/report.json ... -- HEAD/report.json ...

Compares saved runs of the suite, base against head: each report.json is
one run ('gitchaos gate --out DIR' writes it), several per side (5 or more
a side decide most checks). Checks pair by scenario and check. Per check:
the base and head medians, the shift head − base (Hodges–Lehmann) with
its 95% interval, the Mann–Whitney p-value and that p corrected across
all checks (Holm), the failures per side, and a verdict:

  broken / fixed   passed on base and fails on head (or the reverse), decisively
  worse / better   the measured value moved significantly, past the floor: the
                   unit's (10 ms, 64 KiB, 1 fd or other count; per cycle
                   likewise) or 5% of the base median, whichever is larger
  undecided        not decided yet: the row says about how many more runs a side
  known failure    fails on both sides (worse or better if its value moved)
  same             no significant difference past the floor
  skipped          no run on one side passed or failed

Saved reports from separate CI jobs are the weaker design: base and head
ran at different times, maybe on different machines, so a runner's drift
reads as a change. Running base and head interleaved on one runner
(A B B A, the same seed per pair) is the stronger design:
'gitchaos compare --base-cmd T --head-cmd T' (or --base/--head URL,
--base-mutant/--head-mutant, --aa) does it, flags below.
'gitchaos compare merge DIR...' joins the parts of a comparison split
with --shard. See docs/compare.md.

flags:
  --json               print the comparison as JSON, for tools
  --markdown           print Markdown for a PR comment: broken, worse, fixed
                       and better first, the rest folded
  --html FILE          also write an HTML page: base and head values side by
                       side per check, per-cycle series of every run overlaid
  --fail-on-undecided  exit 1 when a check is undecided too
  --alpha A            family-wise false-alarm rate across checks (default 0.05)

Exit status: 0 nothing broken or worse; 1 a check broken or worse (or
undecided, with --fail-on-undecided); 2 usage error: no -- between the
sides, a side without reports, an unreadable report, reports of different
kinds or target settings, no check common to both sides.
`

// comparison is what 'gitchaos compare' prints as JSON.
type comparison struct {
	Verdict  string            `json:"verdict"` // pass or fail (the exit status)
	Alpha    float64           `json:"alpha"`
	Settings string            `json:"settings,omitempty"`
	Base     compareSide       `json:"base"`
	Head     compareSide       `json:"head"`
	Counts   map[string]int    `json:"counts"`
	Checks   []compare.Outcome `json:"checks"`
	OnlyBase []string          `json:"only_base,omitempty"`
	OnlyHead []string          `json:"only_head,omitempty"`
	// Errors are the scenarios that errored in a run: their checks may
	// be incomplete in that run.
	Errors    []string         `json:"errors,omitempty"`
	Design    string           `json:"design"`
	runs      [2][]*result.Run // base, head
	first     *result.Run      // the first run added, whose kind and settings the others must share
	firstPath string
	failOn    func(compare.Verdict) bool
}

// compareSide describes the reports of one side.
type compareSide struct {
	Reports []string `json:"reports"`
	Targets []string `json:"targets"`
	Seeds   []int64  `json:"seeds"`
}

const savedDesign = "saved reports of separate runs: weaker than base and head interleaved on one runner (gitchaos compare --base-cmd/--head-cmd)"

func cmdCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "merge" {
		return cmdCompareMerge(ctx, args[1:], stdout, stderr)
	}
	if flagGiven(args, "mutants") {
		return cmdCompareMutants(ctx, args, stdout, stderr)
	}
	if wantsRun(args) {
		return cmdCompareRun(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var out compareOutput
	out.register(fs)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gitchaos compare: "+format+"\n", a...)
		fmt.Fprint(stderr, "\n"+compareUsage)
		return exitUsage
	}
	sep := slices.Index(args, "--")
	var baseArgs, headArgs []string
	if sep >= 0 {
		baseArgs, headArgs = args[:sep], args[sep+1:]
	} else {
		baseArgs = args
	}
	basePaths, err := parseInterspersed(fs, baseArgs)
	if errors.Is(err, flag.ErrHelp) {
		printCompareHelp(stdout)
		return exitOK
	}
	if err != nil {
		return fail("%v", err)
	}
	headPaths, err := parseInterspersed(fs, headArgs)
	if errors.Is(err, flag.ErrHelp) {
		printCompareHelp(stdout)
		return exitOK
	}
	if err != nil {
		return fail("%v", err)
	}
	switch {
	case sep < 0:
		return fail("missing -- between the base reports and the head reports")
	case len(basePaths) == 0:
		return fail("no base report before --")
	case len(headPaths) == 0:
		return fail("no head report after --")
	case out.validate() != nil:
		return fail("%v", out.validate())
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "gitchaos compare: %v\n", err)
		return exitUsage
	}
	c, err := loadComparison(basePaths, headPaths)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos compare: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitUsage
	}
	return c.finish(stdout, stderr, out)
}

// compareOutput is how a comparison is judged and printed: the flags
// both modes of 'gitchaos compare' share.
type compareOutput struct {
	json, markdown  bool
	html            string // also write the HTML page here ("": none)
	alpha           float64
	failOnUndecided bool
}

// register adds the flags of the output to fs (every mode takes them).
func (o *compareOutput) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the comparison as JSON")
	fs.BoolVar(&o.markdown, "markdown", false, "print Markdown for a PR comment")
	fs.StringVar(&o.html, "html", "", "also write an HTML page: base and head side by side per check")
	fs.BoolVar(&o.failOnUndecided, "fail-on-undecided", false, "exit 1 when a check is undecided too")
	fs.Float64Var(&o.alpha, "alpha", 0.05, "family-wise false-alarm rate across checks")
}

// validate says what is wrong with the output flags.
func (o compareOutput) validate() error {
	switch {
	case o.json && o.markdown:
		return errors.New("--json and --markdown are exclusive: pick one")
	case !(o.alpha > 0 && o.alpha < 1):
		return fmt.Errorf("--alpha %v: want a rate between 0 and 1, e.g. 0.05", o.alpha)
	}
	return nil
}

// judge compares the runs of both sides (c.runs) and fills the verdicts;
// an error when no check is common to both sides.
func (c *comparison) judge(o compareOutput) error {
	checks, onlyBase, onlyHead := compare.FromRuns(c.runs[0], c.runs[1])
	if len(checks) == 0 {
		return fmt.Errorf("no check common to both sides (base has %d, head %d): did they run the same scenarios?",
			len(onlyBase), len(onlyHead))
	}
	c.Alpha = o.alpha
	c.Checks = compare.Compare(checks, compare.Options{Alpha: o.alpha})
	c.OnlyBase, c.OnlyHead = onlyBase, onlyHead
	c.failOn = func(v compare.Verdict) bool { return v.Fails(o.failOnUndecided) }
	c.Counts = map[string]int{}
	c.Verdict = "pass"
	for _, oc := range c.Checks {
		c.Counts[string(oc.Verdict)]++
		if c.failOn(oc.Verdict) {
			c.Verdict = "fail"
		}
	}
	return nil
}

// finish judges c, prints it in the chosen format and returns the exit
// status: 0 nothing broken or worse, 1 otherwise, 2 when nothing could be
// compared.
func (c *comparison) finish(stdout, stderr io.Writer, o compareOutput) int {
	if err := c.judge(o); err != nil {
		fmt.Fprintf(stderr, "gitchaos compare: %v\n", err)
		return exitUsage
	}
	if o.html != "" {
		if err := writeCompareHTMLFile(o.html, c); err != nil {
			fmt.Fprintf(stderr, "gitchaos compare: %v\n", err)
			return exitUsage
		}
	}
	switch {
	case o.json:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(c); err != nil {
			fmt.Fprintf(stderr, "gitchaos compare: encode JSON: %v\n", err)
			return exitUsage
		}
	case o.markdown:
		writeCompareMarkdown(stdout, c)
	default:
		writeCompareTable(stdout, c)
	}
	if c.Verdict == "fail" {
		return exitFail
	}
	return exitOK
}

// loadComparison reads both sides' reports and checks that they can be
// compared: every report a run, all of one kind and one settings label.
func loadComparison(basePaths, headPaths []string) (*comparison, error) {
	c := &comparison{Design: savedDesign}
	var errs []error
	for s, paths := range [][]string{basePaths, headPaths} {
		for _, p := range paths {
			run, err := result.Load(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s report: %w", sideName(s), err))
				continue
			}
			if err := c.add(s, p, run); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return c, errors.Join(errs...)
}

func sideName(s int) string {
	if s == 1 {
		return "head"
	}
	return "base"
}

// add records run, read from p (a path or a label), on side s (0 base, 1
// head); an error when it is no run or not comparable with the runs
// added before (another kind or settings label). It is kept either way.
func (c *comparison) add(s int, p string, run *result.Run) error {
	side, name := &c.Base, sideName(s)
	if s == 1 {
		side = &c.Head
	}
	if run.ID == "" && len(run.Scenarios) == 0 {
		return fmt.Errorf("%s report %s holds no run (no id, no scenarios); is it a gitchaos report.json?", name, p)
	}
	var errs []error
	if c.first == nil {
		c.first, c.firstPath = run, p
		c.Settings = run.Settings
	} else {
		if run.Settings != c.first.Settings {
			errs = append(errs, fmt.Errorf("%s report %s ran with target settings %q, %s with %q: compare runs of the same settings",
				name, p, run.Settings, c.firstPath, c.first.Settings))
		}
		if run.Kind != c.first.Kind {
			errs = append(errs, fmt.Errorf("%s report %s is a %s run, %s a %s run: compare runs of one kind", name, p, orRun(run.Kind), c.firstPath, orRun(c.first.Kind)))
		}
	}
	for _, sc := range run.Scenarios {
		if sc.Error != "" {
			c.Errors = append(c.Errors, fmt.Sprintf("%s %s: scenario %s errored: %s", name, p, sc.Name, firstLine(sc.Error)))
		}
	}
	c.runs[s] = append(c.runs[s], run)
	side.Reports = append(side.Reports, p)
	side.Seeds = append(side.Seeds, run.Seed)
	if !slices.Contains(side.Targets, run.Target) {
		side.Targets = append(side.Targets, run.Target)
	}
	return errors.Join(errs...)
}

func (c *comparison) header() string {
	side := func(s compareSide) string {
		seeds := make([]string, len(s.Seeds))
		for i, v := range s.Seeds {
			seeds[i] = strconv.FormatInt(v, 10)
		}
		return fmt.Sprintf("%d runs of %s (seeds %s)", len(s.Reports), strings.Join(s.Targets, "; "), strings.Join(seeds, ","))
	}
	h := "base " + side(c.Base) + "; head " + side(c.Head)
	if c.Settings != "" {
		h += "; settings " + c.Settings
	}
	return h
}

func (c *comparison) summary() string {
	var parts []string
	for _, v := range compare.Verdicts() {
		if n := c.Counts[string(v)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	return fmt.Sprintf("%s: %d checks: %s", strings.ToUpper(c.Verdict), len(c.Checks), strings.Join(parts, ", "))
}

// compareCells are one outcome's table cells.
func compareCells(o compare.Outcome, alpha float64) (base, head, delta, p, holm, fails string) {
	dash := "-"
	base, head, delta, p, holm = dash, dash, dash, dash, dash
	if o.Base.Runs > 0 {
		base = result.FormatValue(o.Base.Median, o.Unit)
	}
	if o.Head.Runs > 0 {
		head = result.FormatValue(o.Head.Median, o.Unit)
	}
	if o.Shift != nil {
		delta = shiftCell(*o.Shift, o.Unit)
	}
	if o.Rank != nil {
		p = fmt.Sprintf("%.2g", o.Rank.P)
		holm = "n/a"
		if o.Rank.MinP <= alpha || o.PAdjusted < 1 {
			holm = fmt.Sprintf("%.2g", o.PAdjusted)
		}
	}
	fails = fmt.Sprintf("%d/%d → %d/%d", o.Base.Fail, o.Base.Runs, o.Head.Fail, o.Head.Runs)
	return base, head, delta, p, holm, fails
}

// outcomeID names a compared check by its declared id (`gitchaos checks`
// lists them), or by its scenario in a report written before checks had
// ids.
func outcomeID(o compare.Outcome) string {
	if o.ID != "" {
		return o.ID
	}
	return o.Scenario
}

func writeCompareTable(w io.Writer, c *comparison) {
	fmt.Fprintln(w, "gitchaos compare: "+c.header())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHECK\tBASE\tHEAD\tDELTA (95% CI)\tP\tHOLM\tFAILS\tVERDICT")
	var why []string
	for _, o := range c.Checks {
		b, h, d, p, holm, f := compareCells(o, c.Alpha)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", outcomeID(o), o.Check, b, h, d, p, holm, f, o.String())
		if o.Verdict != compare.Same {
			why = append(why, fmt.Sprintf("  %s %s (%s): %s", strings.ToUpper(string(o.Verdict)), outcomeID(o), o.Check, o.Reason))
		}
	}
	tw.Flush()
	if len(why) > 0 {
		fmt.Fprintln(w, "\ndetails:")
		for _, l := range why {
			fmt.Fprintln(w, l)
		}
	}
	for _, only := range []struct {
		side string
		keys []string
	}{{"base", c.OnlyBase}, {"head", c.OnlyHead}} {
		if len(only.keys) > 0 {
			fmt.Fprintf(w, "\nonly on %s (not compared): %s\n", only.side, strings.Join(only.keys, ", "))
		}
	}
	if len(c.Errors) > 0 {
		fmt.Fprintf(w, "\nerrors in the runs (their checks may be incomplete there):\n  %s\n", strings.Join(c.Errors, "\n  "))
	}
	fmt.Fprintf(w, "\nnote: %s\n%s\n", c.Design, c.summary())
}

func writeCompareMarkdown(w io.Writer, c *comparison) {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintf(w, "### gitchaos compare: %s\n\n%s\n\n", esc(c.summary()), esc(c.header()))
	row := func(o compare.Outcome) {
		b, h, d, p, holm, f := compareCells(o, c.Alpha)
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %s | %s | %s | **%s** |\n", esc(outcomeID(o)), esc(o.Check), esc(b), esc(h), esc(d), p, holm, f, o.String())
	}
	head := "| id | check | base | head | Δ (95% CI) | p | Holm | fails | verdict |\n|---|---|---|---|---|---|---|---|---|\n"
	first := map[compare.Verdict]bool{compare.Broken: true, compare.Worse: true, compare.Fixed: true, compare.Better: true}
	var top, rest []compare.Outcome
	for _, v := range compare.Verdicts() {
		for _, o := range c.Checks {
			if o.Verdict != v {
				continue
			}
			if first[v] {
				top = append(top, o)
			} else {
				rest = append(rest, o)
			}
		}
	}
	if len(top) == 0 {
		fmt.Fprintln(w, "No check broken, worse, fixed or better.")
	} else {
		fmt.Fprint(w, head)
		for _, o := range top {
			row(o)
		}
		fmt.Fprintln(w)
		for _, o := range top {
			fmt.Fprintf(w, "- **%s** %s / %s: %s\n", o.Verdict, esc(o.Scenario), esc(o.Check), esc(o.Reason))
		}
	}
	if len(rest) > 0 {
		var parts []string
		for _, v := range compare.Verdicts() {
			if !first[v] && c.Counts[string(v)] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", c.Counts[string(v)], v))
			}
		}
		fmt.Fprintf(w, "\n<details><summary>%d other checks: %s</summary>\n\n%s", len(rest), strings.Join(parts, ", "), head)
		for _, o := range rest {
			row(o)
		}
		fmt.Fprintln(w, "\n</details>")
	}
	for _, only := range []struct {
		side string
		keys []string
	}{{"base", c.OnlyBase}, {"head", c.OnlyHead}} {
		if len(only.keys) > 0 {
			fmt.Fprintf(w, "\nOnly on %s (not compared): %s\n", only.side, esc(strings.Join(only.keys, ", ")))
		}
	}
	if len(c.Errors) > 0 {
		fmt.Fprintf(w, "\nErrors in the runs (their checks may be incomplete there):\n\n")
		for _, e := range c.Errors {
			fmt.Fprintf(w, "- %s\n", esc(e))
		}
	}
	fmt.Fprintf(w, "\n_Compared from %s._\n", c.Design)
}

// shiftCell renders a shift with its interval, the unit written once when
// all three numbers share it: "+8 fds/cycle (+8..+8)",
// "+580.6 KiB/cycle (+578.4..+582.6)"; an interval short of 95% (too few
// runs) says its coverage: "+25.1 KiB/cycle (-26.7..+43.5, 80%)".
func shiftCell(s compare.Shift, unit string) string {
	est, lo, hi := result.FormatSigned(s.Estimate, unit), result.FormatSigned(s.Low, unit), result.FormatSigned(s.High, unit)
	if i := strings.LastIndexByte(est, ' '); i > 0 {
		suffix := est[i:]
		if strings.HasSuffix(lo, suffix) && strings.HasSuffix(hi, suffix) {
			lo, hi = strings.TrimSuffix(lo, suffix), strings.TrimSuffix(hi, suffix)
		}
	}
	if s.Confidence < 0.95 {
		return fmt.Sprintf("%s (%s..%s, %.0f%%)", est, lo, hi, s.Confidence*100)
	}
	return fmt.Sprintf("%s (%s..%s)", est, lo, hi)
}
